"""Entry points for schedulers: run one named stage over a data interval.

Airflow tasks call `run_named_stage` with their data interval. Enrich and cluster look back
`lookback_days` from the interval end because posts arrive late; both are idempotent, so the
overlap costs little and re-runs and backfills are safe.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from core.config import load_config
from core.models import Window
from core.settings import Settings
from core.store import Store
from pipeline.runner import cluster_stage, crawl_stage, embed_stage, enrich_stage, index_stage, run_stage, sla_stage

LOOKBACK_DAYS = 30


def interval_window(start: datetime | None, end: datetime | None, lookback_days: float = LOOKBACK_DAYS) -> Window:
    if end is None:
        raise ValueError("the task has no data interval end; run it from a scheduled or triggered DAG run")
    return Window(end - timedelta(days=lookback_days), end)


def run_named_stage(name: str, start: datetime | None, end: datetime | None) -> dict[str, int]:
    settings = Settings()
    config = load_config(settings.config_dir)
    stages = {"crawl": crawl_stage(settings), "enrich": enrich_stage, "embed": embed_stage, "cluster": cluster_stage,
              "index": index_stage, "sla": sla_stage}
    if name not in stages:
        raise ValueError(f"unknown stage {name!r}; known: {sorted(stages)}")
    store = Store.open(settings.db_url)
    try:
        return run_stage(name, stages[name], store, config, interval_window(start, end)).counts
    finally:
        store.close()


# --- Airflow: one crawl task per platform, coverage, asset-triggered processing, daily report ---

class PlatformCrawlError(RuntimeError):
    """A platform's crawl read nothing and failed (HTTP errors, crash): the task fails and retries.

    A *blocked* platform (captcha, login wall) is not an error: its task succeeds and its coverage
    record says why, because retrying a block within minutes only deepens it.
    """


def embed_shards() -> list[dict[str, int]]:
    """The embed tasks of one radar_process run: RADAR_EMBED_SHARDS of them, each told the count
    so that every worker partitions the texts alike."""
    n = Settings().embed_shards
    return [{"shard": i, "shards": n} for i in range(n)]


def embed_shard(shard: int, shards: int, start: datetime | None, end: datetime | None) -> dict[str, int]:
    """One embed task: shard `shard` of `shards` of the window's texts (clustering.embed_stage),
    recorded as the stage run `embed` like any other stage."""
    from clustering.embed_stage import embed
    settings = Settings()
    config = load_config(settings.config_dir)
    store = Store.open(settings.db_url)
    try:
        return run_stage("embed", lambda s, c, w: embed(s, c, w, shard=shard, shards=shards), store, config,
                         interval_window(start, end)).counts
    finally:
        store.close()


def list_enabled_platforms() -> list[str]:
    """Names of the enabled platforms in the registry, in registry order (read at run time)."""
    config = load_config(Settings().config_dir)
    return [p.name for p in config.platforms if p.enabled]


def pool_name(platform: str) -> str:
    """The Airflow pool capping one platform's concurrent crawls."""
    from pipeline.airflow_policy import pool_for_platform
    return pool_for_platform(platform)


def platform_pools(slots: int = 1) -> dict[str, dict]:
    """`airflow pools import` content: one pool per enabled platform, `slots` concurrent crawls each.

    One slot by default: two crawls of the same platform would fight over its checkpoints and
    double its request rate.
    """
    return {pool_name(name): {"slots": slots, "include_deferred": False,
                              "description": f"Civic Radar: concurrent crawls of {name}"}
            for name in list_enabled_platforms()}


def delivery_pools(slots: int = 1) -> dict[str, dict]:
    """`airflow pools import` content: one pool per target of config/delivery.yaml.

    One slot by default: one worker per receiver at a time keeps its circuit breaker and rate
    cap meaningful (two would each probe a failing receiver and double its request rate).
    """
    from pipeline.airflow_policy import pool_for_target
    return {pool_for_target(name): {"slots": slots, "include_deferred": False,
                                    "description": f"Civic Radar: concurrent work-order deliveries to {name}"}
            for name in list_delivery_targets()}


