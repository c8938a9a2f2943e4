"""The category classifier trained on tokenized text reads raw messages (issue 13, part 3): the
same preparation at train and predict time, calibrated confidence in [0, 1], low confidence
flagged. The real-data test uses a small slice of ../shared/data and skips without it."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from enrichment import raw_adapt
from enrichment.dataset import read_table
from enrichment.model import Prediction, TextClassifier
from tests.conftest import SHARED_DATA

TRAIN_FILE = SHARED_DATA / "teddy2020_messages_train_tokenized.csv"
DEV_FILE = SHARED_DATA / "teddy2020_messages_dev_raw_labeled.csv"

TOY = [
    ("马路 上 有 个 大坑 路面 破损", "交通运输"), ("路口 红绿灯 坏 了", "交通运输"),
    ("公交站 候车亭 破 了", "交通运输"), ("车辆 乱停 占道 停车", "交通运输"),
    ("工地 夜间 施工 噪音 扰民", "环境保护"), ("工厂 偷排 污水 河道 发臭", "环境保护"),
    ("油烟 直排 刺鼻 异味", "环境保护"), ("扬尘 粉尘 污染 空气", "环境保护"),
    ("孩子 学位 入学 划片", "教育文体"), ("学校 乱收费 补课", "教育文体"),
    ("老师 体罚 学生", "教育文体"), ("幼儿园 学费 涨价", "教育文体"),
]


def test_segmented_and_raw_text_prepare_alike():
    segmented = "A1 区 蔡锷 南路 路面 破损 严重"
    raw = "\tA1区蔡锷南路的路面破损严重了！\n请尽快修复。"
    assert raw_adapt.classifier_text(segmented) == "a1区蔡锷南路路面破损严重"
    assert raw_adapt.classifier_text(raw).startswith("a1区蔡锷南路路面破损严重")
    assert "的" not in raw_adapt.classifier_text(raw) and "，" not in raw_adapt.classifier_text(raw)


def test_the_model_prepares_the_same_at_train_and_predict():
    model = TextClassifier.train([t for t, _ in TOY] * 3, [lab for _, lab in TOY] * 3)
    assert model.meta["preprocess"] == raw_adapt.VERSION
    assert model.prepare("路口 红绿灯 坏 了") == model.prepare("路口的红绿灯坏了！")
    # Segmented and raw forms of one message get the same answer and the same confidence.
    assert model.predict(["路口 红绿灯 坏 了"]) == model.predict(["路口的红绿灯坏了！"])


def test_confidence_is_a_probability_and_low_confidence_is_flagged(tmp_path):
    model = TextClassifier.train([t for t, _ in TOY] * 3, [lab for _, lab in TOY] * 3,
                                 low_confidence=0.9)
    assert 0.0 < model.temperature
    probs = model.predict_proba(["工地 噪音", "今天天气不错"])
    assert probs.shape == (2, 3) and ((probs >= 0) & (probs <= 1)).all()
    assert abs(probs.sum(axis=1) - 1).max() < 1e-6
    sure, unsure = model.predict_detailed(["工地 夜间 施工 噪音 扰民 扬尘 污染", "今天天气不错"])
    assert isinstance(sure, Prediction) and 0.0 <= unsure.confidence <= 1.0
    assert unsure.confidence < sure.confidence
    assert unsure.low_confidence and model.is_low_confidence(unsure.confidence)
    assert sure.label == "环境保护"
    # The threshold travels with the model.
    loaded = TextClassifier.load(model.save(tmp_path / "m"))
    assert loaded.low_confidence == 0.9
    assert loaded.predict_detailed(["今天天气不错"])[0].low_confidence


@pytest.mark.skipif(not (TRAIN_FILE.exists() and DEV_FILE.exists()),
                    reason=f"real contest data not found under {SHARED_DATA} (see its README.md)")
def test_trained_on_tokenized_text_it_classifies_raw_messages():
    train = read_table(TRAIN_FILE, ["text_tokens"], "label").usable
    dev = read_table(DEV_FILE, ["留言主题", "留言详情"], "label").usable
    rng = random.Random(0)
    by_label: dict[str, list] = {}
    for row in train:
        by_label.setdefault(row.label, []).append(row)
    sample = [r for rows in by_label.values() for r in rng.sample(rows, min(150, len(rows)))]
    dev_slice = rng.sample(dev, 120)
    model = TextClassifier.train([r.text for r in sample], [r.label for r in sample])
    predictions = model.predict_detailed([r.text for r in dev_slice])
    gold = [r.label for r in dev_slice]
    accuracy = sum(p.label == g for p, g in zip(predictions, gold)) / len(gold)
    # The fixed, easy baseline: always the slice's most frequent label.
    majority = Counter(gold).most_common(1)[0][1] / len(gold)
    assert accuracy >= max(0.75, majority + 0.4), (accuracy, majority)
    assert all(0.0 <= p.confidence <= 1.0 for p in predictions)
    # Confidence means something: the flagged predictions are wrong more often.
    flagged = [p.label == g for p, g in zip(predictions, gold) if p.low_confidence]
    kept = [p.label == g for p, g in zip(predictions, gold) if not p.low_confidence]
    if flagged and kept:
        assert sum(flagged) / len(flagged) < sum(kept) / len(kept)


def test_radar_train_classifier_stores_the_low_confidence_threshold(tmp_path):
    import csv

    from typer.testing import CliRunner

    from pipeline.cli import app
    data = tmp_path / "train.csv"
    with data.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(TOY * 3)
    result = CliRunner().invoke(app, ["train", "classifier", "--input", str(data), "--text-column",
                                      "text", "--label-column", "label", "--output",
                                      str(tmp_path / "m"), "--low-confidence", "0.95"])
    assert result.exit_code == 0, result.output
    model = TextClassifier.load(tmp_path / "m")
    assert model.low_confidence == 0.95 and model.meta["preprocess"] == raw_adapt.VERSION
