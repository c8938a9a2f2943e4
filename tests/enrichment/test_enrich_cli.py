"""`radar train classifier`, `radar classify`, `radar enrich`: outputs, and bad input that is
skipped and counted or refused with a clear message."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enrichment.model import TextClassifier
from pipeline.cli import app
from tests.conftest import SHARED_DATA

runner = CliRunner()

# Segmented (spaces between words) like the contest's training file.
TRAIN = [
    ("马路 上 有 个 大坑 路面 破损", "交通运输"), ("路口 红绿灯 坏 了", "交通运输"),
    ("公交站 候车亭 破 了", "交通运输"), ("车辆 乱停 占道 停车", "交通运输"),
    ("工地 夜间 施工 噪音 扰民", "生态环境"), ("工厂 偷排 污水 河道 发臭", "生态环境"),
    ("油烟 直排 刺鼻 异味", "生态环境"), ("扬尘 粉尘 污染 空气", "生态环境"),
    ("孩子 学位 入学 划片", "教育"), ("学校 乱收费 补课", "教育"),
    ("老师 体罚 学生", "教育"), ("幼儿园 学费 涨价", "教育"),
]


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("model")
    data = _write_csv(tmp / "train.csv", ["text", "label"], TRAIN * 3)
    out = tmp / "model"
    result = runner.invoke(app, ["train", "classifier", "--input", str(data), "--text-column", "text",
                                 "--label-column", "label", "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_a_loadable_model(model_dir):
    model = TextClassifier.load(model_dir)
    assert model.labels == ["交通运输", "教育", "生态环境"]
    assert json.loads((model_dir / "meta.json").read_text(encoding="utf-8"))["rows"] == len(TRAIN) * 3


def test_classify_one_line_per_row_in_order_raw_and_segmented(model_dir, tmp_path):
    rows = [("路口的红绿灯坏了", ""), ("", ""), ("工地夜间施工噪音", "扰民"), ("孩子 入学 学位", "")]
    data = _write_csv(tmp_path / "in.csv", ["title", "body"], rows)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", "--model", str(model_dir), "--input", str(data),
                                 "--text-columns", "title,body", "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["row"] for x in lines] == [0, 1, 2, 3]
    assert [x["label"] for x in lines] == ["交通运输", None, "生态环境", "教育"]
    assert lines[1]["skipped"] == "empty" and lines[1]["confidence"] == 0.0
    assert all(0 < x["confidence"] <= 1 for x in lines if x["label"])


def test_classify_skips_invalid_utf8_and_huge_cells(model_dir, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_bytes("text\n路口红绿灯坏了\n".encode() + b"\xff\xfe broken\n"
                     + ("噪音" * 500_000 + "\n").encode() + "学校乱收费\n".encode())
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", "--model", str(model_dir), "--input", str(data),
                                 "--text-columns", "text", "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4
    assert lines[1]["skipped"] == "invalid_utf8"
    assert lines[2]["label"] == "生态环境"  # a 1 MB cell is read, truncated, classified
    assert "invalid_utf8 1" in result.output


@pytest.mark.parametrize("content, columns, message", [
    (b"", "text", "empty file"),
    ("title\n路面坏了\n".encode(), "text", "missing column(s) text; the file has title"),
])
def test_classify_refuses_unusable_files(model_dir, tmp_path, content, columns, message):
    data = tmp_path / "in.csv"
    data.write_bytes(content)
    result = runner.invoke(app, ["classify", "--model", str(model_dir), "--input", str(data),
                                 "--text-columns", columns, "--output", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and message in result.output


def test_classify_refuses_a_directory_that_is_not_a_model(tmp_path):
    data = _write_csv(tmp_path / "in.csv", ["text"], [("x",)])
    result = runner.invoke(app, ["classify", "--model", str(tmp_path), "--input", str(data),
                                 "--text-columns", "text", "--output", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "not a trained model" in result.output


def test_train_refuses_one_label_and_missing_label_column(tmp_path):
    data = _write_csv(tmp_path / "one.csv", ["text", "label"], [("a 坑", "x"), ("b 坑", "x")])
    args = ["train", "classifier", "--input", str(data), "--text-column", "text", "--output", str(tmp_path / "m")]
    result = runner.invoke(app, [*args, "--label-column", "label"])
    assert result.exit_code == 1 and "at least two labels" in result.output
    result = runner.invoke(app, [*args, "--label-column", "类别"])
    assert result.exit_code == 1 and "missing column(s) 类别" in result.output


def test_enrich_prints_the_whole_judgement():
    result = runner.invoke(app, ["enrich", "--text", "宝安区西乡街道的小区停水两天了，希望有关部门尽快处理"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) >= {"relevance", "category", "urgency", "location", "unit", "deadlines", "reasons"}
    assert out["relevance"]["relevant"] and out["category"]["name"] == "水务"
    assert out["urgency"]["urgent"] and out["location"]["district"] == "宝安区"
    assert out["location"]["street"] == "西乡街道" and out["unit"]["name"]
    assert out["deadlines"]["dispatch_minutes"] == 30


@pytest.mark.parametrize("text", ["", "\ud800\x00", "x" * 1_000_000, "Lorem ipsum 路面 dolor"])
def test_enrich_never_fails_on_odd_text(text):
    result = runner.invoke(app, ["enrich", "--text", text])
    assert result.exit_code == 0, result.output
    assert "relevance" in json.loads(result.stdout)


@pytest.mark.slow
def test_segmented_training_generalises_to_raw_messages(tmp_path):
    """Trained on the contest's segmented messages, a model still spreads raw messages over the
    labels (a model that only learned spaces would put them all in one class). These raw files
    lean to 城乡建设 (about 60 % predicted against 22 % in training, measured), hence the bound."""
    train = SHARED_DATA / "teddy2020_messages_train_tokenized.csv"
    raw = SHARED_DATA / "teddy2020_messages_with_replies.csv"
    if not train.exists() or not raw.exists():
        pytest.skip(f"shared data not found in {SHARED_DATA} (see its README)")
    from enrichment.dataset import read_table
    rows = read_table(train, ["text_tokens"], "label").usable[::3]
    model = TextClassifier.train([r.text for r in rows], [r.label for r in rows])
    raw_rows = read_table(raw, ["留言主题", "留言详情"]).usable[:600]
    labels = [label for label, _ in model.predict([r.text for r in raw_rows])]
    shares = sorted((labels.count(x) / len(labels) for x in set(labels)), reverse=True)
    assert len(shares) == 7 and shares[0] < 0.75 and shares[1] > 0.05
