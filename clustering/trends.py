"""Class cases (类案) and early warning, as of a window end (never now()).

**Class cases**: a (category, district) whose leads keep coming back week after week. Leads
first seen in the last `trends.weeks` ISO weeks up to the window end are counted per week (in
SQL, by day, folded into ISO weeks here); a pair present in at least `CLASS_CASE_MIN_WEEKS`
distinct weeks is a class case. Ranked by weeks present, then total posts.

**Spikes**: relevant posts per (category, district), by published_at: the last hour against the
mean of the 12 hours before it, and the last day against the mean of the 14 days before it. A
spike needs `trends.min_count` posts and `trends.ratio` times the baseline mean; a baseline
under one post per period counts as one (the +1 smoothing of a zero baseline, which also keeps
a baseline of one post in 12 hours from turning 5 posts into a 60x ratio). Spikes are stored as
warnings, upserted on (kind, category, district, window end), so a re-run adds nothing. The
posts are counted by the search index's aggregations when one is given (Elasticsearch at scale:
15 days of a city's posts is an aggregation there, a scan of the record store's largest table
here), else, or when it cannot answer, by the store.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from core.config import Config
from core.models import Window
from core.search import SearchIndex
from core.store import Store

CLASS_CASE_MIN_WEEKS = 3
HOUR_BASELINE_HOURS = 12
DAY_BASELINE_DAYS = 14


@dataclass(frozen=True)
class WeekCount:
    week: str  # ISO week, e.g. "2026-W47"
    leads: int
    posts: int


@dataclass(frozen=True)
class ClassCase:
    category: str
    district: str
    weeks_present: int
    leads: int
    posts: int
    weeks: tuple[WeekCount, ...]  # only the weeks it appears in, oldest first

    def as_dict(self) -> dict:
        return {"category": self.category, "district": self.district, "weeks_present": self.weeks_present,
                "leads": self.leads, "posts": self.posts,
                "weeks": [{"week": w.week, "leads": w.leads, "posts": w.posts} for w in self.weeks]}


@dataclass(frozen=True)
class Spike:
    kind: str  # spike_hour | spike_day
    category: str
    district: str
    window_end: datetime
    count: int
    baseline: float  # mean posts per period before
    ratio: float

    def as_dict(self) -> dict:
        return {"kind": self.kind, "category": self.category, "district": self.district,
                "window_end": self.window_end.isoformat(), "count": self.count,
                "baseline": round(self.baseline, 4), "ratio": round(self.ratio, 3)}


@dataclass(frozen=True)
class TrendReport:
    window_end: datetime
    weeks: tuple[str, ...]  # the ISO weeks looked at, oldest first
    class_cases: tuple[ClassCase, ...]  # recurring only, ranked
    spikes: tuple[Spike, ...]  # strongest first
    spikes_counted_by: str = "store"  # or the search index's name; and why not, when it could not

    def as_dict(self) -> dict:
        """JSON-safe (datetimes as ISO strings)."""
        return {"window_end": self.window_end.isoformat(), "weeks": list(self.weeks),
                "min_weeks": CLASS_CASE_MIN_WEEKS,
                "class_cases": [c.as_dict() for c in self.class_cases],
                "spikes": [s.as_dict() for s in self.spikes], "spikes_counted_by": self.spikes_counted_by}


class PostCounter(Protocol):
    """The store's reports or a search index: relevant posts per (category, district) per period."""

    def count_relevant_posts(self, periods: Sequence[tuple[datetime, datetime]]
                             ) -> dict[tuple[str, str], list[int]]: ...


def _iso_week(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def _week_span(end: datetime, weeks: int) -> tuple[datetime, list[str]]:
    """Start (Monday 00:00 UTC of the first week) and the ISO weeks ending with the week holding
    the last instant before `end`. UTC, like the store's day buckets."""
    last = end.astimezone(timezone.utc) - timedelta(microseconds=1)
    monday = (last - timedelta(days=last.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    start = monday - timedelta(weeks=weeks - 1)
    return start, [_iso_week((start + timedelta(weeks=i)).date()) for i in range(weeks)]


def class_cases(store: Store, end: datetime, weeks: int) -> tuple[list[str], list[ClassCase]]:
    start, week_names = _week_span(end, weeks)
    per: dict[tuple[str, str], dict[str, list[int]]] = {}
    for category, district, day, leads, posts in store.reports.lead_counts_by_day(start, end):
        week = _iso_week(date.fromisoformat(day))
        cell = per.setdefault((category, district), {}).setdefault(week, [0, 0])
        cell[0] += leads
        cell[1] += posts
    order = {w: i for i, w in enumerate(week_names)}
    cases = []
    for (category, district), by_week in per.items():
        if len(by_week) < CLASS_CASE_MIN_WEEKS:
            continue
        counts = tuple(WeekCount(w, n, p) for w, (n, p) in sorted(by_week.items(), key=lambda kv: order.get(kv[0], -1)))
        cases.append(ClassCase(category, district, len(by_week), sum(c.leads for c in counts),
                               sum(c.posts for c in counts), counts))
    cases.sort(key=lambda c: (-c.weeks_present, -c.posts, -c.leads, c.category, c.district))
    return week_names, cases


def _ratio(count: int, baseline: float) -> float:
    return count / max(baseline, 1.0)


def spikes(counter: PostCounter, end: datetime, min_count: int, ratio: float) -> list[Spike]:
    hour, day = timedelta(hours=1), timedelta(days=1)
    periods = [(end - hour, end), (end - hour * (1 + HOUR_BASELINE_HOURS), end - hour),
               (end - day, end), (end - day * (1 + DAY_BASELINE_DAYS), end - day)]
    found = []
    for (category, district), (h, h_before, d, d_before) in counter.count_relevant_posts(periods).items():
        for kind, count, baseline in (("spike_hour", h, h_before / HOUR_BASELINE_HOURS),
                                      ("spike_day", d, d_before / DAY_BASELINE_DAYS)):
            r = _ratio(count, baseline)
            if count >= min_count and r >= ratio:
                found.append(Spike(kind, category, district, end, count, baseline, r))
    found.sort(key=lambda s: (-s.ratio, -s.count, s.kind, s.category, s.district))
    return found


def trends(store: Store, config: Config, window: Window, *, weeks: int | None = None,
           save: bool = True, search: SearchIndex | None = None) -> TrendReport:
    """Class cases and spikes as of `window.end`; spikes are saved as warnings unless `save` is
    False. `weeks` overrides `trends.weeks` of radar.yaml. With `search`, spikes count posts by
    its aggregations; if it cannot answer, the store counts them and the report says why."""
    cfg = config.radar.trends
    end = window.end
    week_names, cases = class_cases(store, end, weeks or cfg.weeks)
    counted_by = "store"
    if search is not None:
        try:
            found = spikes(search, end, cfg.min_count, cfg.ratio)
            counted_by = search.name
        except Exception as exc:  # noqa: BLE001 - whatever the index says, the record store still answers
            counted_by = f"store ({search.name} could not: {exc})"[:300]
    if counted_by.startswith("store"):
        found = spikes(store.reports, end, cfg.min_count, cfg.ratio)
    if save and found:
        store.reports.save_warnings([{"kind": s.kind, "category": s.category, "district": s.district,
                                      "window_end": s.window_end, "count": s.count, "baseline": s.baseline,
                                      "ratio": s.ratio} for s in found])
    return TrendReport(end, tuple(week_names), tuple(cases), tuple(found), counted_by)
