"""
### Civic Radar: deliver work orders and pull their statuses

Every 5 minutes. `enabled_targets` reads `config/delivery.yaml` **at run time** (every target
in it), and `deliver_target` is mapped over it: one task instance per target (named after it
in the grid), each one pass of the delivery worker over that target's due orders in the
outbox (at most 4 minutes). Then `sync_status` pulls the status updates the receivers
published (Open311 servicerequestupdates) and applies them to the orders and their leads.

* **Pools**: each instance runs in the pool `radar_wo_<target>` (1 slot: one worker per
  receiver at a time, so its circuit breaker and rate cap hold). `radar airflow` creates the
  pools and installs the cluster policy that routes instances to them (`pipeline.airflow_policy`).
* **Failures stay local**: a receiver that is down or refuses is not a task failure; the
  worker records it on the orders (backoff with jitter, Retry-After, circuit breaker,
  dead-letter after `max_attempts`: `radar_daily` lists dead orders). A target that cannot be
  built (its secret's environment variable is unset) fails its own task only.
* **`sync_status`** also runs when a delivery task failed. Its window starts at the end of the
  last successful run when runs failed or were skipped (`catchup` is off), so no published
  update falls between two windows; it fails when a receiver could not be read.

Secrets come from the environment variables `config/delivery.yaml` names (as for `radar
orders deliver`); settings from `RADAR_HOME` or `DATABASE_URL`, `RADAR_CONFIG_DIR`.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

DEFAULT_ARGS = {
    "owner": "civic-radar",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=4),
    # Under two schedule intervals: a hung receiver connection cannot hold the only active run
    # (max_active_runs=1) for long. A pass stops itself after 4 minutes.
    "execution_timeout": timedelta(minutes=8),
}


@dag(
    dag_id="radar_delivery",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["civic-radar", "work-orders"],
    doc_md=__doc__,
)
def radar_delivery():
    @task(retries=0, execution_timeout=timedelta(minutes=2))
    def enabled_targets() -> list[str]:
        from pipeline.tasks import list_delivery_targets
        return list_delivery_targets()

    @task(map_index_template="{{ task.op_kwargs['name'] }}")
    def deliver_target(name: str, data_interval_start=None, data_interval_end=None) -> dict:
        from pipeline.tasks import deliver_target as deliver, window_end
        end = window_end(data_interval_end, run_after=get_current_context()["dag_run"].run_after)
        return deliver(name, data_interval_start, end)

    @task(trigger_rule="all_done")
    def sync_status(data_interval_start=None, data_interval_end=None,
                    prev_data_interval_end_success=None) -> dict:
        from pipeline.tasks import sync_orders, window_end
        end = window_end(data_interval_end, run_after=get_current_context()["dag_run"].run_after)
        return sync_orders(data_interval_start, end, prev_data_interval_end_success)

    deliver_target.expand(name=enabled_targets()) >> sync_status()


radar_delivery()

if __name__ == "__main__":
    radar_delivery().test()
