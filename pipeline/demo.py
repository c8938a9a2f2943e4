"""The demo: a seeded simulator corpus, one full pass through every stage, leads in the API.

Uses its own SQLite file under RADAR_HOME (demo.db) so a demo never touches real data.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from core.config import Config
from core.models import Window
from core.settings import Settings
from core.store import Store
from core.store.triage import QueueQuery
from crawlers.simulator.corpus import Truth, generate
from crawlers.simulator.server import SimulatorServer
from pipeline.runner import PassResult, default_stages, run_pass

SIMULATED = ("weibo", "jiazaishenzhen", "szrss")


@dataclass(frozen=True)
class DemoSummary:
    posts: int
    relevant: int
    leads: int
    seconds: float
    orders: int = 0  # work orders delivered to the reference work-order system

    def as_dict(self) -> dict:
        return {"posts": self.posts, "relevant": self.relevant, "leads": self.leads, "orders": self.orders,
                "seconds": round(self.seconds, 2)}


def simulator_config(config: Config, sim: SimulatorServer) -> Config:
    """The configured platforms the simulator serves, pointed at it (no auth, no delay)."""
    platforms = [p.model_copy(update={"base_url": sim.platform_base_url(p.name), "rate_limit": 100.0,
                                      "concurrency": 4, "max_pages": 100_000,
                                      "auth": "none", "auth_env": None})
                 for p in config.platforms if p.name in SIMULATED]
    return config.with_platforms(platforms)


def demo_end() -> datetime:
    # The corpus ends at the current hour: leads look current, and re-runs within the hour
    # see the same corpus.
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def build_corpus(seed: int, posts: int, end: datetime) -> tuple[list, list[Truth]]:
    sim_posts, truth = [], []
    for post, t in generate(seed, posts, end):
        sim_posts.append(post)
        truth.append(t)
    return sim_posts, truth


def run_demo_pass(store: Store, config: Config, settings: Settings, *, seed: int, posts: int,
                  end: datetime, on_stage: Callable[[str], None] | None = None
                  ) -> tuple[DemoSummary, PassResult, list[Truth]]:
    started = time.perf_counter()
    sim_posts, truth = build_corpus(seed, posts, end)
    with SimulatorServer(sim_posts, now=end) as sim:
        sim_config = simulator_config(config, sim)
        window = Window(end - timedelta(days=30), end + timedelta(minutes=1))
        result = run_pass(store, sim_config, window, default_stages(settings), on_stage)
    counts = store.reports.counts()
    summary = DemoSummary(counts["posts"], counts["relevant"], counts["leads"], time.perf_counter() - started)
    return summary, result, truth


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str


def demo_accounts(store: Store, config: Config) -> list[DemoAccount]:
    """A demo analyst of every district and a supervisor, with fresh random passwords (the
    demo database is new each run, so are they)."""
    from core.security import new_password
    districts = tuple(d.name for d in config.gazetteer.districts)
    accounts = [DemoAccount("demo", "analyst", new_password()), DemoAccount("supervisor", "supervisor", new_password())]
    for a in accounts:
        store.users.add(a.username, a.role, password=a.password, display_name=f"演示{'分析员' if a.role == 'analyst' else '主管'}",
                        districts=districts if a.role == "analyst" else ())
    return accounts


DEMO_ORDERS = 12  # the demo analyst verifies and dispatches this many of the top leads


def reference_config(config: Config, system) -> Config:
    """The configured delivery targets pointed at a reference work-order system."""
    targets = {}
    for name, target in config.delivery.targets.items():
        url = {"open311": system.open311_url, "webhook": system.webhook_url}.get(target.kind)
        targets[name] = target.model_copy(update={"url": url}) if url else target
    return replace(config, delivery=config.delivery.model_copy(update={"targets": targets}))


def reference_env(config: Config, system) -> dict[str, str]:
    """The secrets config/delivery.yaml names, as the reference system holds them."""
    env = {}
    for target in config.delivery.targets.values():
        if target.api_key_env:
            env[target.api_key_env] = system.api_key
        if target.secret_env and system.webhook_secret:
            env[target.secret_env] = system.webhook_secret
    if config.delivery.callback_secret_env and system.callback_secret:
        env[config.delivery.callback_secret_env] = system.callback_secret
    return env


def catalogue_services(config: Config) -> list[tuple[str, str, str]]:
    """The catalogue's items as Open311 services: (service_code, service_name, group)."""
    return [(item.id, item.name, cat.name) for cat in config.catalogue.categories for item in cat.items]


@contextmanager
def reference_system(config: Config, *, callback_base: str | None = None, speed: float | None = 20.0):
    """A reference work-order system for the demo, with fresh secrets put in this process's
    environment (the delivery targets and the callback endpoint read them there)."""
    import secrets as _secrets
    from delivery.reference import ReferenceWorkOrderSystem, new_secret
    with ReferenceWorkOrderSystem(port=0, api_key=_secrets.token_urlsafe(16), webhook_secret=new_secret(),
                                  callback_base=callback_base, callback_secret=new_secret(),
                                  services=catalogue_services(config),
                                  speed=speed) as system:
        wired = reference_config(config, system)
        os.environ.update(reference_env(wired, system))
        yield system, wired


def dispatch_demo_orders(store: Store, config: Config, analyst: str, limit: int = DEMO_ORDERS) -> list[str]:
    """The demo analyst verifies and dispatches the top leads that name a catalogue item."""
    from core.triage import Actor, Role
    from leads_api.desk import Desk
    user = store.users.get(analyst)
    actor = Actor(user.username, Role(user.role), tuple(user.districts))
    desk = Desk(store, config)
    dispatched = []
    _, leads = store.triage.queue(QueueQuery(scope=actor.districts, statuses=("new",), limit=limit * 3))
    for lead in leads:
        if len(dispatched) >= limit:
            break
        if not lead.item:
            continue
        verified = desk.act(actor, lead.id, lead.version, "verify", note="演示：自动核实")
        _, order = desk.dispatch(actor, lead.id, verified.version)
        dispatched.append(order.id)
    return dispatched


def deliver_demo_orders(store: Store, config: Config, *, rounds: int = 20) -> int:
    """Work the outbox (and pull statuses) until every demo order is delivered; returns how many are."""
    from delivery import stage
    window = Window.last(1)
    for _ in range(rounds):
        stage.deliver(store, config, window, max_seconds=30)
        stage.sync_status(store, config, window)
        pending = store.orders.list(delivery="pending", limit=1)[0]
        if not pending:
            break
        time.sleep(0.5)
    return store.orders.list(delivery="delivered", limit=1)[0]


def serve_with_delivery(app, store: Store, config: Config, host: str, port: int, every: float = 10.0) -> None:
    """Serve the desk while a background loop does what radar_delivery does on a schedule:
    deliver the outbox and pull statuses, so dispatching from the desk reaches the reference
    system and its answers come back while the demo runs."""
    import threading

    import uvicorn
    from delivery import stage
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                window = Window.last(1)
                stage.deliver(store, config, window, max_seconds=every)
                stage.sync_status(store, config, window)
            except Exception:  # noqa: BLE001 - the demo keeps serving; the next round retries
                import logging
                logging.getLogger(__name__).exception("demo delivery round failed")

    worker = threading.Thread(target=loop, name="demo-delivery", daemon=True)
    worker.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()
        worker.join(timeout=every + 5)