def airflow_pools() -> dict[str, dict]:
    """Every pool the DAGs route mapped tasks to: the platforms' and the delivery targets'."""
    return {**platform_pools(), **delivery_pools()}


def _run_record(run) -> dict:
    return {"query": run.query, "status": run.status, "pages": run.pages, "posts_new": run.posts_new,
            "posts_updated": run.posts_updated, "errors": dict(run.errors),
            "blocked_reason": run.blocked_reason, "alarms": list(run.alarms)}


def crawl_platform(name: str, start: datetime | None, end: datetime | None) -> dict:
    """Crawl one platform (every query) from its checkpoints back to the window start.

    Returns its coverage (JSON-safe). Blocked or partly read: returned, the task succeeds.
    Nothing read because of errors: raises `PlatformCrawlError` so Airflow retries this platform
    alone; its coverage record (status error) is already in the store.
    """
    settings = Settings()
    config = load_config(settings.config_dir)
    config.platform(name)  # KeyError naming the platform when the registry no longer has it
    store = Store.open(settings.db_url)
    try:
        captured: dict = {}

        def stage(store_: Store, config_, window: Window) -> dict[str, int]:
            from crawlers.stage import crawl
            summary = crawl(store_, config_, window, platforms=[name], salt=settings.author_salt)
            captured["runs"] = summary.runs
            return {"posts_new": summary.posts_new, "posts_updated": summary.posts_updated,
                    "runs": len(summary.runs), "pages": sum(r.pages for r in summary.runs),
                    "blocked": sum(r.status == "blocked" for r in summary.runs),
                    "failed": sum(r.status == "error" for r in summary.runs)}

        run = run_stage(f"crawl:{name}", stage, store, config, interval_window(start, end))
    finally:
        store.close()
    runs = captured["runs"]
    statuses = {r.status for r in runs}
    status = next((s for s in ("error", "blocked", "partial", "ok") if s in statuses), "ok")
    result = {"platform": name, "status": status, **run.counts, "queries": [_run_record(r) for r in runs]}
    if status == "error":
        reasons = "; ".join(f"{r.query}: {r.blocked_reason or r.errors}" for r in runs if r.status == "error")
        raise PlatformCrawlError(f"{name}: crawl read nothing ({reasons}); coverage recorded, will retry")
    return result


def crawl_coverage(platforms: list[str], since: datetime) -> dict:
    """The newest coverage record per (platform, query) started since `since` (this DAG run).

    Read from the store rather than from task results, so a platform whose task failed (and a
    retry's earlier attempts) still shows up with its reason.
    """
    settings = Settings()
    store = Store.open(settings.db_url)
    try:
        records = store.crawl.runs(limit=max(200, 50 * len(platforms)))
    finally:
        store.close()
    since = since - timedelta(seconds=1)  # some backends keep whole seconds
    wanted = set(platforms)
    newest: dict[tuple[str, str], object] = {}
    posts_new = posts_updated = 0
    for r in records:  # newest first
        if r.platform in wanted and r.started_at >= since:
            posts_new += r.posts_new
            posts_updated += r.posts_updated
            newest.setdefault((r.platform, r.query), r)
    per_platform: dict[str, dict] = {name: {"status": "not_run", "queries": []} for name in platforms}
    for (platform, _), r in sorted(newest.items()):
        per_platform[platform]["queries"].append(_run_record(r))
    for entry in per_platform.values():
        statuses = {q["status"] for q in entry["queries"]}
        entry["status"] = next((s for s in ("error", "blocked", "partial", "ok") if s in statuses), "not_run")
    return {"since": since.isoformat(), "posts_new": posts_new, "posts_updated": posts_updated,
            "platforms": per_platform}


