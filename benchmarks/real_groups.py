"""Clustering on real messages, scored against hand-checked groups (issue 13, part 6).

    python -m benchmarks.real_groups [--embedder model|none] [--labels PATH] [--data PATH]
                                     [--lookback-days N]

Reads the 4,320 citizen messages of ../shared/data/teddy2020_messages_with_votes.csv (see its
README), stores them as posts of the platform `teddy2020` in a throw-away SQLite store,
enriches them with the anonymized city's gazetteer (config/gazetteer/teddy.yaml), then clusters
them day by day in time order, as the scheduled pipeline does: one `cluster` run per day that
has messages, each over the window the Airflow task would use (the day's end, looking back
`--lookback-days`, default the pipeline's own lookback, so a message no lead took is tried
again while it is recent; 0 gives strictly contiguous day windows). Days with no message are
skipped; no message falls outside every window.

The labels (tests/clustering/real_groups/labels.csv, how they were decided in the README next
to it) put a few hundred messages into problems. Printed: pairwise precision, recall and F1
over the labelled messages (a message in no lead is a singleton), the worst lead purity (over
leads holding >= 2 labelled messages: the share of the majority group) and which lead that is,
how the ten largest groups are split, the five largest leads of the whole file (size, first and
last month, title), timings. Last line: one JSON object.

`--embedder model` (default) is the configured model (clustering.stage.configured_embedder,
RADAR_EMBEDDING_MODEL); `none` clusters on words only (embedding_weight 0, no model loaded).
With the model, every message is encoded once before clustering, into the store's embedding
cache the cluster stage reads, so the timing line shows the two costs apart. These messages
are long (about 380 characters): e5-small encodes about 9 a second on 2 busy cores, not the
~70 of short posts, so a model run takes about 11 minutes (8 encoding, 3 clustering); words
only, about 2.5 minutes.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import dataclasses
import json
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import yaml

from benchmarks.settings import clustering_overrides
from core.config import Config, Gazetteer, load_config
from core.models import Engagement, Post, Window, hash_author
from core.settings import REPO_ROOT
from core.store import Store

DATA = REPO_ROOT.parent / "shared" / "data" / "teddy2020_messages_with_votes.csv"
LABELS = REPO_ROOT / "tests" / "clustering" / "real_groups" / "labels.csv"
GAZETTEER = REPO_ROOT / "config" / "gazetteer" / "teddy.yaml"
PLATFORM = "teddy2020"
PURITY_TARGET = 0.85  # issue 13: the worst lead purity to reach
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")
LOAD_BATCH = 2000


@dataclass(frozen=True)
class Message:
    """One row of the file, cleaned: text fields stripped, the time in the city's zone."""

    id: str
    user: str
    title: str
    text: str
    published_at: datetime
    likes: int
    dislikes: int


def parse_time(value: str, tz: ZoneInfo) -> datetime:
    """`2019/4/25 9:32:09` or `2017-06-08 17:31:20` (both occur), local time in `tz`."""
    value = value.strip()
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise ValueError(f"unknown time format: {value!r}")


def _count(value: str) -> int:
    value = (value or "").strip()
    return int(value) if value.isdigit() else 0


def read_messages(path: Path, tz: ZoneInfo) -> list[Message]:
    with Path(path).open(encoding="utf-8-sig", newline="") as f:
        return [Message(id=row["留言编号"].strip(), user=row["留言用户"].strip(), title=row["留言主题"].strip(),
                        text=row["留言详情"].strip(), published_at=parse_time(row["留言时间"], tz),
                        likes=_count(row["点赞数"]), dislikes=_count(row["反对数"]))
                for row in csv.DictReader(f)]


