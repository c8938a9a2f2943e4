"""`radar orders ...`: work orders from the command line: list and show them, put a dead one
back in the outbox, export them all, and run one delivery pass or one status pull by hand (what
the `radar_delivery` DAG does every 5 minutes).

Delivery and sync read the targets' secrets from the environment variables config/delivery.yaml
names, as the DAG does. Output (JSON, or a table without --json) goes to stdout; warnings and
errors to stderr, an error as one line with exit 1.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from core.orders import DeliveryState, OrderStatus
from pipeline.commands.common import check_output, config_or_exit, open_store, settings_or_exit, write_atomically

orders_app = typer.Typer(help="Work orders: list, show, retry dead ones, export, deliver, sync statuses.",
                         no_args_is_help=True)

OrderIdArg = Annotated[str, typer.Argument(help="the order id (WO followed by 14 hex digits)")]

# Columns of the CSV export; the whole order as the receiver gets it stays in payload_json.
CSV_COLUMNS = ("id", "lead_id", "leads", "status", "status_at", "status_reason", "delivery", "target",
               "attempts", "remote_id", "sends", "last_error", "created_at", "created_by", "updated_at",
               "category", "item", "unit", "district", "urgent", "due_at", "title", "evidence_count",
               "evidence_hash", "payload_json")


class Format(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def _iso(at) -> str | None:
    return at.isoformat() if at else None


def order_summary(o) -> dict:
    """One order as `list` shows it: where it stands, not what it says."""
    return {"id": o.id, "lead_id": o.lead_id, "status": o.status.value, "delivery": o.delivery.value,
            "target": o.target, "title": o.title, "category": o.category, "item": o.item, "unit": o.unit,
            "district": o.place.district, "urgent": o.urgent, "attempts": o.attempts, "remote_id": o.remote_id,
            "sends": o.sends, "due_at": _iso(o.due_at), "status_at": _iso(o.status_at),
            "status_reason": o.status_reason, "last_error": o.last_error, "created_at": _iso(o.created_at),
            "updated_at": _iso(o.updated_at)}


def order_detail(o, leads: list[str], updates) -> dict:
    """One order as `show` prints it: the order, its leads, its status updates, and its evidence
    by count and hash (the evidence itself is in the export's payload)."""
    return {**order_summary(o), "description": o.description, "item_name": o.item_name,
            "place": {"district": o.place.district, "street": o.place.street, "community": o.place.community,
                      "address": o.place.address, "lat": o.place.lat, "lon": o.place.lon},
            "dispatch_minutes": o.dispatch_minutes, "resolution_hours": o.resolution_hours,
            "created_by": o.created_by, "remote_token": o.remote_token,
            "evidence_count": len(o.evidence), "evidence_hash": o.evidence_hash, "leads": leads,
            "updates": [{"update_id": u.update_id, "status": u.status.value, "at": _iso(u.at), "source": u.source,
                         "reason": u.reason, "unit": u.unit, "applied": bool(u.detail.get("applied"))}
                        for u in updates]}


def export_record(o, leads: list[str]) -> dict:
    """One order as `export` writes it: its state on our side and its payload as sent."""
    return {"id": o.id, "lead_id": o.lead_id, "leads": leads, "status": o.status.value,
            "status_at": _iso(o.status_at), "status_reason": o.status_reason, "delivery": o.delivery.value,
            "target": o.target, "attempts": o.attempts, "remote_id": o.remote_id, "sends": o.sends,
            "last_error": o.last_error, "created_at": _iso(o.created_at), "created_by": o.created_by,
            "updated_at": _iso(o.updated_at), "payload": o.payload()}


def _csv_row(record: dict) -> dict:
    payload = record["payload"]
    row = {k: record[k] for k in CSV_COLUMNS if k in record}
    row["leads"] = " ".join(record["leads"])
    row.update({k: payload[k] for k in ("category", "item", "unit", "urgent", "due_at", "title")})
    row["district"] = payload["place"]["district"]
    row["evidence_count"] = len(payload["evidence"])
    row["evidence_hash"] = payload["evidence_hash"]
    row["payload_json"] = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return row


def _get_or_fail(store, order_id: str):
    from core.store.orders import OrderNotFound
    try:
        return store.orders.get(order_id)
    except OrderNotFound:
        _fail(f"no work order {order_id}")


@orders_app.command("list")
def list_orders(
    status: Annotated[OrderStatus | None, typer.Option("--status", help="only orders in this status")] = None,
    delivery: Annotated[DeliveryState | None, typer.Option(
        "--delivery", help="only orders in this delivery state (dead: the dead-letter list)")] = None,
    target: Annotated[str | None, typer.Option("--target", help="only orders for this delivery target")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="at most this many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Orders newest first, with where each stands (status, delivery, attempts, last error)."""
    store = open_store(settings_or_exit())
    try:
        total, orders = store.orders.list(status=status.value if status else None,
                                          delivery=delivery.value if delivery else None, target=target, limit=limit)
    finally:
        store.close()
    rows = [order_summary(o) for o in orders]
    if as_json:
        print(json.dumps({"total": total, "orders": rows}, ensure_ascii=False, indent=1))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"{len(rows)} of {total} work orders")
    # ids never wrap or shorten: they are what `show` and `retry` take
    table.add_column("id", no_wrap=True, min_width=16)
    table.add_column("lead", no_wrap=True, min_width=13)
    for col in ("status", "delivery", "target", "tries", "remote id", "district", "last error"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], r["lead_id"], r["status"], r["delivery"], r["target"], str(r["attempts"]),
                      r["remote_id"] or "", r["district"] or "", (r["last_error"] or "")[:60])
    Console().print(table)


@orders_app.command("show")
def show(order_id: OrderIdArg, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One order: its fields, its leads, the status updates received, its evidence count and hash."""
    store = open_store(settings_or_exit())
    try:
        order = _get_or_fail(store, order_id)
        detail = order_detail(order, store.orders.leads_of(order_id), store.orders.updates(order_id))
    finally:
        store.close()
    if as_json:
        print(json.dumps(detail, ensure_ascii=False, indent=1))
        return
    # plain `field: value` lines, never wrapped: ids and the evidence hash stay whole and greppable
    for key in ("id", "title", "lead_id", "leads", "status", "status_at", "status_reason", "delivery", "target",
                "attempts", "remote_id", "sends", "last_error", "category", "item", "item_name", "unit", "place",
                "urgent", "due_at", "created_at", "created_by", "evidence_count", "evidence_hash"):
        value = detail[key]
        if key == "leads":
            value = ", ".join(value)
        elif key == "place":
            value = value["address"] or value["district"]
        print(f"{key}: {'' if value is None else value}")
    from rich.console import Console
    from rich.table import Table
    out = Console()
    if not detail["updates"]:
        print("no status updates yet")
        return
    updates = Table(title=f"{len(detail['updates'])} status updates")
    for col in ("at", "status", "source", "applied", "reason", "unit", "update id"):
        updates.add_column(col)
    for u in detail["updates"]:
        updates.add_row(u["at"][:19], u["status"], u["source"], "yes" if u["applied"] else "no (older or repeat)",
                        u["reason"] or "", u["unit"] or "", u["update_id"])
    out.print(updates)


@orders_app.command("retry")
def retry(order_id: OrderIdArg) -> None:
    """Put a dead order back in the outbox (due now, attempts counted afresh); print it as JSON."""
    from core.models import utcnow
    from core.store.errors import StoreError
    from core.store.orders import OrderNotFound
    store = open_store(settings_or_exit())
    try:
        order = store.orders.retry(order_id, utcnow())
    except OrderNotFound:
        _fail(f"no work order {order_id}")
    except StoreError as exc:  # not dead: pending orders retry by themselves, delivered ones are done
        _fail(f"{exc}; only a dead order is retried")
    finally:
        store.close()
    print(json.dumps(order_summary(order), ensure_ascii=False))


def _all_orders(store, page: int = 500) -> list:
    """Every order, oldest first. The list is newest first, so an order filed while paging shifts
    the pages towards the end: an order may come twice (kept once), none is skipped."""
    seen: dict[str, object] = {}
    offset = 0
    while True:
        _, orders = store.orders.list(limit=page, offset=offset)
        for o in orders:
            seen.setdefault(o.id, o)
        if len(orders) < page:
            break
        offset += page
    return sorted(seen.values(), key=lambda o: (o.created_at, o.id))


@orders_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="the file to write")],
    fmt: Annotated[Format, typer.Option("--format", help="one JSON object per line, or CSV")] = Format.jsonl,
    force: Annotated[bool, typer.Option("--force", help="overwrite OUTPUT if it exists")] = False,
) -> None:
    """Write every order (oldest first) with its status and its payload as sent; print {"orders": N, "output": path}."""
    check_output(output, force)
    store = open_store(settings_or_exit())
    try:
        records = [export_record(o, store.orders.leads_of(o.id)) for o in _all_orders(store)]
    finally:
        store.close()

    def write(out) -> None:
        if fmt == Format.jsonl:
            for r in records:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for r in records:
                writer.writerow(_csv_row(r))

    write_atomically(output, write)
    print(json.dumps({"orders": len(records), "output": str(output.resolve())}, ensure_ascii=False))


def _usable_targets(config, only: str | None) -> tuple[list[str], int]:
    """The targets to work (`only`, or every target of config/delivery.yaml) whose secrets are
    set, and how many were skipped because theirs are not, each named in a warning. Fails when
    the named target, or every target, is unusable: there would be nothing to do."""
    from delivery.errors import DeliveryConfigError
    from delivery.targets.base import build_target
    targets = config.delivery.targets
    if not targets:
        _fail(f"no delivery target: {config.directory}/delivery.yaml is absent or names none")
    if only is not None and only not in targets:
        _fail(f"unknown delivery target {only} (known: {', '.join(targets)})")
    usable, broken = [], {}
    for name in [only] if only is not None else list(targets):
        try:
            build_target(name, targets[name], os.environ).close()
            usable.append(name)
        except DeliveryConfigError as exc:
            why = str(exc)
            broken[name] = why.removeprefix(f"target {name}: ")
    if only is not None and broken:
        _fail(f"delivery target {only} is not usable: {broken[only]}")
    for name, why in broken.items():  # the others are still worked
        print(f"warning: skipping delivery target {name}: {why}", file=sys.stderr)
    if not usable:
        _fail("no delivery target is usable (see the warnings above)")
    return usable, len(broken)


@orders_app.command("deliver")
def deliver(
    max_seconds: Annotated[float, typer.Option("--max-seconds", min=1, help="stop after this long")] = 240.0,
    target: Annotated[str | None, typer.Option("--target", help="only this delivery target")] = None,
) -> None:
    """One pass of the delivery worker over the due orders; print its counts as JSON."""
    from core.models import Window
    from delivery import stage
    settings = settings_or_exit()
    config = config_or_exit(settings)
    usable, skipped = _usable_targets(config, target)
    store = open_store(settings)
    try:
        counts = stage.deliver(store, config, Window.last(1), targets=usable, max_seconds=max_seconds)
    finally:
        store.close()
    print(json.dumps({**counts, "targets_unusable": skipped}, ensure_ascii=False))


@orders_app.command("sync")
def sync(
    since_minutes: Annotated[float, typer.Option("--since-minutes", min=1,
                                                 help="pull updates published in the last M minutes")] = 60.0,
) -> None:
    """One status pull from the targets that publish updates, applied to the orders; print the counts as JSON."""
    from core.models import Window
    from delivery import stage
    settings = settings_or_exit()
    config = config_or_exit(settings)
    usable, skipped = _usable_targets(config, None)
    store = open_store(settings)
    try:
        counts = stage.sync_status(store, config, Window.last(since_minutes / (24 * 60)), targets=usable)
    finally:
        store.close()
    print(json.dumps({**counts, "targets_unusable": skipped}, ensure_ascii=False))
    if counts.get("targets_failed"):
        _fail(f"{counts['targets_failed']} receiver(s) could not be read (see the warnings above)")


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level app."""
    app.add_typer(orders_app, name="orders")