# --- Airflow: work-order delivery (radar_delivery), one task per target, then a status pull ---

#: One target's pass of the outbox: inside the 5-minute schedule, so a run ends before the next.
DELIVER_MAX_SECONDS = 240.0
#: The window of a run whose data interval is empty (a cron schedule's runs start where they
#: end) or has no start: one schedule interval.
DELIVERY_INTERVAL = timedelta(minutes=5)
#: How far back a status pull reaches after failed runs (see `sync_orders`). Longer outages
#: lose pulled updates older than this; pushed callbacks are not affected.
SYNC_MAX_LOOKBACK = timedelta(days=2)


class DeliveryTargetUnusable(RuntimeError):
    """A target of config/delivery.yaml could not be built (a secret's environment variable is
    unset or malformed): its task fails, naming why, and the other targets go on."""


class StatusSyncFailed(RuntimeError):
    """A receiver's status updates could not be pulled: the task fails after syncing the others,
    so the next run's window starts at the last successful one and the gap is pulled again."""


def list_delivery_targets() -> list[str]:
    """Names of every target of config/delivery.yaml, in file order (read at run time)."""
    return list(load_config(Settings().config_dir).delivery.targets)


def _delivery_window(start: datetime | None, end: datetime | None) -> Window:
    """[start, end), or the schedule interval before `end` when that would be empty."""
    if end is None:
        raise ValueError("the task has no data interval end; run it from a scheduled or triggered DAG run")
    return Window(start if start is not None and start < end else end - DELIVERY_INTERVAL, end)


def deliver_target(name: str, start: datetime | None, end: datetime | None,
                   max_seconds: float = DELIVER_MAX_SECONDS) -> dict:
    """One pass of the delivery worker over the due orders of target `name` (at most
    `max_seconds`). Returns the worker's counts (delivered, token, retry, dead, postponed) and
    what the target still holds (pending, dead), JSON-safe.

    Raises KeyError naming the target when config/delivery.yaml no longer has it, and
    `DeliveryTargetUnusable` when its secret is missing. Receiver failures are not task
    failures: the worker records them on the orders (retry with backoff, dead-letter), and a
    dead order is for an analyst, not for an Airflow retry.
    """
    from delivery import stage
    settings = Settings()
    config = load_config(settings.config_dir)
    if name not in config.delivery.targets:
        raise KeyError(f"no delivery target named '{name}' in delivery.yaml")
    window = _delivery_window(start, end)
    store = Store.open(settings.db_url)
    try:
        counts = stage.deliver(store, config, window, targets=[name], max_seconds=max_seconds)
        if counts.get("targets_unusable"):
            _, broken = stage.open_targets(config, only=[name])
            raise DeliveryTargetUnusable(f"{name}: {broken.get(name, 'could not be built')}")
        pending = store.orders.list(target=name, delivery="pending", limit=1)[0]
        dead = store.orders.list(target=name, delivery="dead", limit=1)[0]
    finally:
        store.close()
    counts.pop("targets_unusable", None)
    return {"target": name, **counts, "pending": pending, "dead": dead}