def read_labels(path: Path) -> dict[str, str]:
    """message id -> group slug."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        return {row["message_id"].strip(): row["group"].strip() for row in csv.DictReader(f)}


def post_id(message_id: str) -> str:
    return f"{PLATFORM}:{message_id}"


def to_post(m: Message) -> Post:
    """The message as a crawler of the board would store it. The board shows likes and
    dislikes; a post keeps likes only (Engagement has no dislike count)."""
    return Post(platform=PLATFORM, native_id=m.id, url=f"https://{PLATFORM}.invalid/message/{m.id}",
                author_hash=hash_author(m.user, PLATFORM), author_name=m.user, title=m.title or None,
                text=m.text, published_at=m.published_at, crawled_at=m.published_at,
                engagement=Engagement(likes=m.likes))


def teddy_config(embedder: str, gazetteer: Path = GAZETTEER, config_dir: Path = REPO_ROOT / "config",
                 overrides: Sequence[str] = ()) -> Config:
    """The repository config with the anonymized city's gazetteer. Swapped in after loading:
    the duty list, watchlists and delivery routes name Shenzhen's districts, which a copy of
    the folder pointing radar.gazetteer elsewhere would (rightly) refuse. Their district rules
    never fire here; the category defaults still route."""
    config = load_config(config_dir)
    gaz = Gazetteer.model_validate(yaml.safe_load(Path(gazetteer).read_text(encoding="utf-8")))
    try:
        relative = str(Path(gazetteer).resolve().relative_to(Path(config_dir).resolve()))
    except ValueError:
        relative = str(gazetteer)
    clustering = config.radar.clustering
    if embedder == "none":
        clustering = clustering.model_copy(update={"embedding_weight": 0.0})
    clustering = clustering_overrides(overrides, clustering)
    radar = config.radar.model_copy(update={"gazetteer": relative, "clustering": clustering})
    return dataclasses.replace(config, radar=radar, gazetteer=gaz)


def day_windows(times: Iterable[datetime], tz: ZoneInfo, lookback_days: float = 0) -> list[Window]:
    """One window per local day that has a message, ending at that day's midnight and
    starting `lookback_days` earlier, or where the previous window ended if that is earlier:
    together they cover every message, whatever the gaps between days."""
    days = sorted({t.astimezone(tz).date() for t in times})
    windows: list[Window] = []
    previous_end = None
    for day in days:
        end = datetime.combine(day + timedelta(days=1), clock(), tzinfo=tz)
        start = end - timedelta(days=max(lookback_days, 1))
        if previous_end is not None:
            start = min(start, previous_end)
        windows.append(Window(start, end))
        previous_end = end
    return windows


@dataclass
class Run:
    """What one clustering of the file produced."""

    lead_of: dict[str, str]          # message id -> lead id, for messages in a lead
    leads: dict[str, list[str]]      # lead id -> its message ids
    titles: dict[str, str]           # lead id -> title
    windows: int
    seconds: dict[str, float]
    enriched: dict[str, int]


def run(messages: list[Message], config: Config, embedder=None, lookback_days: float = 0) -> Run:
    """Store, enrich and cluster the messages day by day in a throw-away SQLite store. With
    `clustering.candidates: knn` (and an embedder), candidate leads come from the embedded
    search index's kNN over lead centroids, the leads being indexed after each day's run as the
    pipeline's index stage does."""
    from clustering.stage import cluster
    from enrichment.stage import enrich

    tz = ZoneInfo(config.radar.timezone)
    posts = [to_post(m) for m in messages]
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'real_groups.db'}")
        try:
            started = time.perf_counter()
            for i in range(0, len(posts), LOAD_BATCH):
                store.posts.upsert(posts[i:i + LOAD_BATCH])
            seconds["load"] = time.perf_counter() - started

            started = time.perf_counter()
            enriched = enrich(store, config, Window.everything())
            seconds["enrich"] = time.perf_counter() - started

            seconds["encode"] = 0.0
            if embedder is not None:
                # The cluster stage reads vectors from the store's cache and encodes only what
                # is missing; filling it first, in length-sorted batches, spends the model's
                # time once and apart from the clustering it would otherwise hide in.
                from clustering.embedding_cache import embed_posts
                started = time.perf_counter()
                eps = store.posts.enriched([p.id for p in posts])
                embed_posts(store, embedder, sorted(eps, key=lambda ep: len(ep.enrichment.normalized_text)))
                seconds["encode"] = time.perf_counter() - started

            search = None
            if config.radar.clustering.candidates == "knn" and embedder is not None:
                from core.search.embedded import EmbeddedSearch
                search = EmbeddedSearch(store, dims=int(embedder.dim))
            windows = day_windows([p.published_at for p in posts], tz, lookback_days)
            started = time.perf_counter()
            for window in windows:
                cluster(store, config, window, relevant_only=False, embedder=embedder, search=search)
                if search is not None:
                    from pipeline.runner import lead_centroids
                    for leads in store.leads.iter_all(updated_since=window.start):
                        search.index_leads(leads, centroids=lead_centroids(store, leads, search.dims), points={})
                    search.refresh()
            seconds["cluster"] = time.perf_counter() - started

            _, leads = store.leads.list(limit=10_000_000)
            members = store.leads.member_ids([lead.id for lead in leads])
            titles = {lead.id: lead.title for lead in leads}
        finally:
            store.close()
    prefix = f"{PLATFORM}:"
    by_lead = {lid: [p.removeprefix(prefix) for p in pids] for lid, pids in members.items() if pids}
    lead_of = {m: lid for lid, ms in by_lead.items() for m in ms}
    return Run(lead_of, by_lead, {lid: titles[lid] for lid in by_lead}, len(windows), seconds, enriched)


