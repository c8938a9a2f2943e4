"""The delivery worker as a process of its own, for tests and benchmarks that kill it.

    DATABASE_URL=sqlite:///... RADAR_CONFIG_DIR=... RADAR_WO_API_KEY=... RADAR_WO_WEBHOOK_SECRET=... \
    python -m tests.delivery.fault_worker --expect 1000 --lease 3 --seed 1 --max-seconds 600

Runs `delivery.worker.deliver` over the store again and again (rounds of at most a second; a
round ends early when nothing is due, and then the next waits `--poll` seconds) until `--expect` orders are delivered or dead,
or `--max-seconds` pass. Prints one JSON line of totals by outcome every second and at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from core.config import load_config
from core.store import Store
from delivery import stage, worker


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--lease", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=600.0)
    p.add_argument("--poll", type=float, default=0.1)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--targets", default=None)
    args = p.parse_args(argv)

    store = Store.open(os.environ["DATABASE_URL"], migrate=False)
    config = load_config(Path(os.environ["RADAR_CONFIG_DIR"]))
    targets, broken = stage.open_targets(config, only=args.targets.split(",") if args.targets else None)
    if broken:
        print(json.dumps({"broken": broken}), flush=True)
        return 2
    rng = random.Random(args.seed)
    totals: Counter = Counter()
    started = time.monotonic()
    deadline = started + args.max_seconds
    last_print = 0.0

    def report(done: bool = False) -> None:
        counts = store.orders.counts()
        print(json.dumps({"totals": dict(totals), "delivered": counts.get("delivery_delivered", 0),
                          "dead": counts.get("delivery_dead", 0), "pending": counts.get("delivery_pending", 0),
                          "seconds": round(time.monotonic() - started, 2), "done": done}), flush=True)

    try:
        while time.monotonic() < deadline:
            got = worker.deliver(store, config, targets, lease=timedelta(seconds=args.lease), rng=rng,
                                 batch=args.batch, concurrency=args.concurrency,
                                 max_seconds=max(0.0, min(1.0, deadline - time.monotonic())))
            totals.update(got)
            counts = store.orders.counts()
            if counts.get("delivery_delivered", 0) + counts.get("delivery_dead", 0) >= args.expect:
                report(done=True)
                return 0
            if time.monotonic() - last_print >= 1.0:
                report()
                last_print = time.monotonic()
            if not got:
                time.sleep(args.poll)
        report()
        return 1
    finally:
        for target in targets.values():
            target.close()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