def sync_orders(start: datetime | None, end: datetime | None,
                previous_success_end: datetime | None = None) -> dict:
    """Pull the status updates every target published in [start, end) (plus the stage's overlap)
    and apply them to the orders. Returns the counts (applied, repeated, unknown, ...).

    `previous_success_end` is where the last successful run's window ended: when it is earlier
    than `start` (runs failed, or the scheduler was down and `catchup=False` skipped intervals)
    the pull starts there instead, at most `SYNC_MAX_LOOKBACK` back, so no published update
    falls between two windows. Raises `StatusSyncFailed` when a receiver could not be read
    (after the others were), so that this run does not count as the last success.
    """
    from delivery import stage
    window = _delivery_window(start, end)
    # Airflow hands this context value over as a lazy proxy (of None when no run succeeded yet):
    # isinstance sees through it, `is None` does not.
    previous_success_end = (datetime.fromtimestamp(previous_success_end.timestamp(), timezone.utc)
                            if isinstance(previous_success_end, datetime) else None)
    if previous_success_end is not None and previous_success_end < window.start:
        window = Window(max(previous_success_end, end - SYNC_MAX_LOOKBACK), end)
    settings = Settings()
    config = load_config(settings.config_dir)
    store = Store.open(settings.db_url)
    try:
        counts = stage.sync_status(store, config, window)
    finally:
        store.close()
    result = {"since": window.start.isoformat(), "until": window.end.isoformat(), **counts}
    if counts.get("targets_failed"):
        raise StatusSyncFailed(f"{counts['targets_failed']} receiver(s) could not be read; "
                               f"the others were synced: {result}")
    return result


def window_end(data_interval_end: datetime | None, asset_events: Iterable[tuple[datetime, dict]] | Any = (),
               run_after: datetime | None = None) -> datetime:
    """The end of the window a DAG run works on.

    Scheduled or backfilled: its data interval end. Asset-triggered (no data interval): the newest
    crawl window end named in the triggering events, else the newest event time, else the run's
    `run_after`. Always a property of the run, never `now()`, so a re-run repeats the same window.
    """
    if data_interval_end is not None:
        return data_interval_end
    if hasattr(asset_events, "values"):  # Airflow's triggering_asset_events: asset -> [events]
        asset_events = [(e.timestamp, e.extra) for events in asset_events.values() for e in events]
    ends = []
    for timestamp, extra in asset_events:
        named = (extra or {}).get("window_end")
        ends.append(datetime.fromisoformat(named) if named else timestamp)
    if ends:
        return max(ends)
    if run_after is None:
        raise ValueError("the run has no data interval, no triggering asset event and no run_after")
    return run_after


# --- the daily report ---------------------------------------------------------------------------

OPEN_LEAD_STATUSES = ("new", "in_review", "verified")
OVERDUE_LISTED = 100
SLA_LISTED = 50


def _coverage_summary(store: Store, config, window: Window) -> dict:
    """Which platforms ran in the window, which were blocked or failed and why, which never ran."""
    per: dict[str, dict] = {}
    limit = 2000
    while True:  # crawl_runs is newest first; widen until the window's start is covered
        records = store.crawl.runs(limit=limit)
        if len(records) < limit or records[-1].started_at < window.start:
            break
        limit *= 4
    for r in records:
        if not (window.start <= r.started_at < window.end):
            continue
        entry = per.setdefault(r.platform, {"runs": 0, "statuses": {}, "posts_new": 0, "pages": 0,
                                            "reasons": {}, "last_status": r.status,
                                            "last_run": r.finished_at.isoformat()})
        entry["runs"] += 1
        entry["statuses"][r.status] = entry["statuses"].get(r.status, 0) + 1
        entry["posts_new"] += r.posts_new
        entry["pages"] += r.pages
        if r.status in ("blocked", "error") and r.blocked_reason:
            entry["reasons"][r.blocked_reason] = entry["reasons"].get(r.blocked_reason, 0) + 1
    enabled = [p.name for p in config.platforms if p.enabled]
    return {
        "platforms": dict(sorted(per.items())),
        "ran": sorted(per),
        "blocked": sorted(n for n, e in per.items() if e["statuses"].get("blocked")),
        "failed": sorted(n for n, e in per.items() if e["statuses"].get("error")),
        "not_run": [n for n in enabled if n not in per],
    }


