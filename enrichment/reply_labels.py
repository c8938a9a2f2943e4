"""Weak category labels from official replies (distant supervision, issue 13 part 3).

A message board's official reply (答复意见) usually names the department that handled the
message ("市教育局", "我局 ... 县人社局", "交通运输局 2019年5月10日"), and the department
suggests the category. The message itself is real raw text (title and body as written, the form
the classifier meets in production), unlike the segmented, stop-word-stripped training file:
that, more than the label, is what it adds. The labels are noisy: on the 96 reply-labelled
messages that repeat a message of the training file, the reply's category agrees with the
contest annotators' for 83% (traffic-bureau replies about bus lines, which the annotators file
under 城乡建设, are the main disagreement), hence a low weight and no say in calibration.
`DEPARTMENTS` is the reviewable table: a regular expression for a department's name and the
category its messages carry.

Contract: `reply_label(reply) -> str | None` (a category, or None when the reply names no
department of the table, or names departments of different categories without a clear
winner); `weak_examples(path) -> WeakSet` reads a with-replies CSV (columns 留言主题, 留言详情,
答复意见) and returns the labelled messages as (title + "\\n" + body, label);
`reply_extra(path, base_labels, exclude)` makes them training extra for
`TextClassifier.train(..., extra=...)`: reposts of the `exclude` texts dropped
(`drop_near_duplicates`), weights class-balanced against the base rows (`balanced_weights`, x
`WEIGHT`). Nothing here reads a labelled evaluation file: the caller passes the evaluation
texts (never their labels) so that a repost of an evaluation message is never trained on.

Table choices (from how the training file's labels split messages that name the department):
departments whose messages the contest's annotators split across categories are left out rather
than guessed: 交警 (traffic police: the contest files their messages under several labels), 公积金
(城乡建设 76 / 劳动和社会保障 44 in the training file), 食品药品 (商贸旅游 vs 卫生计生), 文旅
(culture vs tourism), 物业 and plain 政府/街道 (they answer everything). Departments outside
the seven categories (公安 other than traffic, 民政, 国土, 农业, 林业, 水利, 纪委, ...) label
nothing: such messages are not of the seven classes and the model must not learn them as one.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer

from enrichment.dataset import read_table
from enrichment.model import Extra
from enrichment.raw_adapt import classifier_text

# (department name pattern, category). Patterns match inside the reply text with all
# whitespace removed; each distinct match counts once per reply.
DEPARTMENTS: tuple[tuple[str, str], ...] = (
    # 教育文体: education, culture, sport
    (r"教育局|教育厅|教育部门|教育行政部门|教育体育局|教体局|招生考试|考试院|教育科", "教育文体"),
    (r"文体局|文化体育|体育局|文化局|文广新局|文化广电|新闻出版|文物局|文教卫局", "教育文体"),
    # 劳动和社会保障: labour, employment, social insurance
    (r"人社局|人力资源和社会保障|人力资源社会保障|劳动保障|劳动监察|劳动仲裁|劳动人事争议", "劳动和社会保障"),
    (r"社保局|社保中心|社会保险|社保处|医保局|医保中心|医疗保障局|医疗保险|就业服务|就业局", "劳动和社会保障"),
    (r"养老保险|机关事务管理局", "劳动和社会保障"),
    # 城乡建设: housing, planning, urban management, utilities
    (r"住建局|住房和城乡建设|城乡建设局|建设局|建委|住房保障|房产局|房管局|房产管理局|房地产管理", "城乡建设"),
    (r"规划局|城乡规划|规划分局|自然资源和规划|城管局|城市管理|城管执法|行政执法局|城管办", "城乡建设"),
    (r"不动产登记|房屋征收|征收办|征拆|重点工程|重点建设|市政|自来水公司|供水公司|燃气公司", "城乡建设"),
    # 环境保护
    (r"环保局|环境保护局|生态环境局|环境保护部门|环保部门|环境监察|环境监测|生态环境部门|环保分局", "环境保护"),
    # 卫生计生
    (r"卫健委|卫生健康|卫生和计划生育|卫计委|卫计局|卫生局|计生局|计生委|人口和计划生育", "卫生计生"),
    (r"疾控中心|疾病预防控制|卫生监督|卫生院|新型农村合作医疗|新农合", "卫生计生"),
    # 交通运输: transport administration, roads, taxis, post
    (r"交通运输局|交通局|交通运输厅|交通运输部门|运管处|运输管理|道路运输|公路局|公路管理|出租车", "交通运输"),
    (r"邮政管理局|邮政局|客运|港航", "交通运输"),
    # 商贸旅游: commerce, market regulation, tourism
    (r"商务局|商务厅|商务部门|市场监督管理|市场监管|工商局|工商分局|工商部门|质监局|质量技术监督", "商贸旅游"),
    (r"物价局|价格监督|价格主管|旅游局|旅游部门|旅游委|粮食局|盐务|烟草", "商贸旅游"),
)
# Departments of categories outside the seven: a reply naming one of these labels nothing.
FOREIGN = (r"公安局(?!交)|公安分局|派出所|民政局|民政部门|国土资源|国土局|农业局|农委|林业局|水利局"
           r"|水务局|纪委|监察委|法院|检察院|信访局|扶贫办|供电公司|电力局")

_COMPILED = tuple((re.compile(p), label) for p, label in DEPARTMENTS)
_FOREIGN = re.compile(FOREIGN)
_SPACE = re.compile(r"\s+")
# A category must hold at least this share of the reply's department mentions to win.
DOMINANCE = 2 / 3


def department_votes(reply: str) -> Counter:
    """Category -> number of distinct department names of that category in the reply."""
    text = _SPACE.sub("", reply or "")
    votes: Counter = Counter()
    for pattern, label in _COMPILED:
        votes[label] += len(set(pattern.findall(text)))
    return +votes


def reply_label(reply: str) -> str | None:
    """The category a reply's departments name, or None (see module docstring)."""
    text = _SPACE.sub("", reply or "")
    if _FOREIGN.search(text):
        return None
    votes = department_votes(text)
    if not votes:
        return None
    (label, top), total = votes.most_common(1)[0], sum(votes.values())
    return label if top / total >= DOMINANCE else None


