"""Triage actions through the JSON API, over a real SQLite store: locks, versions, scoping,
merges and splits, audit, labels, sessions with CSRF."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts
from leads_api.app import create_app
from tests.conftest import T0, make_post

NANSHAN = ("L00000000000a", "L00000000000b", "L00000000000c")
FUTIAN = "L00000000000f"


def _seed(store) -> None:
    specs = [(NANSHAN[0], "南山区", 0.9, 3, T0), (NANSHAN[1], "南山区", 0.5, 2, T0 + timedelta(hours=1)),
             (NANSHAN[2], "南山区", 0.4, 1, T0 - timedelta(days=1)), (FUTIAN, "福田区", 0.8, 1, T0)]
    n = 0
    for lead_id, district, priority, posts, first in specs:
        members = []
        for k in range(posts):
            n += 1
            post = make_post(str(n), f"{district}科技园路面塌陷第{n}帖", at=first + timedelta(minutes=k))
            store.posts.upsert([post])
            store.posts.save_enrichments([(post, Enrichment(post.id, post.text, True, 0.9, "交通运输", district,
                                                            None, item="JT002", text_hash=f"h{n}"))])
            members.append((post.id, 1.0))
        lead = Lead(id=lead_id, status=LeadStatus.NEW, title=f"{district}路面塌陷", category="交通运输",
                    district=district, street=None, unit="区交通运输局", urgent=False, priority=priority,
                    priority_parts=PriorityParts(), post_count=posts, platform_count=1, first_seen=first,
                    last_seen=first + timedelta(minutes=posts), item="JT002", detected_at=first,
                    sla_due_at=first + timedelta(minutes=30))
        store.leads.create(lead, members, LeadEvent(lead_id, "created", "clusterer", first, {}))


@pytest.fixture
def app(sqlite_store, config):
    _seed(sqlite_store)
    sqlite_store.users.add("ana", "analyst", password="pw-river-stone-1", districts=("南山区",))
    sqlite_store.users.add("bob", "analyst", password="pw-maple-leaf-2", districts=("南山区",))
    sqlite_store.users.add("sue", "supervisor", password="pw-cloud-gate-3")
    sqlite_store.users.add("wo", "integration")
    return create_app(sqlite_store, config, secret="test-secret")


def _client(app, store, username: str) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {store.users.add_token(username, 'test')}"})


@pytest.fixture
def ana(app, sqlite_store):
    return _client(app, sqlite_store, "ana")


@pytest.fixture
def bob(app, sqlite_store):
    return _client(app, sqlite_store, "bob")


def _version(client, lead_id) -> int:
    return client.get(f"/leads/{lead_id}").json()["version"]


def test_analyst_sees_only_their_district(ana):
    ids = [l["id"] for l in ana.get("/leads", params={"limit": 200}).json()["items"]]
    assert set(ids) == set(NANSHAN)
    assert ana.get(f"/leads/{FUTIAN}").status_code == 404
    # acting on a lead outside the district is also a 404, never a 403 that says it exists
    resp = ana.post(f"/leads/{FUTIAN}/claim", json={"version": 1})
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"


def test_claim_verify_with_correction_audit_and_label(ana, sqlite_store):
    lead = ana.post(f"/leads/{NANSHAN[0]}/claim", json={"version": 1}).json()
    assert lead["status"] == "in_review" and lead["claimed_by"] == "ana" and lead["version"] == 2
    resp = ana.post(f"/leads/{NANSHAN[0]}/verify", json={"version": 2, "category": "生态环境", "item": "ST001",
                                                          "note": "其实是扬尘"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "verified" and body["category"] == "生态环境" and body["item"] == "ST001"
    assert body["claimed_by"] is None and {"category", "item"} <= set(body["confirmed"])
    # the SLA follows the corrected item (ST001: 120 minutes from detection)
    assert body["sla_due_at"].startswith((T0 + timedelta(minutes=120)).strftime("%Y-%m-%dT%H:%M"))
    events = ana.get("/audit", params={"lead_id": NANSHAN[0]}).json()["items"]
    assert [e["kind"] for e in events] == ["verified", "claimed"]
    assert events[0]["detail"]["before"]["category"] == "交通运输"
    assert events[0]["detail"]["after"]["category"] == "生态环境" and events[0]["detail"]["note"] == "其实是扬尘"
    labels = sqlite_store.triage.labels()
    assert len(labels) == 1 and labels[0].model["category"] == "交通运输"
    assert labels[0].decision == {"relevant": True, "category": "生态环境", "item": "ST001", "unit": "区交通运输局",
                                  "district": "南山区", "urgent": False}
    assert "路面塌陷" in labels[0].text and labels[0].actor == "ana" and labels[0].model_version.startswith("rules-")


def test_lock_blocks_another_analyst_and_a_supervisor_can_break_it(app, ana, bob, sqlite_store):
    ana.post(f"/leads/{NANSHAN[0]}/claim", json={"version": 1})
    resp = bob.post(f"/leads/{NANSHAN[0]}/verify", json={"version": 2})
    assert resp.status_code == 409 and resp.json()["code"] == "locked"
    assert resp.json()["current"]["claimed_by"] == "ana"
    assert bob.post(f"/leads/{NANSHAN[0]}/claim", json={"version": 2, "force": True}).status_code == 409
    sue = _client(app, sqlite_store, "sue")
    broke = sue.post(f"/leads/{NANSHAN[0]}/claim", json={"version": 2, "force": True})
    assert broke.status_code == 200 and broke.json()["claimed_by"] == "sue"
    assert sue.get("/audit", params={"lead_id": NANSHAN[0]}).json()["items"][0]["kind"] == "lock_broken"


def test_stale_version_gets_409_with_the_current_state(ana, bob):
    ana.post(f"/leads/{NANSHAN[1]}/note", json={"note": "先看一下"})  # notes need no version
    ana.post(f"/leads/{NANSHAN[1]}/escalate", json={"version": 1})
    resp = bob.post(f"/leads/{NANSHAN[1]}/reject", json={"version": 1, "reason": "spam"})
    assert resp.status_code == 409
    body = resp.json()
    assert body["code"] == "stale" and body["current"]["version"] == 2 and body["current"]["urgent"] is True


def test_invalid_transition_and_bad_values(ana):
    ana.post(f"/leads/{NANSHAN[2]}/reject", json={"version": 1, "reason": "duplicate"})
    resp = ana.post(f"/leads/{NANSHAN[2]}/verify", json={"version": 2})
    assert resp.status_code == 409 and resp.json()["code"] == "invalid_transition"
    assert "allowed from" in resp.json()["error"]
    resp = ana.post(f"/leads/{NANSHAN[0]}/verify", json={"version": 1, "category": "不存在的类别"})
    assert resp.status_code == 422 and resp.json()["problems"][0]["param"] == "category"
    resp = ana.post(f"/leads/{NANSHAN[0]}/verify", json={"version": 1, "category": "生态环境", "item": "JT001"})
    assert resp.status_code == 422 and resp.json()["problems"][0]["param"] == "item"
    resp = ana.post(f"/leads/{NANSHAN[0]}/reject", json={"version": 1, "reason": "boring", "colour": "red"})
    assert resp.status_code == 422
    assert {p["param"] for p in resp.json()["problems"]} == {"reason", "colour"}
    assert ana.post(f"/leads/{NANSHAN[0]}/verify", json={}).json()["problems"][0]["param"] == "version"


def test_merge_keeps_the_older_lead_and_moves_posts(ana, sqlite_store):
    older, younger = NANSHAN[2], NANSHAN[0]  # NANSHAN[2] was first seen a day earlier
    resp = ana.post(f"/leads/{younger}/merge", json={"version": 1, "other_id": older, "other_version": 1})
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == older and resp.json()["post_count"] == 4
    gone = ana.get(f"/leads/{younger}").json()
    assert gone["status"] == "merged" and gone["merged_into"] == older and gone["posts"] == []
    assert len(ana.get(f"/leads/{older}").json()["posts"]) == 4


def test_split_moves_chosen_posts_to_a_new_lead_kept_apart(ana, sqlite_store):
    posts = [p["id"] for p in ana.get(f"/leads/{NANSHAN[0]}").json()["posts"]]
    resp = ana.post(f"/leads/{NANSHAN[0]}/split", json={"version": 1, "post_ids": posts[:1], "note": "另一处"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["lead"]["post_count"] == 2 and body["new_lead"]["post_count"] == 1
    new_id = body["new_lead"]["id"]
    assert [p["id"] for p in ana.get(f"/leads/{new_id}").json()["posts"]] == posts[:1]
    assert sqlite_store.triage.kept_apart([new_id]) == {frozenset((NANSHAN[0], new_id))}
    assert sqlite_store.triage.placed_posts(posts) == {posts[0]}
    resp = ana.post(f"/leads/{NANSHAN[0]}/split", json={"version": 2, "post_ids": posts[1:]})
    assert resp.status_code == 422 and "at least one" in resp.json()["error"]


def test_bulk_verify_reports_each_lead(ana, bob):
    bob.post(f"/leads/{NANSHAN[1]}/claim", json={"version": 1})
    resp = ana.post("/leads/bulk", json={"action": "reject", "reason": "spam", "items": [
        {"id": NANSHAN[0], "version": 1}, {"id": NANSHAN[1], "version": 2}, {"id": FUTIAN, "version": 1}]})
    results = {r["id"]: r for r in resp.json()["results"]}
    assert results[NANSHAN[0]]["ok"] and results[NANSHAN[0]]["lead"]["status"] == "rejected"
    assert results[NANSHAN[1]]["status"] == 409 and "claimed by bob" in results[NANSHAN[1]]["error"]
    assert results[FUTIAN]["status"] == 404
    resp = ana.post("/leads/bulk", json={"action": "reject", "items": [{"id": NANSHAN[2], "version": 1}]})
    assert resp.status_code == 422 and resp.json()["problems"][0]["param"] == "reason"


def test_integration_role_cannot_triage(app, sqlite_store):
    wo = _client(app, sqlite_store, "wo")
    resp = wo.post(f"/leads/{NANSHAN[0]}/verify", json={"version": 1})
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    assert wo.get("/leads").status_code == 200


def test_queue_filters_and_sorts_by_time_left(ana):
    by_time = [l["id"] for l in ana.get("/leads", params={"sort": "time_left"}).json()["items"]]
    assert by_time == [NANSHAN[2], NANSHAN[0], NANSHAN[1]]
    assert ana.get("/leads", params={"sla": "breached"}).json()["total"] == 3  # T0 is in the past
    assert [l["id"] for l in ana.get("/leads", params={"q": "第6帖"}).json()["items"]] == [NANSHAN[2]]
    assert ana.get("/leads", params={"q": "100%_"}).json()["total"] == 0


def test_session_login_needs_csrf_for_unsafe_requests(app, sqlite_store):
    web = TestClient(app)
    resp = web.post("/auth/login", json={"username": "ana", "password": "pw-river-stone-1"})
    assert resp.status_code == 200 and resp.json()["role"] == "analyst"
    assert web.get("/auth/me").json()["username"] == "ana"
    assert web.post(f"/leads/{NANSHAN[0]}/claim", json={"version": 1}).status_code == 403  # no CSRF header
    csrf = web.cookies.get("csrftoken")
    assert csrf
    resp = web.post(f"/leads/{NANSHAN[0]}/claim", json={"version": 1}, headers={"x-csrftoken": csrf})
    assert resp.status_code == 200 and resp.json()["claimed_by"] == "ana"


def test_login_locks_after_repeated_failures(app, sqlite_store):
    web = TestClient(app)
    for _ in range(5):
        assert web.post("/auth/login", json={"username": "bob", "password": "wrong-password"}).status_code == 401
    resp = web.post("/auth/login", json={"username": "bob", "password": "pw-maple-leaf-2"})
    assert resp.status_code == 423 and resp.json()["code"] == "locked"
    assert web.post("/auth/login", json={"username": "nobody", "password": "x"}).status_code == 401


def test_disabled_user_loses_token_and_session(app, sqlite_store):
    token = sqlite_store.users.add_token("bob", "t")
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert client.get("/leads").status_code == 200
    sqlite_store.users.set_disabled("bob")
    assert client.get("/leads").status_code == 401


def test_passwords_and_tokens_are_stored_hashed(sqlite_store):
    from sqlalchemy import select
    from core.store import tables as t
    sqlite_store.users.add("carl", "admin", password="pw-cedar-hill-4")
    token = sqlite_store.users.add_token("carl", "t")
    with sqlite_store.engine.connect() as conn:
        pw = conn.execute(select(t.users.c.password_hash).where(t.users.c.username == "carl")).scalar_one()
        th = conn.execute(select(t.api_tokens.c.token_hash)).scalar_one()
    assert pw.startswith("$argon2id$") and "pw-cedar-hill-4" not in pw
    assert th.startswith("$argon2id$") and token.split(".")[1] not in th


def test_security_headers(ana):
    resp = ana.get("/leads")
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_recategorizing_needs_an_item_of_the_new_category(ana):
    resp = ana.post(f"/leads/{NANSHAN[0]}/recategorize", json={"version": 1, "category": "城市管理"})
    assert resp.status_code == 422 and resp.json()["problems"][0]["param"] == "item"
    assert "JT002" in resp.json()["problems"][0]["message"]
    resp = ana.post(f"/leads/{NANSHAN[0]}/recategorize", json={"version": 1, "category": "城市管理", "item": "CG001"})
    assert resp.status_code == 200 and resp.json()["item"] == "CG001"


def test_merge_with_an_unknown_partner_names_the_field(ana):
    resp = ana.post(f"/leads/{NANSHAN[0]}/merge", json={"version": 1, "other_id": FUTIAN, "other_version": 1})
    assert resp.status_code == 422 and resp.json()["problems"][0]["param"] == "other_id"


def test_supervisor_stats_are_scoped_to_their_districts(app, ana, sqlite_store):
    ana.post(f"/leads/{NANSHAN[0]}/claim", json={"version": 1})
    sqlite_store.users.add("fu", "analyst", password="pw-delta-kite-5", districts=("福田区",))
    _client(app, sqlite_store, "fu").post(f"/leads/{FUTIAN}/claim", json={"version": 1})
    sqlite_store.users.add("futian_sup", "supervisor", password="pw-eagle-nest-6", districts=("福田区",))
    stats = _client(app, sqlite_store, "futian_sup").get("/stats").json()
    assert set(stats["throughput"]) == {"fu"}
    assert ana.get("/stats").status_code == 403
