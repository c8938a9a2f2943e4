"""
### Civic Radar: process new posts into leads

Data-aware: runs whenever `radar_crawl` updates the asset `radar://posts`.
**enrich** (relevance, category, place, routing) → **embed** (the embedding model encodes the
posts to cluster, in `RADAR_EMBED_SHARDS` mapped tasks that Celery spreads over its workers: the
model is most of the cost, and needs nothing but the post) → **cluster** (dedup, fold posts into leads
with stable ids, score their priority) → **index** (keep the search index current: Elasticsearch
when ELASTICSEARCH_URL is set, else the embedded FTS5 index) → **sla** (record open leads past their dispatch
deadline at the window end, once per lead; `radar_daily` reports them). Delivery to the
work-order system runs on its own short schedule in `radar_delivery`.

Each task runs one `pipeline` stage over a window ending at the run's data interval end (a
backfill or manual run) or at the crawl window named by the triggering asset events, looking
back `pipeline.tasks.LOOKBACK_DAYS` because posts arrive late. Stages upsert keyed by stable
ids, so re-runs, overlapping windows and backfills change nothing that is already right.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, chain, dag, get_current_context, task

POSTS = Asset("radar://posts")

#: The processing chain, in order; each name is a stage of `pipeline.tasks.run_named_stage`
#: (the embed tasks run between enrich and cluster, one per shard).
#: Scoring is part of "cluster"; "sla" runs after it so a breach is judged on the leads as
#: this pass left them. Delivery has its own DAG (radar_delivery, every 5 minutes).
PROCESS_STAGES = ["enrich", "cluster", "index", "sla"]

DEFAULT_ARGS = {
    "owner": "civic-radar",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(minutes=45),
}


def _stage_task(name: str):
    @task(task_id=name)
    def run(data_interval_end=None) -> dict:
        from pipeline.tasks import run_named_stage, window_end
        context = get_current_context()
        end = window_end(data_interval_end, context.get("triggering_asset_events") or (),
                         context["dag_run"].run_after)
        return run_named_stage(name, None, end)
    return run()


@dag(
    dag_id="radar_process",
    schedule=[POSTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["civic-radar", "processing"],
    doc_md=__doc__,
)
def radar_process():
    @task(retries=0, execution_timeout=timedelta(minutes=2))
    def embed_shards() -> list[dict[str, int]]:
        from pipeline.tasks import embed_shards as shards
        return shards()

    @task(map_index_template="{{ task.op_kwargs['shard'] }}")
    def embed(shard: int, shards: int, data_interval_end=None) -> dict:
        from pipeline.tasks import embed_shard, window_end
        context = get_current_context()
        end = window_end(data_interval_end, context.get("triggering_asset_events") or (),
                         context["dag_run"].run_after)
        return embed_shard(shard, shards, None, end)

    enrich, cluster, *after = [_stage_task(name) for name in PROCESS_STAGES]
    plan = embed_shards()
    chain(enrich, plan, embed.expand_kwargs(plan), cluster, *after)


radar_process()

if __name__ == "__main__":
    radar_process().test()
