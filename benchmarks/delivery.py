"""Work-order delivery: how soon a verified lead reaches the work-order system, and how soon a
queue built up during an outage drains once the receiver is back.

    python -m benchmarks.delivery [--orders 1000] [--outage-seconds 600] [--rate 20] [--poll 0.1]
                                  [--skip-latency] [--skip-drain] [--workdir DIR]

Both parts run against the reference work-order system (delivery.reference; no faults, no
lifecycle) over a file-backed SQLite store, with the delivery worker in a process of its own
(tests/delivery/fault_worker.py: `delivery.worker.deliver` in a loop, `--poll` seconds between
rounds when nothing is due) and config/delivery.yaml as it is in the repository except the
targets' URLs (so backoff_max_seconds 300, breaker_open_seconds 30, max_attempts 12). Orders
are spread over both kinds of target (Open311 and the signed webhook) by district.

(a) verify-to-delivered, healthy receiver: `--orders` new leads are verified and dispatched
    through the desk (`Desk.act(verify)` then `Desk.dispatch`), `--rate` leads a second, while
    the worker runs; per order, the time from the verify call to the store recording it
    delivered (the order's updated_at at delivery). p50/p95/max.
(b) drain after an outage: the receiver goes down, `--orders` verified leads are dispatched,
    the worker keeps trying (backoff and breaker as configured) for `--outage-seconds`, the
    receiver comes back; the time from its return to the last order delivered (and p50/p95),
    with the outbox's schedule at the moment it came back (how far ahead orders were asleep).

Prints both figures; the last line is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from core.config import load_config
from core.models import LeadStatus, utcnow
from core.orders import DeliveryState
from core.store import Store
from delivery.reference import ReferenceWorkOrderSystem, new_secret
from leads_api.desk import Desk
from tests.delivery.rig import (ACTOR, API_KEY_ENV, CALLBACK_SECRET_ENV, REPO, WEBHOOK_SECRET_ENV, WorkerProcess,
                                seed_leads, services, write_config)

API_KEY = "bench-api-key"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "max": None, "mean": None}
    return {"p50": round(_pct(values, 0.50), 3), "p95": round(_pct(values, 0.95), 3),
            "max": round(max(values), 3), "mean": round(statistics.fmean(values), 3)}


class Rig:
    """A reference system, a config copy pointed at it, a store, and the worker's environment."""

    def __init__(self, workdir: Path, name: str, repo_config):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        secret = new_secret()
        self.system = ReferenceWorkOrderSystem(api_key=API_KEY, webhook_secret=secret, services=services(repo_config),
                                               speed=None).start()
        cfg_dir = write_config(self.dir / "config", open311_url=self.system.open311_url,
                               webhook_url=self.system.webhook_url)
        self.config = load_config(cfg_dir)
        self.db_url = f"sqlite:///{self.dir}/radar.db"
        self.store = Store.open(self.db_url)
        self.env = {API_KEY_ENV: API_KEY, WEBHOOK_SECRET_ENV: secret, CALLBACK_SECRET_ENV: new_secret(),
                    "DATABASE_URL": self.db_url, "RADAR_CONFIG_DIR": str(cfg_dir)}
        self.worker: WorkerProcess | None = None

    def start_worker(self, expect: int, poll: float, max_seconds: float) -> WorkerProcess:
        self.worker = WorkerProcess.start(self.env, self.dir / "worker.log", expect=expect, lease=120, seed=1,
                                          max_seconds=max_seconds, poll=poll)
        return self.worker

    def targets(self) -> dict[str, int]:
        _, orders = self.store.orders.list(limit=1_000_000)
        return dict(Counter(o.target for o in orders))

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.system.stop()
        self.store.close()


def latency(workdir: Path, repo_config, n: int, rate: float, poll: float) -> dict:
    rig = Rig(workdir, "latency", repo_config)
    try:
        lead_ids = seed_leads(rig.store, rig.config, n, status=LeadStatus.NEW, tag="latency")
        desk = Desk(rig.store, rig.config)
        worker = rig.start_worker(n, poll, max_seconds=3600)
        time.sleep(1.5)  # the worker's start-up (imports, config) is not a delivery latency
        verified_at: dict[str, datetime] = {}
        order_of: dict[str, str] = {}
        action_seconds = []
        started = time.monotonic()
        for k, lead_id in enumerate(lead_ids):
            if rate > 0:
                time.sleep(max(0.0, started + k / rate - time.monotonic()))
            t0 = time.monotonic()
            verified_at[lead_id] = utcnow()
            desk.act(ACTOR, lead_id, None, "verify")
            _, order = desk.dispatch(ACTOR, lead_id, None)
            order_of[lead_id] = order.id
            action_seconds.append(time.monotonic() - t0)
        dispatching = time.monotonic() - started
        code = worker.wait(timeout=600 + n)
        orders = {o.id: o for o in rig.store.orders.list(limit=n * 2)[1]}
        waits = [(orders[order_of[l]].updated_at - verified_at[l]).total_seconds() for l in lead_ids
                 if orders[order_of[l]].delivery == DeliveryState.DELIVERED]
        return {"orders": n, "rate_per_second": rate, "worker_poll_seconds": poll, "worker_exit": code,
                "delivered": len(waits), "by_target": rig.targets(), "dispatch_seconds": round(dispatching, 1),
                "verify_plus_dispatch_call_seconds": _summary(action_seconds),
                "verify_to_delivered_seconds": _summary(waits),
                "receiver_filings": rig.system.received, "receiver_requests": len(rig.system.requests())}
    finally:
        rig.close()


