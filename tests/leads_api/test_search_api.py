"""The desk's search endpoints over the embedded index: words, filters, paging, highlights, the
caller's districts, and clear errors for bad requests."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts
from core.search.embedded import EmbeddedSearch
from leads_api.app import create_app
from tests.conftest import T0, make_post

POSTS = [("1", "南山区龙珠花园门口路灯坏了，晚上很黑", "南山区"),
         ("2", "福田区景田北路灯坏了好几天", "福田区"),
         ("3", "南山区桃源村噪音扰民，半夜施工", "南山区")]


@pytest.fixture
def app_and_tokens(sqlite_store, config, monkeypatch):
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    items = []
    for n, text, district in POSTS:
        post = make_post(n, text, at=T0 + timedelta(minutes=int(n)))
        sqlite_store.posts.upsert([post])
        items.append((post, Enrichment(post.id, text, True, 0.9, "城乡建设", district, None, text_hash=n)))
    sqlite_store.posts.save_enrichments(items)
    lead = Lead(id="L00000000000a", status=LeadStatus.NEW, title="龙珠花园路灯坏了", category="城乡建设",
                district="南山区", street=None, unit=None, urgent=False, priority=0.5,
                priority_parts=PriorityParts(volume=0.5), post_count=1, platform_count=1, first_seen=T0, last_seen=T0)
    sqlite_store.leads.create(lead, [("weibo:1", 1.0)], LeadEvent(lead.id, "created", "clusterer", T0, {}))
    index = EmbeddedSearch(sqlite_store)
    index.index_posts(sqlite_store.posts.enriched([p.id for p, _ in items]))
    index.index_leads([lead])
    index.refresh()
    sqlite_store.users.add("admin1", "admin", password="admin-password-1")
    sqlite_store.users.add("futian", "analyst", password="analyst-password-1", districts=("福田区",))
    tokens = {u: sqlite_store.users.add_token(u, "tests") for u in ("admin1", "futian")}
    return create_app(sqlite_store, config), tokens


def client(app_and_tokens, user="admin1") -> TestClient:
    app, tokens = app_and_tokens
    return TestClient(app, headers={"Authorization": f"Bearer {tokens[user]}"})


def test_words_filters_and_highlights(app_and_tokens):
    c = client(app_and_tokens)
    body = c.get("/search/posts", params={"q": "路灯 坏了"}).json()
    assert body["total"] == 2 and [h["post_id"] for h in body["items"]] == ["weibo:2", "weibo:1"]  # newest first
    assert any("<em>" in f for h in body["items"] for f in h["highlights"])
    body = c.get("/search/posts", params={"q": "路灯", "district": "南山区"}).json()
    assert [h["post_id"] for h in body["items"]] == ["weibo:1"]


def test_paging_with_after(app_and_tokens):
    c = client(app_and_tokens)
    first = c.get("/search/posts", params={"q": "区", "size": 2}).json()
    assert len(first["items"]) == 2 and first["next_after"]
    second = c.get("/search/posts", params={"q": "区", "size": 2, "after": first["next_after"]}).json()
    assert [h["post_id"] for h in second["items"]] == ["weibo:1"] and second["next_after"] is None


def test_an_analyst_finds_only_posts_and_leads_of_their_districts(app_and_tokens):
    c = client(app_and_tokens, "futian")
    assert [h["post_id"] for h in c.get("/search/posts", params={"q": "路灯"}).json()["items"]] == ["weibo:2"]
    assert c.get("/search/posts", params={"q": "路灯", "district": "南山区"}).json()["total"] == 0
    assert c.get("/search/leads", params={"q": "路灯"}).json() == []
    assert [h["lead_id"] for h in client(app_and_tokens).get("/search/leads", params={"q": "路灯"}).json()] \
        == ["L00000000000a"]


@pytest.mark.parametrize("params, fragment", [
    ({"q": ""}, "empty query"),
    ({"q": "路灯", "after": "not-a-cursor"}, "cursor"),
    ({"q": "x" * 201}, "200"),
    ({"q": "路灯", "size": 0}, "size"),
    ({"q": "路灯", "since": "2026-11-20T00:00:00"}, "timezone"),
])
def test_bad_requests_get_a_clear_422(app_and_tokens, params, fragment):
    r = client(app_and_tokens).get("/search/posts", params=params)
    assert r.status_code == 422
    assert fragment in r.text


def test_search_needs_a_caller(app_and_tokens):
    app, _ = app_and_tokens
    assert TestClient(app).get("/search/posts", params={"q": "路灯"}).status_code == 401


def test_hostile_text_matches_nothing_and_does_not_fail(app_and_tokens):
    r = client(app_and_tokens).get("/search/posts", params={"q": "\" * OR NEAR( ' ; --"})
    assert r.status_code == 200 and r.json()["total"] == 0


def test_trends_count_relevant_posts_per_day_district_and_category(app_and_tokens):
    params = {"since": (T0 - timedelta(days=1)).isoformat(), "until": (T0 + timedelta(days=1)).isoformat()}
    body = client(app_and_tokens).get("/search/trends", params=params).json()
    assert {(b["district"], b["count"]) for b in body} == {("南山区", 2), ("福田区", 1)}
    assert [b["district"] for b in client(app_and_tokens, "futian").get("/search/trends", params=params).json()] \
        == ["福田区"]
    too_long = {"since": params["since"], "until": (T0 + timedelta(days=100)).isoformat()}
    assert client(app_and_tokens).get("/search/trends", params=too_long).status_code == 422
    backwards = {"since": params["until"], "until": params["since"]}
    assert client(app_and_tokens).get("/search/trends", params=backwards).status_code == 422


def test_unreachable_elasticsearch_is_503_not_a_crash(app_and_tokens, monkeypatch):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{port}")
    c = client(app_and_tokens)
    r = c.get("/search/posts", params={"q": "路灯"})
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "search_unavailable" and "cannot be reached" in r.json()["error"]


def test_leads_near_a_point_nearest_first_within_scope(app_and_tokens):
    app, _ = app_and_tokens
    store = app.state.store
    futian = Lead(id="L00000000000b", status=LeadStatus.NEW, title="景田北路灯坏了", category="城乡建设",
                  district="福田区", street=None, unit=None, urgent=False, priority=0.4,
                  priority_parts=PriorityParts(volume=0.4), post_count=1, platform_count=1, first_seen=T0, last_seen=T0)
    store.leads.create(futian, [("weibo:2", 1.0)], LeadEvent(futian.id, "created", "clusterer", T0, {}))
    nanshan = store.leads.get("L00000000000a")
    index = EmbeddedSearch(store)
    index.index_leads([nanshan, futian], points={nanshan.id: (22.5400, 113.9500), futian.id: (22.5420, 113.9510)})
    index.refresh()
    body = client(app_and_tokens).get("/search/leads/near", params={"lat": 22.5401, "lon": 113.9500, "meters": 1000}).json()
    assert [h["lead_id"] for h in body] == ["L00000000000a", "L00000000000b"]  # nearest first
    assert body[0]["distance_m"] < 20 < body[1]["distance_m"] < 1000
    # 福田's analyst sees 福田's lead only, however near the other
    body = client(app_and_tokens, "futian").get("/search/leads/near", params={"lat": 22.5401, "lon": 113.95}).json()
    assert [h["lead_id"] for h in body] == ["L00000000000b"]
    small = client(app_and_tokens).get("/search/leads/near", params={"lat": 22.5401, "lon": 113.95, "meters": 15})
    assert [h["lead_id"] for h in small.json()] == ["L00000000000a"]  # 11 m away; the other ~230 m


@pytest.mark.parametrize("params", [{"lat": 91, "lon": 113.9}, {"lat": 22.5, "lon": 181}, {"lat": 22.5},
                                    {"lat": 22.5, "lon": 113.9, "meters": 0}, {"lat": 22.5, "lon": 113.9, "meters": 1e9},
                                    {"lat": "abc", "lon": 113.9}, {"lat": 22.5, "lon": 113.9, "size": 0}])
def test_leads_near_refuses_bad_points(app_and_tokens, params):
    r = client(app_and_tokens).get("/search/leads/near", params=params)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
