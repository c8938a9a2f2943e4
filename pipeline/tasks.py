"""Entry points for schedulers: run one named stage over a data interval.

Airflow tasks call `run_named_stage` with their data interval. Enrich and cluster look back
`lookback_days` from the interval end because posts arrive late; both are idempotent, so the
overlap costs little and re-runs and backfills are safe.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from core.config import load_config
from core.models import Window
from core.settings import Settings
from core.store import Store
from pipeline.runner import cluster_stage, crawl_stage, enrich_stage, run_stage

LOOKBACK_DAYS = 30


def interval_window(start: datetime | None, end: datetime | None, lookback_days: float = LOOKBACK_DAYS) -> Window:
    if end is None:
        raise ValueError("the task has no data interval end; run it from a scheduled or triggered DAG run")
    return Window(end - timedelta(days=lookback_days), end)


def run_named_stage(name: str, start: datetime | None, end: datetime | None) -> dict[str, int]:
    settings = Settings()
    config = load_config(settings.config_dir)
    stages = {"crawl": crawl_stage(settings), "enrich": enrich_stage, "cluster": cluster_stage}
    if name not in stages:
        raise ValueError(f"unknown stage {name!r}; known: {sorted(stages)}")
    store = Store.open(settings.db_url)
    try:
        return run_stage(name, stages[name], store, config, interval_window(start, end)).counts
    finally:
        store.close()