@dataclass(frozen=True)
class WeakSet:
    texts: list[str]
    labels: list[str]
    unlabelled: list[str] = field(default_factory=list)  # messages whose reply named no category
    counts: Counter = field(default_factory=Counter)


REPLY_COLUMNS = ["留言主题", "留言详情"]


def weak_examples(path: Path | str) -> WeakSet:
    """Messages of a with-replies CSV labelled by their reply (title + newline + body)."""
    messages = read_table(path, REPLY_COLUMNS).rows
    replies = read_table(path, ["答复意见"]).rows
    texts, labels, rest = [], [], []
    for msg, rep in zip(messages, replies):
        if msg.problem is not None:
            continue
        label = reply_label(rep.text) if rep.problem is None else None
        if label is None:
            rest.append(msg.text)
        else:
            texts.append(msg.text)
            labels.append(label)
    return WeakSet(texts, labels, rest, Counter(labels))


# Weight of a reply-labelled example relative to a base row, before class balancing. Chosen
# on held-out checks that do not read the dev labels (benchmarks/classifier_raw.py --validate):
# 0.2 keeps the training file's cross-validated accuracy within 0.002 of none; 0.5 and 1.0 cost
# more there while the raw-text checks did not improve further.
WEIGHT = 0.2
# Two messages whose char 3-gram TF-IDF cosine reaches this are the same complaint posted again.
NEAR_DUPLICATE = 0.6


def balanced_weights(labels: Sequence[str], base_labels: Sequence[str],
                     weight: float = WEIGHT) -> list[float]:
    """`weight` x (share of the label among the base rows / its share among `labels`): the
    reply-labelled messages are ~40% 城乡建设 (departments answer unevenly), and must not move
    the model's class prior away from the base rows'."""
    base, mine = Counter(base_labels), Counter(labels)
    nb, nm = max(1, sum(base.values())), max(1, len(labels))
    return [weight * (base[l] / nb) / (mine[l] / nm) if base[l] else weight for l in labels]


def drop_near_duplicates(texts: Sequence[str], labels: Sequence[str],
                         exclude: Sequence[str]) -> tuple[list[str], list[str]]:
    """(texts, labels) without the texts that repeat an excluded one (char 3-gram TF-IDF cosine
    >= NEAR_DUPLICATE): the same complaint is often posted several times, and a repost of an
    evaluation message must not be trained on."""
    if not texts or not exclude:
        return list(texts), list(labels)
    mine, theirs = [classifier_text(t) for t in texts], [classifier_text(t) for t in exclude]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(3, 3)).fit(mine + theirs)
    similarity = (vec.transform(mine) @ vec.transform(theirs).T).max(axis=1).toarray().ravel()
    kept = [(t, l) for t, l, s in zip(texts, labels, similarity) if s < NEAR_DUPLICATE]
    return [t for t, _ in kept], [l for _, l in kept]


def reply_extra(path: Path | str, base_labels: Sequence[str], exclude: Sequence[str] = (),
                weight: float = WEIGHT):
    """The reply-labelled messages of `path` as training extra (`enrichment.model.Extra`),
    without reposts of `exclude` (the evaluation texts), class-balanced against `base_labels`;
    and the WeakSet they came from."""
    weak = weak_examples(path)
    texts, labels = drop_near_duplicates(weak.texts, weak.labels, exclude)
    return Extra(texts, labels, balanced_weights(labels, base_labels, weight)), weak