class FileCachedEmbedder:
    """An embedder whose vectors are kept in an .npz file between benchmark runs (keyed by the
    model's name and the text's sha1), so trying settings does not re-encode 4,320 long
    messages (about 12 minutes) each time. Same vectors as the wrapped model."""

    def __init__(self, inner, path: Path):
        self.inner, self.path = inner, Path(path)
        self.name, self.dim = inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as data:
                self.cache = {k: data[k] for k in data.files}

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.name}\n{text}".encode()).hexdigest()

    def encode(self, texts):
        keys = [self._key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            vectors = self.inner.encode([texts[i] for i in missing])
            for i, v in zip(missing, vectors):
                self.cache[keys[i]] = np.asarray(v, dtype=np.float32)
            np.savez(self.path, **self.cache)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.cache[k] for k in keys])


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def evaluate(lead_of: Mapping[str, str | None], labels: Mapping[str, str]) -> dict:
    """Pairwise precision / recall / F1 of the leads over the labelled messages, the worst
    lead purity and each group's split.

    A pair of labelled messages is predicted when both sit in one lead (a message in no lead
    is its own singleton) and true when both carry one group. Precision with no predicted
    pair is 1.0 (no pair is wrong), recall with no true pair is 1.0. Purity of a lead holding
    >= 2 labelled messages: the share of them from its majority group."""
    cells: Counter = Counter()     # (lead, group) -> labelled messages
    in_lead: Counter = Counter()   # lead -> labelled messages
    groups: Counter = Counter()
    leads_of_group: dict[str, Counter] = defaultdict(Counter)
    unplaced: Counter = Counter()  # group -> its messages in no lead
    for message, group in labels.items():
        groups[group] += 1
        lead = lead_of.get(message)
        if lead is None:
            unplaced[group] += 1
            continue
        cells[(lead, group)] += 1
        in_lead[lead] += 1
        leads_of_group[group][lead] += 1
    true_positive = sum(_pairs(n) for n in cells.values())
    predicted = sum(_pairs(n) for n in in_lead.values())
    actual = sum(_pairs(n) for n in groups.values())
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    worst = None
    impure = []
    for lead, n in in_lead.items():
        if n < 2:
            continue
        mix = Counter({g: c for (lid, g), c in cells.items() if lid == lead})
        majority, top = sorted(mix.items(), key=lambda gc: (-gc[1], gc[0]))[0]
        purity = top / n
        key = (purity, -n, lead)
        if purity < PURITY_TARGET:
            impure.append({"lead": lead, "purity": round(purity, 4), "labelled": n, "groups": dict(mix)})
        if worst is None or key < worst[0]:
            worst = (key, {"lead": lead, "purity": round(purity, 4), "labelled": n, "majority": majority,
                           "groups": dict(sorted(mix.items(), key=lambda gc: (-gc[1], gc[0])))})
    split = []
    for group, size in sorted(groups.items(), key=lambda gs: (-gs[1], gs[0])):
        spread = leads_of_group[group]
        together = sum(_pairs(n) for n in spread.values())
        split.append({"group": group, "size": size, "leads": len(spread), "unplaced": unplaced[group],
                      "largest_lead": max(spread.values(), default=0),
                      "recall": round(together / _pairs(size), 4) if size > 1 else 1.0})
    return {"labelled": len(labels), "groups": len(groups), "true_pairs": actual, "predicted_pairs": predicted,
            "correct_pairs": true_positive, "pairwise_precision": round(precision, 4),
            "pairwise_recall": round(recall, 4), "pairwise_f1": round(f1, 4),
            "leads_with_labelled": sum(1 for n in in_lead.values() if n >= 2),
            "worst_purity": worst[1] if worst else None, "split": split,
            "impure": sorted(impure, key=lambda x: (x["purity"], -x["labelled"], x["lead"]))}


def largest_leads(result: Run, messages: list[Message], tz: ZoneInfo, k: int = 5) -> list[dict]:
    """The k largest leads of the whole file: size, first and last month, title."""
    at = {m.id: m.published_at.astimezone(tz) for m in messages}
    ranked = sorted(result.leads.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:k]
    return [{"lead": lid, "size": len(ms), "first_month": min(at[m] for m in ms).strftime("%Y-%m"),
             "last_month": max(at[m] for m in ms).strftime("%Y-%m"), "title": result.titles[lid]}
            for lid, ms in ranked]


def _clip(text: str, n: int = 40) -> str:
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= n else text[:n] + "…"


