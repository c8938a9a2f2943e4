"""`radar orders ...`: orders an analyst dispatched through the desk are listed, shown, retried
when dead and exported; `deliver` files them with a reference work-order system exactly once,
and `sync` brings its answers back."""
from __future__ import annotations

import csv
import json
import shutil
from datetime import timedelta

import pytest
import yaml
from typer.testing import CliRunner

from core.models import utcnow
from core.orders import OrderStatus, StatusUpdate
from core.settings import Settings
from core.store import Store
from core.triage import Actor, Role
from pipeline.cli import app
from tests.conftest import REPO
from tests.leads_api.test_actions import FUTIAN, NANSHAN, _seed

runner = CliRunner()
API_KEY = "cli-test-api-key"
UNKNOWN = "WO0000000000000A"


def _orders(*args: str):
    return runner.invoke(app, ["orders", *args])


def _json(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def _error_line(result) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def dispatched(tmp_path, monkeypatch, config):
    """Three Nanshan leads verified and dispatched by an analyst through the desk: three orders
    in the outbox for city12345 (the Futian lead stays new)."""
    from leads_api.desk import Desk
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RADAR_CONFIG_DIR", raising=False)
    store = Store.open(Settings().db_url)
    try:
        _seed(store)
        desk = Desk(store, config)
        ana = Actor("ana", Role.ANALYST, ("南山区",))
        orders = {}
        for lead_id in NANSHAN:
            verified = desk.act(ana, lead_id, 1, "verify")
            _, order = desk.dispatch(ana, lead_id, verified.version)
            orders[lead_id] = order
    finally:
        store.close()
    return orders


def _store() -> Store:
    return Store.open(Settings().db_url)


def test_list_filters_and_limits(dispatched):
    listed = _json(_orders("list", "--json"))
    assert listed["total"] == 3 and {o["lead_id"] for o in listed["orders"]} == set(NANSHAN)
    assert all(o["delivery"] == "pending" and o["status"] == "dispatched" and o["target"] == "city12345"
               and o["remote_id"] is None for o in listed["orders"])
    assert _json(_orders("list", "--json", "--delivery", "dead"))["total"] == 0
    assert _json(_orders("list", "--json", "--status", "dispatched", "--target", "city12345"))["total"] == 3
    assert _json(_orders("list", "--json", "--target", "district_webhook"))["total"] == 0
    one = _json(_orders("list", "--json", "--limit", "1"))
    assert one["total"] == 3 and len(one["orders"]) == 1
    table = _orders("list")
    assert table.exit_code == 0 and all(o.id in table.stdout for o in dispatched.values())
    assert _orders("list", "--status", "lost").exit_code == 2  # a usage error, named by typer


def test_show_has_the_order_its_leads_updates_and_evidence(dispatched):
    from delivery import lifecycle
    order = dispatched[NANSHAN[0]]
    shown = _json(_orders("show", order.id, "--json"))
    assert shown["id"] == order.id and shown["leads"] == [NANSHAN[0]] and shown["updates"] == []
    assert shown["evidence_count"] == 3 and shown["evidence_hash"] == order.evidence_hash
    assert shown["item"] == "JT002" and shown["place"]["district"] == "南山区" and shown["delivery"] == "pending"

    store = _store()
    try:
        at = utcnow()
        lifecycle.apply(store, StatusUpdate(order.id, OrderStatus.ACCEPTED, at, "u1", "webhook"))
        lifecycle.apply(store, StatusUpdate(order.id, OrderStatus.IN_PROGRESS, at - timedelta(minutes=1), "u0",
                                            "webhook"))  # late: stored, not applied
    finally:
        store.close()
    shown = _json(_orders("show", order.id, "--json"))
    assert shown["status"] == "accepted"
    assert [(u["update_id"], u["status"], u["applied"]) for u in shown["updates"]] == [
        ("u0", "in_progress", False), ("u1", "accepted", True)]
    human = _orders("show", order.id)
    assert human.exit_code == 0 and order.evidence_hash in human.stdout and "in_progress" in human.stdout

    assert _error_line(_orders("show", UNKNOWN)) == f"error: no work order {UNKNOWN}"
    assert _error_line(_orders("show", "not-an-order", "--json")) == "error: no work order not-an-order"


def test_retry_puts_only_a_dead_order_back(dispatched):
    order = dispatched[NANSHAN[1]]
    refused = _error_line(_orders("retry", order.id))
    assert refused.startswith(f"error: order {order.id} is pending, not dead")
    store = _store()
    try:
        leased = {o.id: o for o in store.orders.lease_due(utcnow(), 10, timedelta(seconds=30))}
        store.orders.failed(leased[order.id], utcnow(), "rejected: 400 service_code JT002 not found", None)
    finally:
        store.close()
    dead = _json(_orders("list", "--json", "--delivery", "dead"))
    assert [o["id"] for o in dead["orders"]] == [order.id] and dead["orders"][0]["attempts"] == 1
    retried = _json(_orders("retry", order.id))
    assert retried["id"] == order.id and retried["delivery"] == "pending" and retried["attempts"] == 0
    assert retried["last_error"] is None
    assert "not dead" in _error_line(_orders("retry", order.id))
    assert _error_line(_orders("retry", UNKNOWN)) == f"error: no work order {UNKNOWN}"


def test_export_writes_every_order_with_payload_and_refuses_to_overwrite(dispatched, tmp_path):
    out = tmp_path / "orders.jsonl"
    assert _json(_orders("export", "--output", str(out))) == {"orders": 3, "output": str(out.resolve())}
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["id"] for r in rows} == {o.id for o in dispatched.values()}
    by_id = {r["id"]: r for r in rows}
    first = by_id[dispatched[NANSHAN[0]].id]
    assert first["status"] == "dispatched" and first["delivery"] == "pending" and first["leads"] == [NANSHAN[0]]
    assert first["payload"] == json.loads(json.dumps(dispatched[NANSHAN[0]].payload(), ensure_ascii=False))
    assert len(first["payload"]["evidence"]) == 3 and "路面塌陷" in first["payload"]["evidence"][0]["text"]

    out.write_text("keep me\n", encoding="utf-8")
    assert _error_line(_orders("export", "--output", str(out))) == \
        f"error: {out} exists; pass --force to overwrite it"
    assert out.read_text(encoding="utf-8") == "keep me\n"
    assert _json(_orders("export", "--output", str(out), "--format", "csv", "--force"))["orders"] == 3
    with out.open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert {r["id"] for r in table} == set(by_id)
    row = next(r for r in table if r["id"] == first["id"])
    assert row["district"] == "南山区" and row["item"] == "JT002" and row["evidence_count"] == "3"
    assert json.loads(row["payload_json"])["evidence_hash"] == row["evidence_hash"] == first["payload"]["evidence_hash"]


