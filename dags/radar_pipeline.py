"""
### Civic Radar pipeline

One pass of every stage, hourly: **crawl** the configured platforms (from their checkpoints),
**enrich** new posts (relevance, category, place), **cluster** them into leads.

Each task runs one `pipeline` stage over its data interval and upserts, so re-runs and
backfills are safe. Settings come from the environment (`RADAR_HOME`, `DATABASE_URL`,
`RADAR_CONFIG_DIR`).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

DEFAULT_ARGS = {
    "owner": "civic-radar",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(minutes=30),
}


@dag(
    dag_id="radar_pipeline",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["civic-radar"],
    doc_md=__doc__,
)
def radar_pipeline():
    @task
    def crawl(data_interval_start=None, data_interval_end=None) -> dict:
        from pipeline.tasks import run_named_stage
        return run_named_stage("crawl", data_interval_start, data_interval_end)

    @task
    def enrich(data_interval_start=None, data_interval_end=None) -> dict:
        from pipeline.tasks import run_named_stage
        return run_named_stage("enrich", data_interval_start, data_interval_end)

    @task
    def cluster(data_interval_start=None, data_interval_end=None) -> dict:
        from pipeline.tasks import run_named_stage
        return run_named_stage("cluster", data_interval_start, data_interval_end)

    crawl() >> enrich() >> cluster()


radar_pipeline()

if __name__ == "__main__":
    radar_pipeline().test()
