"""The demo: a seeded simulator corpus, one full pass through every stage, leads in the API.

Uses its own SQLite file under RADAR_HOME (demo.db) so a demo never touches real data.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from core.config import Config
from core.models import Window
from core.settings import Settings
from core.store import Store
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

    def as_dict(self) -> dict:
        return {"posts": self.posts, "relevant": self.relevant, "leads": self.leads,
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