# --- deliver and sync against the reference work-order system ------------------------------------

@pytest.fixture
def reference(dispatched, tmp_path, monkeypatch, config):
    """A reference work-order system (statuses move only when the test says) and a config whose
    Open311 and webhook targets point at it, with their secrets in the environment."""
    from delivery.reference import ReferenceWorkOrderSystem, new_secret
    services = [(item.id, item.name, cat.name) for cat in config.catalogue.categories for item in cat.items]
    secret = new_secret()
    with ReferenceWorkOrderSystem(api_key=API_KEY, webhook_secret=secret, services=services, speed=None) as system:
        shutil.copytree(REPO / "config", tmp_path / "config")
        path = tmp_path / "config" / "delivery.yaml"
        delivery = yaml.safe_load(path.read_text(encoding="utf-8"))
        delivery["targets"]["city12345"]["url"] = system.open311_url
        delivery["targets"]["district_webhook"]["url"] = system.webhook_url
        path.write_text(yaml.safe_dump(delivery, allow_unicode=True), encoding="utf-8")
        monkeypatch.setenv("RADAR_CONFIG_DIR", str(tmp_path / "config"))
        monkeypatch.setenv(delivery["targets"]["city12345"]["api_key_env"], API_KEY)
        monkeypatch.setenv(delivery["targets"]["district_webhook"]["secret_env"], secret)
        yield system


def test_deliver_files_each_order_once_and_sync_brings_statuses_back(reference, dispatched, monkeypatch):
    counts = _json(_orders("deliver", "--max-seconds", "30"))
    assert counts == {"delivered": 3, "targets_unusable": 0}
    listed = {o["id"]: o for o in _json(_orders("list", "--json", "--delivery", "delivered"))["orders"]}
    assert set(listed) == {o.id for o in dispatched.values()}
    received = reference.orders()
    for order_id, order in listed.items():
        assert order["remote_id"] and received[order_id].remote_id == order["remote_id"]
        assert order["attempts"] == 1 and order["last_error"] is None
    assert len(reference.requests()) == 3  # one request per order on the receiving side

    assert _json(_orders("deliver")) == {"targets_unusable": 0}  # nothing due: nothing sent again
    assert len(reference.requests()) == 3 and reference.duplicates == 0

    order_id = dispatched[NANSHAN[0]].id
    reference.set_status(order_id, OrderStatus.ACCEPTED)
    synced = _json(_orders("sync", "--since-minutes", "5"))
    assert synced["applied"] == 1 and synced["targets_failed"] == 0 and synced["targets_unusable"] == 0
    assert _json(_orders("show", order_id, "--json"))["status"] == "accepted"
    assert _json(_orders("sync", "--since-minutes", "5")).get("applied", 0) == 0  # repeats change nothing


def test_deliver_names_an_unknown_or_unusable_target(reference, monkeypatch):
    assert _error_line(_orders("deliver", "--target", "nope")).startswith(
        "error: unknown delivery target nope (known: city12345, district_webhook, integration_pull)")
    monkeypatch.delenv("RADAR_WO_WEBHOOK_SECRET")
    line = _error_line(_orders("deliver", "--target", "district_webhook"))
    assert line.startswith("error: delivery target") and "RADAR_WO_WEBHOOK_SECRET" in line
    # the other targets are still worked, with a warning naming the one skipped
    result = _orders("deliver", "--target", "city12345")
    assert result.exit_code == 0 and json.loads(result.stdout)["delivered"] == 3
    everything = _orders("deliver")
    assert everything.exit_code == 0 and "RADAR_WO_WEBHOOK_SECRET" in everything.stderr
    assert json.loads(everything.stdout)["targets_unusable"] == 1
    assert FUTIAN not in {o["lead_id"] for o in _json(_orders("list", "--json"))["orders"]}
