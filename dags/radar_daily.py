"""
### Civic Radar: daily report

Daily, for the previous day (its data interval): **coverage** (which platforms ran, which were
blocked or failed and why, which never ran), **overdue leads** (open leads first seen longer
ago than `overdue_lead_hours` in `config/radar.yaml`, as of the interval end), **SLA
breaches** (leads whose dispatch deadline fell in the day and passed undispatched, by district
and category, and the open leads past their deadline at the interval end), **work orders**
(counts by status and delivery state; dead-lettered orders an analyst must retry; overdue
orders, past their resolution deadline at the interval end and not resolved: supervision
(督办) warnings with the hours over; returned orders (退单) waiting to be re-routed; up to 50
listed each), and the **class cases and spikes** from `clustering.trends`.

Beside it, **retention**: raw posts published more than `retention.raw_post_days` before the
interval end are forgotten everywhere they are copied (`radar retention purge`).

The report is written to `$RADAR_HOME/reports/<date>.json` (a re-run overwrites it with the
same content, except the work orders: the store keeps their current state, so they are as they
stand when the report runs) and returned as the task's XCom.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

DEFAULT_ARGS = {
    "owner": "civic-radar",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(minutes=30),
}


@dag(
    dag_id="radar_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["civic-radar", "report"],
    doc_md=__doc__,
)
def radar_daily():
    @task
    def daily_report(data_interval_start=None, data_interval_end=None) -> dict:
        from pipeline.tasks import daily_report as report
        return report(data_interval_start, data_interval_end)

    @task
    def retention(data_interval_end=None) -> dict:
        from pipeline.tasks import retention_purge
        return retention_purge(data_interval_end)

    daily_report()
    retention()


radar_daily()

if __name__ == "__main__":
    radar_daily().test()
