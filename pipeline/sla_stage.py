"""The `sla` stage: record every open lead whose dispatch deadline passed by the window's end.

It reads and writes only the store (core), so it needs no stage package. The deadline is
judged against `window.end`, never now(): a re-run or backfill of the same window records the
same breaches, and each lead is recorded once however often the stage runs.
"""
from __future__ import annotations

from core.config import Config
from core.models import Window
from core.store import Store


def record_sla_breaches(store: Store, config: Config, window: Window) -> dict[str, int]:
    """Counts: `breaches_new` recorded by this run, `breached_open` open leads past their
    deadline at the window's end (recorded now or by an earlier run)."""
    new = store.triage.record_breaches(window.end)
    open_now = store.triage.status_counts(now=window.end)["breached"]
    return {"breaches_new": new, "breached_open": open_now}
