"""Search on real citizen messages (../shared/data, the teddy2020 file; skipped without it), on
both backends: what each finds for Chinese words and phrases is exactly what a plain substring
scan of the same texts finds, no more and no less, paged to the end. The contract tests use
short, made-up posts; these use 600 long, messy real ones (full-width punctuation, digits,
line breaks, addresses)."""
from __future__ import annotations

import csv
from datetime import timedelta

import pytest

from core.models import EnrichedPost, Enrichment
from core.search import PostQuery
from core.settings import REPO_ROOT
from tests.conftest import T0, make_post

DATA = REPO_ROOT.parent / "shared" / "data" / "teddy2020_messages_with_votes.csv"
MESSAGES = 600
QUERIES = ["噪音 扰民", "停车", "小区 物业", "拆迁 补偿", "学校", "公交", "垃圾", "违建", "路灯",
           "业主 开发商 车位", '"噪音扰民"', "搅拌站", "A市 学生", "住房公积金", "供水", "油烟"]


@pytest.fixture(scope="module")
def messages() -> list[tuple[str, str, str]]:
    if not DATA.is_file():
        pytest.skip(f"{DATA} is not here")
    with DATA.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:MESSAGES]
    return [(r["留言编号"], r["留言主题"], r["留言详情"]) for r in rows]


def _scan(messages, query: str) -> set[str]:
    terms = [t.strip('"').replace(" ", "") for t in ([query] if query.startswith('"') else query.split())]
    return {f"teddy:{mid}" for mid, title, text in messages
            if all(term in title or term in text for term in terms)}


def _found(index, query: str) -> tuple[set[str], int]:
    found, after, total = [], None, None
    while True:
        page = index.search_posts(PostQuery(query, size=100, after=after))
        total = page.total if total is None else total
        found += [h.post_id for h in page.hits]
        if page.next_after is None:
            return set(found), total
        after = page.next_after
        assert len(found) <= MESSAGES, "paging does not end"


def test_real_messages_match_a_substring_scan(search_backend, messages):
    items = []
    for n, (mid, title, text) in enumerate(messages):
        post = make_post(mid, text, platform="teddy", title=title, at=T0 - timedelta(minutes=n))
        items.append(EnrichedPost(post, Enrichment(post.id, text, True, 0.9, None, None, None)))
    assert search_backend.index_posts(items) == len(items)
    search_backend.refresh()
    nonempty = 0
    for query in QUERIES:
        expected = _scan(messages, query)
        found, total = _found(search_backend, query)
        assert found == expected, (query, sorted(found - expected)[:5], sorted(expected - found)[:5])
        assert total == len(expected), query
        nonempty += bool(expected)
    assert nonempty >= 12  # the queries are about what these messages say
