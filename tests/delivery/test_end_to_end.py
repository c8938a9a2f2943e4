"""End to end: an analyst verifies a lead through the API; the order arrives in the reference
work-order system; an "accepted" and then a "returned" status come back and show on the lead.
Both ways a status can come back are covered: signed callbacks (webhook target) and the
Open311 updates feed (pulled by the sync stage)."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

import httpx
import pytest

from core.models import Window
from delivery import stage
from leads_api.app import create_app
from pipeline.demo import catalogue_services, reference_config, reference_env
from tests.leads_api.test_actions import NANSHAN, _seed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, what: str, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def desk(sqlite_store, config, monkeypatch):
    """The app served over HTTP (callbacks need a real server), and a reference system that
    calls back to it; 南山区 orders go to the webhook target, the rest over Open311."""
    import uvicorn
    from delivery.reference import ReferenceWorkOrderSystem, new_secret
    _seed(sqlite_store)
    sqlite_store.users.add("ana", "analyst", password="pw-river-stone-1", districts=("南山区", "福田区"))
    port = _free_port()
    with ReferenceWorkOrderSystem(port=0, api_key="e2e-key", webhook_secret=new_secret(),
                                  callback_base=f"http://127.0.0.1:{port}", callback_secret=new_secret(),
                                  services=catalogue_services(config), speed=None) as system:
        wired = reference_config(config, system)
        routes = [r for r in wired.delivery.routes if r.district != "南山区"]
        from core.config import DeliveryRoute
        routes.append(DeliveryRoute(district="南山区", target="district_webhook"))
        wired = replace(wired, delivery=wired.delivery.model_copy(update={"routes": routes}))
        for k, v in reference_env(wired, system).items():
            monkeypatch.setenv(k, v)
        app = create_app(sqlite_store, wired, secret="e2e")
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="off", access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        _wait(lambda: server.started, "the desk to start")
        token = sqlite_store.users.add_token("ana", "e2e")
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
        try:
            yield client, system, sqlite_store, wired
        finally:
            client.close()
            server.should_exit = True
            thread.join(timeout=15)


def _kinds(client, lead_id):
    return [e["kind"] for e in client.get(f"/leads/{lead_id}").json()["events"]]


def test_verify_to_order_and_statuses_back_by_signed_callbacks(desk):
    client, system, store, config = desk
    resp = client.post(f"/leads/{NANSHAN[0]}/verify", json={"version": 1, "dispatch": True})
    assert resp.status_code == 200, resp.text
    [order] = client.get("/work-orders").json()["items"]
    assert order["target"] == "district_webhook"
    counts = stage.deliver(store, config, Window.last(1), max_seconds=30)
    assert counts.get("delivered") == 1, counts
    received = system.orders()[order["id"]]
    assert received.remote_id and store.orders.get(order["id"]).remote_id == received.remote_id
    system.set_status(order["id"], "accepted")
    _wait(lambda: "order_accepted" in _kinds(client, NANSHAN[0]), "the accepted callback")
    system.set_status(order["id"], "returned", reason="不属于本单位职责", unit="南山区城市管理和综合执法局")
    _wait(lambda: "order_returned" in _kinds(client, NANSHAN[0]), "the returned callback")
    lead = client.get(f"/leads/{NANSHAN[0]}").json()
    assert "不属于本单位职责" in lead["review_reason"]
    returned = [e for e in lead["events"] if e["kind"] == "order_returned"][0]
    assert returned["actor"] == "work-order-system" and returned["detail"]["unit"] == "南山区城市管理和综合执法局"
    assert client.get(f"/work-orders/{order['id']}").json()["status"] == "returned"


def test_verify_to_order_and_statuses_back_by_the_open311_feed(desk):
    client, system, store, config = desk
    from tests.leads_api.test_actions import FUTIAN
    resp = client.post(f"/leads/{FUTIAN}/verify", json={"version": 1, "dispatch": True})
    assert resp.status_code == 200, resp.text
    [order] = client.get("/work-orders").json()["items"]
    assert order["target"] == "city12345"
    assert stage.deliver(store, config, Window.last(1), max_seconds=30).get("delivered") == 1
    request = system.orders()[order["id"]]
    assert request.service_code == "JT002"
    system.set_status(order["id"], "accepted")
    system.set_status(order["id"], "returned", reason="非本区事项")
    # the receiver also calls back; whichever way arrives first applies, the other is a repeat
    counts = stage.sync_status(store, config, Window.last(1))
    assert counts.get("applied", 0) + counts.get("repeated", 0) == 2, counts
    _wait(lambda: {"order_accepted", "order_returned"} <= set(_kinds(client, FUTIAN)), "both statuses")
    assert stage.sync_status(store, config, Window.last(1)).get("applied", 0) == 0  # repeats change nothing
    kinds = _kinds(client, FUTIAN)
    assert kinds.count("order_accepted") == 1 and kinds.count("order_returned") == 1
    assert client.get(f"/work-orders/{order['id']}").json()["status"] == "returned"


def test_sync_reaches_back_for_an_order_whose_id_came_late(sqlite_store, config, monkeypatch):
    """The receiver stored the order and moved it on, but the worker learnt its id only later
    (an answer lost in an outage): a sync over a later, short window still finds its updates."""
    from datetime import datetime, timedelta, timezone
    from core.triage import Actor, Role
    from delivery.reference import ReferenceWorkOrderSystem
    from leads_api.desk import Desk
    from tests.leads_api.test_actions import FUTIAN
    _seed(sqlite_store)
    with ReferenceWorkOrderSystem(port=0, api_key="k", services=catalogue_services(config), speed=None) as system:
        wired = reference_config(config, system)
        for k, v in reference_env(wired, system).items():
            monkeypatch.setenv(k, v)
        desk = Desk(sqlite_store, wired)
        actor = Actor("ana", Role.ANALYST, ("福田区",))
        desk.act(actor, FUTIAN, None, "verify")
        _, order = desk.dispatch(actor, FUTIAN, None)
        assert stage.deliver(sqlite_store, wired, Window.last(1), max_seconds=30).get("delivered") == 1
        system.set_status(order.id, "accepted")
        end = datetime.now(timezone.utc) + timedelta(hours=2)
        later = Window(end - timedelta(minutes=5), end)  # the window moved on past the update
        assert stage.sync_status(sqlite_store, wired, later).get("applied") == 1
        assert sqlite_store.orders.get(order.id).status.value == "accepted"
        assert sqlite_store.orders.oldest_unanswered("city12345") is None