def main() -> None:
    from pipeline.tasks import LOOKBACK_DAYS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", choices=("model", "none"), default="model")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--gazetteer", type=Path, default=GAZETTEER)
    parser.add_argument("--lookback-days", type=float, default=LOOKBACK_DAYS,
                        help=f"each day's window looks back this far (default {LOOKBACK_DAYS}, the pipeline's); "
                             "0: contiguous day windows, a message is tried on its own day only")
    parser.add_argument("--encode-cache", type=Path, default=None,
                        help="keep the model's vectors in this .npz between runs (trying settings)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a clustering setting (radar.yaml clustering.KEY), e.g. --set same_place_bonus=0.1")
    args = parser.parse_args()
    overrides = args.set

    started = time.perf_counter()
    config = teddy_config(args.embedder, args.gazetteer, overrides=overrides)
    tz = ZoneInfo(config.radar.timezone)
    messages = read_messages(args.data, tz)
    labels = read_labels(args.labels)
    unknown = sorted(set(labels) - {m.id for m in messages})
    if unknown:
        raise SystemExit(f"{len(unknown)} labelled ids are not in {args.data}: {unknown[:5]} ...")
    embedder = None
    if args.embedder == "model":
        from clustering.stage import configured_embedder
        embedder = configured_embedder()
        if args.encode_cache:
            embedder = FileCachedEmbedder(embedder, args.encode_cache)
    print(f"{len(messages)} messages, {len(labels)} labelled in {len(set(labels.values()))} groups; "
          f"embedder {getattr(embedder, 'name', 'none')}, lookback {args.lookback_days:g} days"
          + (f"; settings {' '.join(overrides)}" if overrides else ""), flush=True)

    result = run(messages, config, embedder, args.lookback_days)
    figures = evaluate(result.lead_of, labels)
    total = time.perf_counter() - started
    s = result.seconds
    encode = (f"encode {s['encode']:.1f} s ({len(messages) / s['encode']:.1f} posts/s), "
              if s["encode"] else "")
    print(f"load {s['load']:.1f} s, enrich {s['enrich']:.1f} s, {encode}cluster {s['cluster']:.1f} s over "
          f"{result.windows} day windows ({len(messages) / s['cluster']:.0f} posts/s); total {total:.1f} s")
    placed = len(result.lead_of)
    print(f"{len(result.leads)} leads holding {placed} of {len(messages)} messages "
          f"({len(messages) - placed} in none)")
    print(f"\npairwise over {figures['labelled']} labelled messages: precision {figures['pairwise_precision']:.4f}  "
          f"recall {figures['pairwise_recall']:.4f}  F1 {figures['pairwise_f1']:.4f}  "
          f"({figures['correct_pairs']} of {figures['predicted_pairs']} predicted pairs right, "
          f"{figures['true_pairs']} true pairs)")
    worst = figures["worst_purity"]
    if worst:
        mix = ", ".join(f"{g} {n}" for g, n in worst["groups"].items())
        print(f"worst lead purity {worst['purity']:.4f}: {worst['lead']} \"{_clip(result.titles[worst['lead']])}\" "
              f"({len(result.leads[worst['lead']])} posts, {worst['labelled']} labelled: {mix})")
    else:
        print("worst lead purity: no lead holds two labelled messages")
    print(f"leads under purity {PURITY_TARGET}: {len(figures['impure'])} of {figures['leads_with_labelled']}")
    for x in figures["impure"][1:]:
        mix = ", ".join(f"{g} {n}" for g, n in x["groups"].items())
        print(f"  {x['purity']:.4f}: {x['lead']} \"{_clip(result.titles[x['lead']])}\" ({mix})")
    print("\nten largest groups: size, leads it is split into, messages in no lead, largest piece, pair recall")
    for g in figures["split"][:10]:
        print(f"  {g['group']:<44} {g['size']:3d}  leads {g['leads']:3d}  none {g['unplaced']:3d}  "
              f"largest {g['largest_lead']:3d}  recall {g['recall']:.3f}")
    top = largest_leads(result, messages, tz)
    print("\nfive largest leads of the file: size, first and last month, title")
    for lead in top:
        print(f"  {lead['size']:4d}  {lead['first_month']} .. {lead['last_month']}  {_clip(lead['title'], 50)}  "
              f"({lead['lead']})")
    summary = {"messages": len(messages), "labelled": figures["labelled"], "groups": figures["groups"],
               "embedder": getattr(embedder, "name", "none"), "lookback_days": args.lookback_days,
               "pairwise_precision": figures["pairwise_precision"], "pairwise_recall": figures["pairwise_recall"],
               "pairwise_f1": figures["pairwise_f1"],
               "worst_purity": worst["purity"] if worst else None,
               "worst_purity_lead": worst["lead"] if worst else None,
               "leads_under_purity_target": len(figures["impure"]),
               "leads": len(result.leads), "in_leads": placed, "windows": result.windows,
               "largest_leads": [[lead["size"], lead["first_month"], lead["last_month"]] for lead in top],
               "enrich_s": round(s["enrich"], 1), "encode_s": round(s["encode"], 1),
               "cluster_s": round(s["cluster"], 1), "total_s": round(total, 1)}
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
