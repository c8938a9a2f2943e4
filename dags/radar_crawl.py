"""
### Civic Radar: crawl every enabled platform

Hourly. `enabled_platforms` reads the platform registry (`config/platforms.yaml`) **at run
time**, and `crawl_platform` is mapped over it: one task instance per platform (named after
it in the grid), each crawling that platform from its checkpoints in a child process.

* **Pools**: each instance runs in the pool `radar_<platform>` (1 slot: one crawl of a platform
  at a time, however many runs or backfills are active). `radar airflow` creates the pools and
  installs the cluster policy that routes instances to them (`pipeline.airflow_policy`).
* **Failures stay local**: a blocked platform (captcha, login wall) is a *successful* task
  whose coverage record says why; a platform that read nothing because of errors fails and
  retries with exponential backoff; neither touches the other platforms.
* **`publish_posts`** runs after every crawl has finished (`all_done`) and updates the asset
  `radar://posts` when this run stored new or changed posts, which starts `radar_process`.
  No new posts: it is skipped and no asset event is emitted.
* **`coverage`** also runs when crawls failed; it returns each platform's coverage for this
  run and fails (so the run shows red) if a platform failed after its retries.

Settings come from the environment (`RADAR_HOME` or `DATABASE_URL`, `RADAR_CONFIG_DIR`;
`RADAR_CRAWL_RETRY_DELAY_SECONDS`, default 120: the first retry's delay, doubled per retry).
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

POSTS = Asset("radar://posts")

DEFAULT_ARGS = {
    "owner": "civic-radar",
    "retries": 2,
    "retry_delay": timedelta(seconds=float(os.environ.get("RADAR_CRAWL_RETRY_DELAY_SECONDS", "120"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
    "execution_timeout": timedelta(minutes=20),
}


@dag(
    dag_id="radar_crawl",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["civic-radar", "crawl"],
    doc_md=__doc__,
)
def radar_crawl():
    @task(retries=0, execution_timeout=timedelta(minutes=2))
    def enabled_platforms() -> list[str]:
        from pipeline.tasks import list_enabled_platforms
        return list_enabled_platforms()

    @task(map_index_template="{{ task.op_kwargs['name'] }}")
    def crawl_platform(name: str, data_interval_start=None, data_interval_end=None) -> dict:
        from pipeline.tasks import crawl_platform as crawl, window_end
        end = window_end(data_interval_end, run_after=get_current_context()["dag_run"].run_after)
        return crawl(name, data_interval_start, end)

    @task(outlets=[POSTS], trigger_rule="all_done", retries=1)
    def publish_posts(platforms: list[str], data_interval_end=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException
        from pipeline.tasks import crawl_coverage, window_end
        context = get_current_context()
        coverage = crawl_coverage(platforms, context["dag_run"].start_date)
        if not coverage["posts_new"] and not coverage["posts_updated"]:
            raise AirflowSkipException("no new or changed posts: radar://posts not updated")
        end = window_end(data_interval_end, run_after=context["dag_run"].run_after)
        context["outlet_events"][POSTS].extra = {"window_end": end.isoformat(),
            "posts_new": coverage["posts_new"], "posts_updated": coverage["posts_updated"]}
        return {"posts_new": coverage["posts_new"], "posts_updated": coverage["posts_updated"]}

    @task(trigger_rule="all_done", retries=0)
    def coverage(platforms: list[str]) -> dict:
        from pipeline.tasks import crawl_coverage
        summary = crawl_coverage(platforms, get_current_context()["dag_run"].start_date)
        failed = sorted(n for n, e in summary["platforms"].items() if e["status"] in ("error", "not_run"))
        if failed:
            raise RuntimeError(f"platforms failed or never ran: {', '.join(failed)} "
                               f"(their coverage: {[summary['platforms'][n] for n in failed]})")
        return summary

    platforms = enabled_platforms()
    crawls = crawl_platform.expand(name=platforms)
    crawls >> [publish_posts(platforms), coverage(platforms)]


radar_crawl()

if __name__ == "__main__":
    radar_crawl().test()