def _overdue_leads(store: Store, config, as_of: datetime) -> dict:
    """Open leads (new or verified) first seen longer ago than `overdue_lead_hours` before `as_of`."""
    hours = config.radar.overdue_lead_hours
    deadline = as_of - timedelta(hours=hours)
    overdue = []
    for status in OPEN_LEAD_STATUSES:
        offset = 0
        while True:
            _, page = store.leads.list(status=status, limit=500, offset=offset)
            overdue += [lead for lead in page if lead.first_seen <= deadline]
            if len(page) < 500:
                break
            offset += 500
    overdue.sort(key=lambda lead: (lead.first_seen, lead.id))
    return {
        "deadline_hours": hours,
        "as_of": as_of.isoformat(),
        "count": len(overdue),
        "by_status": {s: sum(lead.status == s for lead in overdue) for s in OPEN_LEAD_STATUSES},
        "leads": [{"id": lead.id, "status": str(lead.status), "title": lead.title, "category": lead.category,
                   "district": lead.district, "unit": lead.unit, "urgent": lead.urgent,
                   "priority": round(lead.priority, 4), "first_seen": lead.first_seen.isoformat(),
                   "last_seen": lead.last_seen.isoformat(),
                   "hours_open": round((as_of - lead.first_seen).total_seconds() / 3600, 1)}
                  for lead in overdue[:OVERDUE_LISTED]],
    }


