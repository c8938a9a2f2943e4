"""Airflow cluster policy: each mapped crawl task instance runs in its platform's pool, and
each mapped delivery task instance in its work-order target's pool.

Airflow sets a mapped task's pool once for every map index (`pool` is not mappable), but a
crawl of weibo must queue behind other weibo crawls, not behind every crawl, and a delivery to
one work-order system behind other deliveries to that system only. Airflow calls
`task_instance_mutation_hook` whenever it creates or refreshes a task instance, mapped ones
included; for the tasks named in `MAPPED_POOLS` the hook looks up the list the upstream task
returned (its XCom, in the scheduler's own session) and sets the instance's pool to the pool of
its element (`radar_<platform>`, `radar_wo_<target>`), if that pool exists. A missing pool
would leave the instance unschedulable, so it then stays in the task's own pool
(`default_pool`) and the hook logs it.

Airflow loads it from `$AIRFLOW_HOME/config/airflow_local_settings.py`, which
`write_local_settings` writes (`radar airflow` and the DAG tests call it). On a cluster, put
the same one-line file on the scheduler's `AIRFLOW_HOME/config` (see README, Airflow).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def worker_hostname() -> str:
    """Airflow's `[core] hostname_callable` for the Celery workers `radar airflow --executor
    celery` starts on one machine: each names itself ($RADAR_AIRFLOW_WORKER_HOSTNAME, e.g.
    `worker1@host`) so a task instance's `hostname` tells which worker ran it. Elsewhere: the
    FQDN, as Airflow's default. (`worker1@host` still works in Airflow's log URLs: the part
    before `@` is read as a user name.)"""
    import os
    import socket
    return os.environ.get("RADAR_AIRFLOW_WORKER_HOSTNAME") or socket.getfqdn()


def pool_for_platform(platform: str) -> str:
    """The pool of one platform's crawls."""
    return f"radar_{platform}"


def pool_for_target(target: str) -> str:
    """The pool of one work-order target's deliveries (a name of config/delivery.yaml). `wo_`
    keeps it apart from the platform pools whatever the two registries name."""
    return f"radar_wo_{target}"


#: (dag_id, mapped task_id) -> (task_id of the upstream task whose returned list is mapped over,
#: the pool of one element of that list)
MAPPED_POOLS: dict[tuple[str, str], tuple[str, Callable[[str], str]]] = {
    ("radar_crawl", "crawl_platform"): ("enabled_platforms", pool_for_platform),
    ("radar_delivery", "deliver_target"): ("enabled_targets", pool_for_target),
}

LOCAL_SETTINGS = '''\
# Written by `radar airflow` (pipeline.airflow_policy.write_local_settings): per-platform pools
# for the mapped crawl tasks, per-target pools for the mapped work-order deliveries.
from pipeline.airflow_policy import task_instance_mutation_hook  # noqa: F401
'''

_resolved: dict[tuple[str, str, int], str] = {}


def _session(task_instance, dag_run):
    from sqlalchemy.orm import object_session
    return object_session(task_instance) or (object_session(dag_run) if dag_run is not None else None)


def _element(session, dag_id: str, run_id: str, upstream: str, map_index: int) -> str | None:
    """The `map_index`-th name of the list `upstream` returned in this run (None: not there yet)."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select
    value = session.scalar(select(XComModel.value).where(
        XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.task_id == upstream,
        XComModel.key == "return_value", XComModel.map_index == -1))
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, list) and 0 <= map_index < len(value) and isinstance(value[map_index], str):
        return value[map_index]
    return None


def task_instance_mutation_hook(task_instance, dag_run=None) -> None:
    """Route a mapped crawl instance to its platform's pool and a mapped delivery instance to its
    target's pool; any other instance is left alone."""
    routed = MAPPED_POOLS.get((task_instance.dag_id, task_instance.task_id))
    map_index = task_instance.map_index
    if routed is None or map_index is None or map_index < 0:
        return
    upstream, pool_of = routed
    key = (task_instance.dag_id, task_instance.run_id, map_index)
    if key in _resolved:
        task_instance.pool = _resolved[key]
        return
    session = _session(task_instance, dag_run)
    if session is None:
        return
    try:
        from airflow.models.pool import Pool
        from sqlalchemy import select
        with session.no_autoflush:
            name = _element(session, task_instance.dag_id, task_instance.run_id, upstream, map_index)
            if name is None:
                return
            pool = pool_of(name)
            if session.scalar(select(Pool.id).where(Pool.pool == pool)) is None:
                log.warning("pool %s does not exist; %s[%s] stays in pool %s (run `radar airflow "
                            "--pools-only` to create the platform and delivery target pools)", pool,
                            task_instance.task_id, map_index, task_instance.pool)
                return
    except Exception:  # noqa: BLE001 - a policy must never stop the scheduler
        log.exception("could not resolve the pool of %s[%s]", task_instance.task_id, map_index)
        return
    if len(_resolved) > 10_000:
        _resolved.clear()
    _resolved[key] = pool
    task_instance.pool = pool


def write_local_settings(airflow_home: Path) -> Path:
    """Install the policy for the Airflow whose home is `airflow_home`."""
    path = Path(airflow_home) / "config" / "airflow_local_settings.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != LOCAL_SETTINGS:
        path.write_text(LOCAL_SETTINGS, encoding="utf-8")
    return path