def drain(workdir: Path, repo_config, n: int, outage: float, poll: float) -> dict:
    rig = Rig(workdir, "drain", repo_config)
    try:
        lead_ids = seed_leads(rig.store, rig.config, n, tag="drain")
        rig.system.down()                      # until up()
        down_at = time.monotonic()
        worker = rig.start_worker(n, poll, max_seconds=outage + 3600)
        desk = Desk(rig.store, rig.config)
        for lead_id in lead_ids:
            desk.dispatch(ACTOR, lead_id, None)
        dispatched = time.monotonic() - down_at
        print(f"(b) receiver down; {n} orders dispatched in {dispatched:.1f} s; waiting out the outage", flush=True)
        while (left := down_at + outage - time.monotonic()) > 0:
            time.sleep(min(left, 60))
            if left > 60:
                c = rig.store.orders.counts()
                print(f"    {time.monotonic() - down_at:5.0f} s down: pending {c.get('delivery_pending', 0)}, "
                      f"dead {c.get('delivery_dead', 0)}, worker {worker.summary().get('totals')}", flush=True)
        # the outbox's schedule as the receiver comes back: how long orders still sleep
        back = utcnow()
        pending = [o for o in rig.store.orders.list(delivery="pending", limit=n * 2)[1]]
        with rig.store.engine.connect() as conn:
            from sqlalchemy import select

            from core.store import tables as t
            due = [r.next_attempt_at for r in conn.execute(select(t.work_orders.c.next_attempt_at).where(
                t.work_orders.c.delivery == "pending"))]
        ahead = [max(0.0, (d - back).total_seconds()) for d in due if d is not None]
        failures, open_until = rig.store.orders.breaker("city12345")
        rig.system.up()
        up = time.monotonic()
        up_at = utcnow()
        code = worker.wait(timeout=3600)
        _, orders = rig.store.orders.list(limit=n * 2)
        delivered = [o for o in orders if o.delivery == DeliveryState.DELIVERED]
        after = [max(0.0, (o.updated_at - up_at).total_seconds()) for o in delivered]
        attempts = Counter(o.attempts for o in orders)
        urgent = [o for o in delivered if o.urgent]
        urgent_after = [max(0.0, (o.updated_at - up_at).total_seconds()) for o in urgent]
        return {"orders": n, "outage_seconds": outage, "worker_exit": code, "delivered": len(delivered),
                "dead": sum(o.delivery == DeliveryState.DEAD for o in orders), "by_target": rig.targets(),
                "drain_seconds": round(max(after), 1) if after else None,
                "delivered_after_up_seconds": _summary(after),
                "at_up": {"pending": len(pending), "asleep_beyond_30s": sum(a > 30 for a in ahead),
                          "asleep_beyond_60s": sum(a > 60 for a in ahead), "sleep_seconds": _summary(ahead),
                          "breaker_city12345": {"failures": failures,
                                                "open_for_seconds": round((open_until - back).total_seconds(), 1)
                                                if open_until and open_until > back else 0}},
                "attempts_per_order": dict(sorted(attempts.items())),
                "urgent": {"orders": sum(o.urgent for o in orders),
                           "dead": sum(o.urgent and o.delivery == DeliveryState.DEAD for o in orders),
                           "mean_attempts": round(statistics.fmean(o.attempts for o in orders if o.urgent), 2),
                           "delivered_after_up_seconds": _summary(urgent_after)},
                "worker_totals": worker.summary().get("totals"),
                "wall_seconds_after_up": round(time.monotonic() - up, 1),
                "receiver_requests": len(rig.system.requests())}
    finally:
        rig.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.delivery", description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--outage-seconds", type=float, default=600.0)
    p.add_argument("--rate", type=float, default=20.0, help="(a) leads verified per second; 0: as fast as it goes")
    p.add_argument("--poll", type=float, default=0.1, help="the worker's pause when nothing is due")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-drain", action="store_true")
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args(argv)
    repo_config = load_config(REPO / "config")
    out: dict = {"benchmark": "delivery", "orders": args.orders}
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        if not args.skip_latency:
            a = latency(workdir, repo_config, args.orders, args.rate, args.poll)
            w = a["verify_to_delivered_seconds"]
            print(f"(a) verify-to-delivered, healthy receiver, {a['delivered']}/{a['orders']} orders at "
                  f"{args.rate:g}/s: p50 {w['p50']:.3f} s, p95 {w['p95']:.3f} s, max {w['max']:.3f} s", flush=True)
            out["latency"] = a
        if not args.skip_drain:
            b = drain(workdir, repo_config, args.orders, args.outage_seconds, args.poll)
            d = b["delivered_after_up_seconds"]
            print(f"(b) drain after a {args.outage_seconds:g} s outage: {b['delivered']}/{b['orders']} delivered "
                  f"{b['drain_seconds']} s after the receiver came back (p50 {d['p50']} s, p95 {d['p95']} s), "
                  f"{b['dead']} dead; at its return {b['at_up']['asleep_beyond_30s']} orders were asleep "
                  f"beyond 30 s (max {b['at_up']['sleep_seconds']['max']} s)", flush=True)
            out["drain"] = b
    print(json.dumps(out, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
