"""Run the reference work-order system in the foreground (for the demo); Ctrl-C stops it.

    python -m delivery.reference --port 8311 [--data-dir D] [--faults drop=0.1,error=0.05]
        [--speed 1.0|none] [--api-key K] [--webhook-secret S] [--callback-base URL]
        [--callback-secret S] [--token-mode SHARE] [--catalogue config/]

Secrets default to the environment variables config/delivery.yaml names (RADAR_WO_API_KEY,
RADAR_WO_WEBHOOK_SECRET, RADAR_WO_CALLBACK_SECRET); a missing api key or webhook secret is made
up and printed, so the demo can be pointed at it.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from delivery.reference import DEFAULT_SERVICES, FaultPlan, ReferenceWorkOrderSystem, new_secret


def _services(catalogue: str | None) -> list[tuple[str, str, str]]:
    if not catalogue:
        return list(DEFAULT_SERVICES)
    from core.config import load_config
    config = load_config(Path(catalogue))
    return [(item.id, item.name, category.name) for category in config.catalogue.categories
            for item in category.items]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m delivery.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8311)
    parser.add_argument("--data-dir", default=None, help="keep orders across restarts in DIR/reference-orders.json")
    parser.add_argument("--faults", default="", help="e.g. drop=0.1,error=0.05,timeout=0.02,hang_seconds=3,seed=7")
    parser.add_argument("--speed", default="1.0", help="seconds per lifecycle step, or 'none' for manual statuses")
    parser.add_argument("--api-key", default=os.environ.get("RADAR_WO_API_KEY"))
    parser.add_argument("--webhook-secret", default=os.environ.get("RADAR_WO_WEBHOOK_SECRET"))
    parser.add_argument("--callback-base", default=None, help="Civic Radar's base URL for status callbacks")
    parser.add_argument("--callback-secret", default=os.environ.get("RADAR_WO_CALLBACK_SECRET"))
    parser.add_argument("--token-mode", type=float, default=0.0, help="share of Open311 filings answered with a token")
    parser.add_argument("--catalogue", default=None, help="a config directory: serve its catalogue items as services")
    args = parser.parse_args(argv)

    try:
        faults = FaultPlan.parse(args.faults)
        speed = None if args.speed.lower() in ("none", "manual", "off") else float(args.speed)
    except ValueError as exc:
        parser.error(str(exc))
    made_up = []
    if not args.api_key:
        args.api_key = os.urandom(12).hex()
        made_up.append(f"api key {args.api_key}")
    if not args.webhook_secret:
        args.webhook_secret = new_secret()
        made_up.append(f"webhook secret {args.webhook_secret}")

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    system = ReferenceWorkOrderSystem(
        port=args.port, api_key=args.api_key, webhook_secret=args.webhook_secret, callback_base=args.callback_base,
        callback_secret=args.callback_secret if args.callback_base else None, services=_services(args.catalogue),
        faults=faults, speed=speed, data_dir=args.data_dir, token_mode=args.token_mode)
    with system:
        print(f"reference work-order system at {system.url} (open311: {system.open311_url}, "
              f"webhook: {system.webhook_url}); Ctrl-C stops it", flush=True)
        if made_up:
            print("made up: " + "; ".join(made_up), flush=True)
        while not stop.wait(0.5):
            pass
        print(f"stopping: {system.received} filings received, {len(system.orders())} orders", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