def _sla_section(store: Store, config, window: Window) -> dict:
    """SLA breaches whose deadline fell in the window (as recorded by the `sla` stage), and the
    open leads past their deadline at the window's end."""
    from pipeline.sla_stage import record_sla_breaches
    from core.store.triage import QueueQuery
    # radar_process runs only when a crawl brings posts; on a quiet day nothing else would
    # record the day's breaches before they are reported. Idempotent, judged at window.end.
    record_sla_breaches(store, config, window)
    breaches = store.triage.breaches(window.start, window.end)
    open_total, open_leads = store.triage.queue(QueueQuery(sla="breached", sort="time_left",
                                                           limit=SLA_LISTED), now=window.end)

    def tally(values) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in values:
            counts[v or "unknown"] = counts.get(v or "unknown", 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    return {
        "due_between": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "count": len(breaches),
        "urgent": sum(b.urgent for b in breaches),
        "by_district": tally(b.district for b in breaches),
        "by_category": tally(b.category for b in breaches),
        "breaches": [{"lead_id": b.lead_id, "due_at": b.due_at.isoformat(), "status": b.status,
                      "claimed_by": b.claimed_by, "district": b.district, "category": b.category,
                      "urgent": b.urgent, "recorded_at": b.recorded_at.isoformat()}
                     for b in breaches[:SLA_LISTED]],
        "open_breached": {
            "as_of": window.end.isoformat(),
            "count": open_total,
            "leads": [{"id": lead.id, "status": str(lead.status), "title": lead.title,
                       "district": lead.district, "category": lead.category, "urgent": lead.urgent,
                       "claimed_by": lead.claimed_by, "due_at": lead.sla_due_at.isoformat(),
                       "minutes_over": round((window.end - lead.sla_due_at).total_seconds() / 60, 1)}
                      for lead in open_leads],
        },
    }


WORK_ORDERS_LISTED = 50


def _work_orders_section(store: Store, config, window: Window) -> dict:
    """Work orders as they stand when the report is made (the store keeps each order's current
    state only): counts by status and by delivery state; the dead-lettered ones (delivery gave
    up, an analyst must retry them); the overdue ones, past their resolution deadline at the
    window end and not resolved: supervision (督办) warnings with the hours over; and the
    returned ones (退单) waiting for an analyst to re-route them. Each list holds up to
    `WORK_ORDERS_LISTED`, its count is the whole."""
    from core.orders import DeliveryState, OrderStatus
    from delivery.stage import overdue
    counts = store.orders.counts()
    dead_total, dead = store.orders.list(delivery=DeliveryState.DEAD.value, limit=WORK_ORDERS_LISTED)
    returned_total, returned = store.orders.list(status=OrderStatus.RETURNED.value, limit=WORK_ORDERS_LISTED)
    late = overdue(store, config, window)
    by_delivery = {d.value: counts.get(f"delivery_{d.value}", 0) for d in DeliveryState}
    return {
        "as_of": window.end.isoformat(),
        "total": sum(by_delivery.values()),
        "by_status": {s.value: counts.get(f"status_{s.value}", 0) for s in OrderStatus},
        "by_delivery": by_delivery,
        "dead": {"count": dead_total,
                 "orders": [{"id": o.id, "lead_id": o.lead_id, "target": o.target, "unit": o.unit,
                             "district": o.place.district, "attempts": o.attempts, "last_error": o.last_error,
                             "created_at": o.created_at.isoformat(), "updated_at": o.updated_at.isoformat()}
                            for o in dead]},
        # store.orders.overdue is oldest deadline first: the longest overdue come first
        "overdue": {"count": len(late), "orders": late[:WORK_ORDERS_LISTED]},
        "returned": {"count": returned_total,
                     "orders": [{"id": o.id, "lead_id": o.lead_id, "unit": o.unit, "district": o.place.district,
                                 "item": o.item, "reason": o.status_reason, "sends": o.sends,
                                 "returned_at": o.status_at.isoformat() if o.status_at else None}
                                for o in returned]},
    }


def _trends_section(store: Store, config, window: Window) -> dict:
    """Class cases and spikes as of the window end (spikes are also stored as warnings)."""
    from pipeline.runner import trends_report
    return trends_report(store, config, window).as_dict()


def daily_report(start: datetime | None, end: datetime | None) -> dict:
    """The report for [start, end): coverage, overdue leads, SLA breaches due in the window
    and open leads breached at its end, work orders (counts, dead-lettered, overdue 督办,
    returned), and class-case trends and spikes. Written to $RADAR_HOME/reports/<start
    date>.json (overwritten on a re-run) and returned."""
    import json
    if start is None or end is None:
        raise ValueError("the daily report needs a data interval; run it from a scheduled or triggered DAG run")
    settings = Settings()
    config = load_config(settings.config_dir)
    window = Window(start, end)
    store = Store.open(settings.db_url)
    try:
        report: dict = {"window": {"start": start.isoformat(), "end": end.isoformat()},
                        "coverage": _coverage_summary(store, config, window),
                        "overdue_leads": _overdue_leads(store, config, end),
                        "sla": _sla_section(store, config, window),
                        "work_orders": _work_orders_section(store, config, window)}
        report["trends"] = _trends_section(store, config, window)
    finally:
        store.close()
    out = settings.home / "reports" / f"{start.date().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    out.write_text(text, encoding="utf-8")
    report = json.loads(text)  # what was stored, JSON-safe for XCom
    report["path"] = str(out.resolve())
    return report


def retention_purge(end: datetime | None) -> dict:
    """Forget the raw posts published more than retention.raw_post_days before `end` (the run's
    data interval end, never now(): a re-run or backfill purges the same), everywhere they are
    copied, audited as one request (pipeline.forget)."""
    from core.search import SearchUnavailable, open_search
    from pipeline.forget import purge_retention, retention_request
    if end is None:
        raise ValueError("retention needs a data interval end; run it from a scheduled or triggered DAG run")
    settings = Settings()
    config = load_config(settings.config_dir)
    request, cutoff = retention_request(config, end, "radar_daily")
    store = Store.open(settings.db_url)
    try:
        try:
            search = open_search(settings, store)
        except SearchUnavailable:
            search = None  # a PostgreSQL store without ELASTICSEARCH_URL has no index to purge
        try:
            summary = purge_retention(store, config, search, request, cutoff)
        finally:
            if search is not None:
                search.close()
    finally:
        store.close()
    if summary.search.startswith("failed"):
        # the store is purged; the index is not: fail so Airflow retries (a re-run is idempotent)
        raise RuntimeError(f"retention purged the store but not the search index: {summary.search}")
    return summary.as_dict()
