"""Work orders through the API: dispatch files one order with the lead (or links it to an
open order for the same place and item), status callbacks are signed, deduplicated and shown
on the lead, returned orders are re-sent to the unit an analyst confirms, the pull feed."""
from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from core.models import utcnow
from delivery.signing import load_secret, sign
from leads_api.app import create_app
from tests.leads_api.test_actions import FUTIAN, NANSHAN, _client, _seed

SECRET = "whsec_" + base64.b64encode(b"callback-secret-for-tests-32bytes").decode()


@pytest.fixture
def app(sqlite_store, config, monkeypatch):
    monkeypatch.setenv(config.delivery.callback_secret_env, SECRET)
    _seed(sqlite_store)
    sqlite_store.users.add("ana", "analyst", password="pw-river-stone-1", districts=("南山区",))
    sqlite_store.users.add("wo", "integration")
    return create_app(sqlite_store, config, secret="test-secret")


@pytest.fixture
def ana(app, sqlite_store):
    return _client(app, sqlite_store, "ana")


def _dispatch(ana, lead_id):
    resp = ana.post(f"/leads/{lead_id}/verify", json={"version": 1, "dispatch": True})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "dispatched"
    return ana.get("/work-orders", params={"limit": 200}).json()["items"]


def _callback(client, order_id, status, at, update_id, secret=SECRET, **extra):
    body = json.dumps({"order_id": order_id, "status": status, "at": at.isoformat(), "update_id": update_id,
                       **extra}).encode()
    headers = sign(load_secret(secret, "TEST"), update_id, body)
    return client.post(f"/integrations/orders/{order_id}/status", content=body,
                       headers={**headers, "content-type": "application/json"})


def test_verify_and_dispatch_files_one_order_with_frozen_evidence(ana, sqlite_store):
    orders = _dispatch(ana, NANSHAN[0])
    assert len(orders) == 1
    order = orders[0]
    assert order["lead_id"] == NANSHAN[0] and order["delivery"] == "pending" and order["target"] == "city12345"
    assert order["item"] == "JT002" and len(order["evidence"]) == 3 and order["evidence_hash"]
    detail = ana.get(f"/leads/{NANSHAN[0]}").json()
    assert [e["kind"] for e in detail["events"]][-2:] == ["verified", "dispatched"]
    assert detail["events"][-1]["detail"]["order"] == order["id"]
    # a second dispatch of the same lead is refused by the state machine
    resp = ana.post(f"/leads/{NANSHAN[0]}/dispatch", json={"version": detail["version"]})
    assert resp.status_code == 409 and resp.json()["code"] == "invalid_transition"


def test_a_lead_about_the_same_place_and_item_joins_the_open_order(ana, sqlite_store):
    from core.models import Enrichment
    # both leads' posts name one spot (a few metres apart); the third lead names none
    for native, lat in (("1", 22.5401), ("4", 22.5402)):
        [post] = sqlite_store.posts.get([f"weibo:{native}"])
        sqlite_store.posts.save_enrichments([(post, Enrichment(post.id, post.text, True, 0.9, "交通运输", "南山区", None,
                                                               item="JT002", text_hash=f"h{native}", lat=lat,
                                                               lon=113.95, location_precision="place"))])
    first = _dispatch(ana, NANSHAN[0])[0]
    orders = _dispatch(ana, NANSHAN[1])
    assert [o["id"] for o in orders] == [first["id"]]
    lead = ana.get(f"/leads/{NANSHAN[1]}").json()
    assert lead["status"] == "dispatched" and lead["events"][-1]["detail"]["linked"] is True
    assert ana.get(f"/work-orders/{first['id']}").json()["leads"] == [NANSHAN[0], NANSHAN[1]]
    assert len(_dispatch(ana, NANSHAN[2])) == 2  # no place named: its own order


def test_signed_status_callbacks_are_deduplicated_and_converge(app, ana):
    order = _dispatch(ana, NANSHAN[0])[0]
    t0 = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
    web = TestClient(app)
    assert _callback(web, order["id"], "accepted", t0, "u1").json()["applied"] is True
    assert _callback(web, order["id"], "resolved", t0 + timedelta(hours=2), "u3").json()["applied"] is True
    late = _callback(web, order["id"], "in_progress", t0 + timedelta(hours=1), "u2")
    assert late.status_code == 200 and late.json() == {"order_id": order["id"], "applied": False, "status": "resolved"}
    again = _callback(web, order["id"], "resolved", t0 + timedelta(hours=2), "u3")
    assert again.json()["applied"] is False
    detail = ana.get(f"/work-orders/{order['id']}").json()
    assert detail["status"] == "resolved" and [u["update_id"] for u in detail["updates"]] == ["u1", "u2", "u3"]
    kinds = [e["kind"] for e in ana.get(f"/leads/{NANSHAN[0]}").json()["events"]]
    assert kinds[-2:] == ["order_accepted", "order_resolved"]


