"""The leads API over a real SQLite store."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts
from leads_api.app import create_app
from tests.conftest import T0, make_post


def _lead(i: int, priority: float, district: str, category: str, status=LeadStatus.NEW) -> Lead:
    return Lead(id=f"L{i:012x}", status=status, title=f"问题{i}", category=category, district=district,
                street=None, unit=None, urgent=False, priority=priority,
                priority_parts=PriorityParts(volume=priority), post_count=1, platform_count=1,
                first_seen=T0, last_seen=T0)


@pytest.fixture
def client(sqlite_store, config):
    specs = [(1, 0.3, "南山区", "交通运输"), (2, 0.9, "福田区", "水务"), (3, 0.6, "南山区", "水务"),
             (4, 0.1, "南山区", "交通运输", LeadStatus.VERIFIED)]
    for spec in specs:
        lead = _lead(*spec)
        post = make_post(str(spec[0]), f"第{spec[0]}个问题：路面坑洼", likes=spec[0])
        sqlite_store.posts.upsert([post])
        sqlite_store.posts.save_enrichments([(post, Enrichment(post.id, post.text, True, 0.8, lead.category,
                                                               lead.district, None, reasons=("problem:damage",),
                                                               text_hash="h"))])
        sqlite_store.leads.create(lead, [(post.id, 1.0)], LeadEvent(lead.id, "created", "clusterer", T0, {"posts": [post.id]}))
    sqlite_store.users.add("admin1", "admin", password="admin-password-1")
    token = sqlite_store.users.add_token("admin1", "tests")
    return TestClient(create_app(sqlite_store, config), headers={"Authorization": f"Bearer {token}"})


def test_healthz(client):
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "database": "sqlite", "leads": 4}


def test_leads_sorted_by_priority_and_filtered(client):
    body = client.get("/leads").json()
    assert body["total"] == 4
    assert [l["priority"] for l in body["items"]] == [0.9, 0.6, 0.3, 0.1]
    body = client.get("/leads", params={"district": "南山区", "category": "水务"}).json()
    assert [l["id"] for l in body["items"]] == [f"L{3:012x}"]
    body = client.get("/leads", params={"status": "verified"}).json()
    assert [l["id"] for l in body["items"]] == [f"L{4:012x}"]


def test_pagination(client):
    first = client.get("/leads", params={"limit": 2}).json()
    second = client.get("/leads", params={"limit": 2, "offset": 2}).json()
    ids = [l["id"] for l in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 4
    assert second["offset"] == 2 and second["limit"] == 2


def test_lead_detail_has_posts_and_events(client):
    body = client.get(f"/leads/L{2:012x}").json()
    assert body["title"] == "问题2"
    assert [p["id"] for p in body["posts"]] == ["weibo:2"]
    assert body["posts"][0]["reasons"] == ["problem:damage"]
    assert "author_hash" not in body["posts"][0]
    assert body["events"][0]["kind"] == "created"


@pytest.mark.parametrize("params, param", [
    ({"limit": 0}, "limit"), ({"limit": 10_000}, "limit"), ({"offset": -1}, "offset"),
    ({"status": "bogus"}, "status"), ({"limit": "ten"}, "limit"), ({"district": "x" * 200}, "district"),
])
def test_invalid_list_parameters_get_a_clear_422(client, params, param):
    resp = client.get("/leads", params=params)
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"] == "invalid request parameters"
    assert body["problems"][0]["param"].split(".")[0] == param and body["problems"][0]["message"]


def test_unknown_and_malformed_lead_ids(client):
    assert client.get("/leads/L0000000000ff").status_code == 404
    assert "no lead" in client.get("/leads/L0000000000ff").json()["error"]
    assert client.get("/leads/../../etc/passwd").status_code == 404
    assert client.get("/leads/DROP%20TABLE").status_code == 422


def test_the_api_needs_a_token_or_a_session(client):
    anonymous = TestClient(client.app)
    resp = anonymous.get("/leads")
    assert resp.status_code == 401 and resp.json()["code"] == "unauthenticated"
    assert anonymous.get("/leads", headers={"Authorization": "Bearer rt_nope.nope"}).status_code == 401
    assert anonymous.get("/leads", headers={"Authorization": "Basic abc"}).status_code == 401
    assert anonymous.get("/healthz").status_code == 200


def test_openapi_documents_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/leads", "/leads/{lead_id}"} <= set(paths)
    assert client.get("/docs").status_code == 200