def test_callbacks_with_bad_signatures_are_refused(app, ana):
    order = _dispatch(ana, NANSHAN[0])[0]
    web = TestClient(app)
    other = "whsec_" + base64.b64encode(b"another-secret-entirely-32-bytes").decode()
    assert _callback(web, order["id"], "accepted", utcnow(), "u1", secret=other).status_code == 401
    body = json.dumps({"status": "accepted", "at": utcnow().isoformat(), "update_id": "u1"}).encode()
    headers = sign(load_secret(SECRET, "T"), "u1", body)
    tampered = body.replace(b"accepted", b"resolved")
    resp = web.post(f"/integrations/orders/{order['id']}/status", content=tampered, headers=headers)
    assert resp.status_code == 401 and "signature" in resp.json()["error"]
    old = sign(load_secret(SECRET, "T"), "u1", body, at=utcnow() - timedelta(minutes=10))
    assert web.post(f"/integrations/orders/{order['id']}/status", content=body, headers=old).status_code == 401
    assert web.post(f"/integrations/orders/{order['id']}/status", content=body).status_code == 401  # unsigned
    assert ana.get(f"/work-orders/{order['id']}").json()["status"] == "dispatched"


def test_returned_order_suggests_a_unit_and_is_resent(app, ana, sqlite_store):
    order = _dispatch(ana, NANSHAN[0])[0]
    web = TestClient(app)
    _callback(web, order["id"], "returned", utcnow(), "u1", reason="非本单位职责", unit="南山区城市管理和综合执法局")
    lead = ana.get(f"/leads/{NANSHAN[0]}").json()
    assert "退回" in lead["review_reason"] and lead["status"] == "dispatched"
    resp = ana.post(f"/leads/{NANSHAN[0]}/resend", json={"version": lead["version"],
                                                         "unit": "南山区城市管理和综合执法局"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["order"]["id"] == order["id"] and body["order"]["sends"] == 2
    assert body["order"]["unit"] == "南山区城市管理和综合执法局" and body["order"]["delivery"] == "pending"
    assert body["lead"]["review_reason"] is None
    labels = [l for l in sqlite_store.triage.labels() if l.action == "returned"]
    assert labels and labels[0].model["unit"] == "区交通运输局"


def test_pull_feed_needs_the_integration_role_and_its_cursor_is_opaque(app, ana, sqlite_store, config):
    wo = _client(app, sqlite_store, "wo")
    assert ana.get("/work-orders/changes").status_code == 403
    first = wo.get("/work-orders/changes")
    assert first.status_code == 200
    assert wo.get("/work-orders/changes", params={"cursor": "garbage!"}).status_code == 422
    assert wo.get("/work-orders/changes", params={"cursor": first.json()["cursor"]}).json()["items"] == []


def test_status_from_a_pull_integration_with_its_token(app, ana, sqlite_store):
    order = _dispatch(ana, NANSHAN[0])[0]
    wo = _client(app, sqlite_store, "wo")
    body = {"status": "accepted", "at": utcnow().isoformat(), "update_id": "p1"}
    assert wo.post(f"/integrations/orders/{order['id']}/status", json=body).json()["applied"] is True
    assert ana.post(f"/integrations/orders/{order['id']}/status", json=body).status_code == 401  # not integration
    resp = wo.post(f"/integrations/orders/{order['id']}/status", json={**body, "status": "lost"})
    assert resp.status_code == 422 and resp.json()["problems"][0]["param"] == "status"
    resp = wo.post(f"/integrations/orders/{order['id']}/status", json={**body, "at": "2026-12-04T08:00:00"})
    assert resp.status_code == 422  # a time without a zone is ambiguous
    assert wo.post("/integrations/orders/WO0000000000000A/status", json=body).status_code == 404


def test_dead_orders_can_be_retried(ana, sqlite_store):
    order = _dispatch(ana, NANSHAN[0])[0]
    [leased] = sqlite_store.orders.lease_due(utcnow(), 10, timedelta(seconds=30))
    sqlite_store.orders.failed(leased, utcnow(), "rejected: 400", None)
    assert [o["id"] for o in ana.get("/work-orders", params={"delivery": "dead"}).json()["items"]] == [order["id"]]
    resp = ana.post(f"/work-orders/{order['id']}/retry")
    assert resp.status_code == 200 and resp.json()["delivery"] == "pending"
    assert ana.post(f"/work-orders/{order['id']}/retry").status_code == 409
    assert ana.get("/work-orders/WO0000000000000A").status_code == 404
    assert ana.get("/work-orders/not-an-order").status_code == 422


def test_dispatch_needs_a_responsible_unit(ana, sqlite_store):
    from dataclasses import replace
    lead = sqlite_store.leads.get(NANSHAN[2])
    sqlite_store.leads.update(replace(lead, unit=None), lead.version)
    ana.post(f"/leads/{NANSHAN[2]}/verify", json={"version": 2})
    resp = ana.post(f"/leads/{NANSHAN[2]}/dispatch", json={"version": 3})
    assert resp.status_code == 422 and resp.json()["problems"][0]["param"] == "unit"
    assert ana.get("/work-orders").json()["total"] == 0
