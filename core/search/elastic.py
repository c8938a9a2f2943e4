"""The Elasticsearch backend (ELASTICSEARCH_URL), through the official 8.x client.

Layout, every name starting with `prefix` (default "radar"; tests use one of their own):
- posts live in monthly indices `radar-posts-YYYY.MM` (by published month, so retention drops
  whole indices), made from the composable index template `radar-posts`, all read through
  the alias `radar-posts`;
- leads live in `radar-leads-000001`, read and written through the alias `radar-leads`.

`radar index rebuild` does not empty what the desk is reading: it fills the next generation
(`radar-g2-posts-YYYY.MM`, `radar-g2-leads`; then g3, ...) made from a template that adds no
alias, then moves both aliases onto it in one atomic `_aliases` call and makes the live template
create the new generation's months. Readers see the old index until that call and the new one
after it. The live template's index pattern names the live generation, so a writer asks it
which indices to write posts into (leads are written through their alias).

Text fields use the `cjk` analyzer (bigrams: Chinese has no spaces), or IK / smartcn when the
cluster has that plugin, with two subfields that decide what matches (EXACT_ANALYSIS): every
query term, word or quoted phrase, must appear as written (`噪音扰民` typed as one word, or
A市, 3号楼), which is the embedded backend's substring match too, so both backends answer the
same question. An index made before those subfields existed is brought up to date by
`radar index rebuild`.
"""
from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone

import numpy as np
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout, Elasticsearch, NotFoundError
from elasticsearch.helpers import streaming_bulk

from core.models import EnrichedPost, Lead, LeadStatus
from core.search.errors import IndexingError, SearchError, SearchUnavailable
from core.search.models import (LeadHit, PostHit, PostQuery, SearchPage, TrendBucket, check_point, check_text,
                                encode_cursor, snippet)
from core.search.points import lead_points
from core.search.query import Terms
from core.store import Store

def ms(at: datetime) -> int:
    return int(at.astimezone(timezone.utc).timestamp() * 1000)


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def _vector(value: np.ndarray | None, dims: int, what: str) -> list[float] | None:
    if value is None:
        return None
    vec = np.asarray(value, dtype=np.float32).ravel()
    if vec.size != dims:
        raise SearchError(f"{what}: embedding has {vec.size} dimensions, the index holds {dims}")
    return vec.tolist()


# Which posts hold a term is answered on two subfields of every text field, not by the `cjk`
# analysis: `cjk` drops English stop words ("a") and splits where Chinese meets Latin letters or
# digits, so A市, 3号楼, G2栋 or A出口, which addresses are full of, were found in some posts
# and not in others (measured on 600 real messages: "A3区" found 3 of 85). `.exact` holds every
# two-character window of the text (width-folded, lowercased), so a phrase query on it is a
# substring test, as the embedded backend's; `.char` single characters, for one-character terms.
EXACT_ANALYSIS = {
    "tokenizer": {"radar_bigram": {"type": "ngram", "min_gram": 2, "max_gram": 2, "token_chars": []},
                  "radar_unigram": {"type": "ngram", "min_gram": 1, "max_gram": 1, "token_chars": []}},
    "analyzer": {"radar_exact": {"type": "custom", "tokenizer": "radar_bigram", "filter": ["cjk_width", "lowercase"]},
                 "radar_char": {"type": "custom", "tokenizer": "radar_unigram", "filter": ["cjk_width", "lowercase"]}}}


def phrase_clauses(terms: Terms, fields: list[str]) -> list[dict]:
    """Each term as a substring of one of `fields`: a phrase of its two-character windows on
    the `.exact` subfields, or its one character on the `.char` subfields."""
    return [{"multi_match": {"query": term, "fields": [f"{f}.char" for f in fields]}} if len(term) == 1 else
            {"multi_match": {"query": term, "type": "phrase", "fields": [f"{f}.exact" for f in fields]}}
            for term in terms.all]


TERMS_SIZE = 1000  # categories, and districts per category: a city has tens of each


def _complete(terms_agg: dict) -> None:
    """A terms aggregation that left buckets out would undercount: refuse rather than guess."""
    if terms_agg.get("sum_other_doc_count"):
        raise SearchError(f"more than {TERMS_SIZE} categories or districts: counts would be incomplete")


def _marks(highlight: Mapping[str, list[str]], field: str) -> list[str]:
    return highlight.get(f"{field}.exact") or highlight.get(f"{field}.char") or []


def served(method):
    """A cluster that cannot be reached (after the client's own retries) is SearchUnavailable:
    the desk answers 503 and says so, rather than failing with the transport's error."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (EsConnectionError, ConnectionTimeout) as exc:
            raise SearchUnavailable(f"Elasticsearch cannot be reached: {exc}") from exc
    return call


class ElasticSearch:
    """`SearchIndex` over an Elasticsearch 8.x cluster (see the module docstring)."""

    name = "elasticsearch"

    def __init__(self, client: str | Elasticsearch, *, store: Store | None = None, prefix: str = "radar",
                 dims: int = 384, chunk_size: int = 500, item_retries: int = 3, backoff: float = 1.0,
                 request_timeout: float = 30, max_retries: int = 3, generation: int | None = None):
        """`generation` is for a rebuild only (begin_rebuild): a writer into that generation,
        which nothing reads until finish_rebuild; by default the live one, read from the cluster."""
        self.es = client if isinstance(client, Elasticsearch) else Elasticsearch(
            client, request_timeout=request_timeout, retry_on_timeout=max_retries > 0, max_retries=max_retries)
        self.store = store  # where lead points come from when the caller gives none
        self.prefix = prefix
        self.dims = dims
        self.chunk_size = chunk_size
        self.item_retries = item_retries
        self.backoff = backoff
        self.posts_alias = f"{prefix}-posts"
        self.leads_alias = f"{prefix}-leads"
        self.staging = generation is not None
        self.index_analyzer, self.search_analyzer = self._analyzers()
        self._checked = False  # whether the indices were seen to be current (outdated)
        self._use(generation if generation is not None else self._live_generation())
        self._ensure()

    # -- generations -----------------------------------------------------------------------
    def _use(self, generation: int) -> None:
        """Generation 1 keeps the names of the indices made before rebuilds swapped aliases."""
        self.generation = generation
        self.posts_prefix = self.posts_alias if generation == 1 else f"{self.prefix}-g{generation}-posts"
        self.leads_index = f"{self.leads_alias}-000001" if generation == 1 else f"{self.prefix}-g{generation}-leads"

    @served
    def _live_generation(self) -> int:
        """The generation the live template creates months in (1 on an empty cluster)."""
        try:
            found = self.es.indices.get_index_template(name=self.posts_alias)["index_templates"]
        except NotFoundError:
            return 1
        patterns = found[0]["index_template"]["index_patterns"] if found else []
        pattern = patterns[0] if isinstance(patterns, list) and patterns else str(patterns or "")
        m = re.fullmatch(rf"{re.escape(self.prefix)}-g(\d+)-posts-\*", pattern)
        return int(m.group(1)) if m else 1

    @served
    def begin_rebuild(self) -> "ElasticSearch":
        """A writer into the next generation, emptied first (what an interrupted rebuild left is
        dropped); fill it, refresh it, then `finish_rebuild` it. Meanwhile the desk keeps reading
        the live generation."""
        staged = ElasticSearch(self.es, store=self.store, prefix=self.prefix, dims=self.dims,
                               chunk_size=self.chunk_size, item_retries=self.item_retries, backoff=self.backoff,
                               generation=self._live_generation() + 1)
        staged.reset()
        return staged

    @served
    def finish_rebuild(self, staged: "ElasticSearch") -> list[str]:
        """Make `staged` the live generation: the live template now creates its months (with the
        alias), both aliases move onto its indices in one atomic call, its staging template goes.
        Returns the old generation's indices, still there (a writer that asked for the old
        generation just before may be writing into them): drop_indices them once caught up."""
        self._use(self._live_generation())
        if staged.generation != self.generation + 1 or not staged.staging:
            raise SearchError(f"generation {staged.generation} is not the rebuild of live generation {self.generation}")
        old_posts, old_leads = self._post_indices(), self._existing([self.leads_index])
        # New months from now on are the new generation's (and read through the alias) ...
        self._put_template(staged.posts_prefix, live=True)
        # ... and the months already built change hands in one step.
        actions = [{"remove": {"index": name, "alias": self.posts_alias}} for name in old_posts]
        actions += [{"remove": {"index": name, "alias": self.leads_alias}} for name in old_leads]
        actions += [{"add": {"index": name, "alias": self.posts_alias}} for name in staged._post_indices()]
        actions.append({"add": {"index": staged.leads_index, "alias": self.leads_alias}})
        self.es.indices.update_aliases(actions=actions)
        self.es.indices.delete_index_template(name=staged.template_name)
        self._use(staged.generation)
        self._checked = False
        return old_posts + old_leads

    @served
    def drop_indices(self, names: Sequence[str]) -> None:
        """Delete indices by name (the old generation after finish_rebuild); never a live one."""
        live = set(self._post_indices()) | {self.leads_index}
        for name in names:
            if name in live:
                raise SearchError(f"{name} is live: not dropped")
            try:
                self.es.indices.delete(index=name)
            except NotFoundError:
                pass

    def _existing(self, names: Sequence[str]) -> list[str]:
        return [name for name in names if self.es.indices.exists(index=name)]

    @property
    def template_name(self) -> str:
        return f"{self.posts_alias}-next" if self.staging else self.posts_alias

    # -- layout ----------------------------------------------------------------------------
    def _analyzers(self) -> tuple[str, str]:
        """IK (finer Chinese words) or smartcn when installed, else the built-in cjk."""
        try:
            plugins = {p.get("component") for p in self.es.cat.plugins(format="json")}
        except Exception:  # noqa: BLE001 - a cluster that will not say has no plugins we rely on
            plugins = set()
        if "analysis-ik" in plugins:
            return "ik_max_word", "ik_smart"
        if "analysis-smartcn" in plugins:
            return "smartcn", "smartcn"
        return "cjk", "cjk"

    def _text(self, keyword: bool = False) -> dict:
        """The text analysed for reading (cjk, or IK / smartcn), and as the two subfields the
        search filters on (see EXACT_ANALYSIS)."""
        field = {"type": "text", "analyzer": self.index_analyzer, "search_analyzer": self.search_analyzer,
                 "fields": {"exact": {"type": "text", "analyzer": "radar_exact"},
                            "char": {"type": "text", "analyzer": "radar_char"}}}
        if keyword:
            field["fields"]["keyword"] = {"type": "keyword", "ignore_above": 256}
        return field

    def _dense(self) -> dict:
        return {"type": "dense_vector", "dims": self.dims, "index": True, "similarity": "cosine"}

    @served
    def _ensure(self) -> None:
        """Template, alias and leads index, each created only when missing or updated in place
        (a staging generation's without aliases)."""
        self._put_template(self.posts_prefix, live=not self.staging)
        if not self.es.indices.exists(index=self.leads_index):
            self.es.indices.create(index=self.leads_index, aliases={} if self.staging else {self.leads_alias: {}},
                                   settings={"analysis": EXACT_ANALYSIS}, mappings={
                "dynamic": "strict", "properties": {
                    "lead_id": {"type": "keyword"}, "title": self._text(keyword=True), "keywords": self._text(),
                    "status": {"type": "keyword"}, "district": {"type": "keyword"},
                    "category": {"type": "keyword"}, "priority": {"type": "float"},
                    "last_seen": {"type": "date"}, "point": {"type": "geo_point"}, "centroid": self._dense()}})

    def _put_template(self, posts_prefix: str, live: bool) -> None:
        self.es.indices.put_index_template(
            # At the swap both match the new generation for a moment: the live one wins.
            name=self.posts_alias if live else f"{self.posts_alias}-next", index_patterns=[f"{posts_prefix}-*"],
            priority=100 if live else 99,
            template={"settings": {"number_of_shards": 1, "analysis": EXACT_ANALYSIS},
                      "aliases": {self.posts_alias: {}} if live else {},
                      "mappings": {"dynamic": "strict", "properties": {
                          "post_id": {"type": "keyword"}, "title": self._text(keyword=True),
                          "text": self._text(), "platform": {"type": "keyword"},
                          "district": {"type": "keyword"}, "category": {"type": "keyword"},
                          "author_hash": {"type": "keyword"}, "relevant": {"type": "boolean"},
                          "published_at": {"type": "date"}, "point": {"type": "geo_point"},
                          "embedding": self._dense()}}})

    def outdated(self) -> list[str]:
        """The indices made before the `.exact` subfields existed (see EXACT_ANALYSIS): a term
        search cannot be answered on them until `radar index rebuild`."""
        names = self._post_indices() + ([self.leads_index] if self.es.indices.exists(index=self.leads_index) else [])
        if not names:
            return []
        mappings = self.es.indices.get_mapping(index=",".join(names))
        return sorted(name for name, m in mappings.items()
                      if "exact" not in m["mappings"].get("properties", {}).get("title", {}).get("fields", {}))

    def _current(self) -> None:
        if self._checked:
            return
        stale = self.outdated()
        if stale:
            raise SearchUnavailable(f"the search index was built by an earlier version ({', '.join(stale[:3])}"
                                    f"{' ...' if len(stale) > 3 else ''}): run `radar index rebuild`")
        self._checked = True

    def _post_indices(self) -> list[str]:
        """The live generation's monthly indices (those the alias reads), or a staging one's."""
        try:
            if self.staging:
                return sorted(self.es.indices.get(index=f"{self.posts_prefix}-*").keys())
            return sorted(self.es.indices.get_alias(name=self.posts_alias).keys())
        except NotFoundError:
            return []

    def post_index(self, published_at: datetime) -> str:
        return f"{self.posts_prefix}-{published_at.astimezone(timezone.utc):%Y.%m}"

    def reset(self) -> None:
        # By name, not by wildcard: clusters refuse wildcard deletes (destructive_requires_name).
        for name in self._post_indices() + [self.leads_index]:
            try:
                self.es.indices.delete(index=name)
            except NotFoundError:
                pass
        self._ensure()
        self._checked = False

    def refresh(self) -> None:
        for name in self._post_indices() + [self.leads_index]:
            self.es.indices.refresh(index=name)

    def close(self) -> None:
        self.es.close()

    # -- writing ---------------------------------------------------------------------------
    def _bulk(self, actions: list[dict]) -> int:
        """Index `actions`; an item refused for any reason is sent again (with backoff) up to
        `item_retries` times. 429s are also retried inside streaming_bulk. Whatever still fails
        raises IndexingError naming the ids: a document is never silently dropped."""
        pending = {a["_id"]: a for a in actions}
        reasons: dict[str, object] = {}
        for attempt in range(self.item_retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), 30))
            failed: dict[str, dict] = {}
            for ok, item in streaming_bulk(self.es, list(pending.values()), chunk_size=self.chunk_size,
                                           max_retries=3, initial_backoff=self.backoff, max_backoff=30,
                                           raise_on_error=False, yield_ok=False):
                info = next(iter(item.values()))
                if not ok:
                    failed[info["_id"]] = pending[info["_id"]]
                    reasons[info["_id"]] = info.get("error") or info.get("status")
            if not failed:
                return len(actions)
            pending = failed
        ids = sorted(pending)
        first = reasons.get(ids[0])
        raise IndexingError(f"{len(ids)} document(s) failed to index after {self.item_retries} retries "
                            f"(first error: {first})", ids)

    def index_posts(self, items: Sequence[EnrichedPost],
                    embeddings: Mapping[str, np.ndarray] | None = None) -> int:
        embeddings = embeddings or {}
        if not self.staging:  # a rebuild may have made another generation live since
            self._use(self._live_generation())
        latest = {ep.id: ep for ep in items}
        actions = []
        for ep in latest.values():
            p, e = ep.post, ep.enrichment
            doc = {"post_id": p.id, "title": p.title, "text": p.text, "platform": p.platform,
                   "district": e.district, "category": e.category, "author_hash": p.author_hash,
                   "relevant": e.relevant, "published_at": iso(p.published_at)}
            if e.lat is not None and e.lon is not None:
                doc["point"] = {"lat": e.lat, "lon": e.lon}
            vector = _vector(embeddings.get(p.id), self.dims, p.id)
            if vector is not None:
                doc["embedding"] = vector
            # The post id is the document id and published_at (which a platform never changes)
            # picks the monthly index: indexing a post again overwrites its one document.
            actions.append({"_index": self.post_index(p.published_at), "_id": p.id, "_source": doc})
        return self._bulk(actions)

    def index_leads(self, leads: Sequence[Lead], centroids: Mapping[str, np.ndarray] | None = None,
                    points: Mapping[str, tuple[float, float]] | None = None) -> int:
        centroids = centroids or {}
        latest = {lead.id: lead for lead in leads}
        gone = [lead_id for lead_id, lead in latest.items() if lead.status == LeadStatus.MERGED]
        latest = {lead_id: lead for lead_id, lead in latest.items() if lead_id not in gone}
        if gone:  # see SearchIndex.index_leads; by query, so a lead never indexed is no error
            self.es.delete_by_query(index=self._leads_target, query={"ids": {"values": gone}},
                                    conflicts="proceed", refresh=True)
        if points is None:
            points = lead_points(self.store, list(latest)) if self.store is not None else {}
        actions = []
        for lead in latest.values():
            doc = {"lead_id": lead.id, "title": lead.title, "keywords": " ".join(lead.keywords),
                   "status": str(lead.status), "district": lead.district, "category": lead.category,
                   "priority": lead.priority, "last_seen": iso(lead.last_seen)}
            if lead.id in points:
                doc["point"] = {"lat": points[lead.id][0], "lon": points[lead.id][1]}
            vector = _vector(centroids.get(lead.id), self.dims, lead.id)
            if vector is not None:
                doc["centroid"] = vector
            actions.append({"_index": self._leads_target, "_id": lead.id, "_source": doc})
        return self._bulk(actions) + len(gone)

    @property
    def _leads_target(self) -> str:
        """Through the alias, so writes follow a rebuild's swap; a staging generation by name."""
        return self.leads_index if self.staging else self.leads_alias

    def _delete_by_query(self, query: dict) -> int:
        """Delete matching posts index by index. One request over the alias would do on a real
        cluster, but the CI stand-in (noida-db 0.2.3) deletes from only one index of an alias
        that spans several, and per index costs the same number of scans."""
        deleted = 0
        for name in self._post_indices():
            try:
                resp = self.es.delete_by_query(index=name, query=query, conflicts="proceed", refresh=True)
            except NotFoundError:  # deleted meanwhile (a concurrent purge)
                continue
            deleted += int(resp.get("deleted", 0))
        return deleted

    def delete_posts(self, ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(ids))
        return sum(self._delete_by_query({"ids": {"values": ids[i:i + 1000]}}) for i in range(0, len(ids), 1000))

    def purge_before(self, cutoff: datetime) -> int:
        """Whole monthly indices before the cutoff's month are deleted (cheap, no merges); the
        cutoff's own month and later lose only their posts published before the cutoff."""
        cutoff_month = f"{cutoff.astimezone(timezone.utc):%Y.%m}"
        deleted = 0
        for name in self._post_indices():
            month = name.rsplit("-", 1)[-1]
            if month < cutoff_month:  # YYYY.MM compares as text in time order
                deleted += int(self.es.count(index=name)["count"])
                self.es.indices.delete(index=name)
        return deleted + self._delete_by_query({"range": {"published_at": {"lt": iso(cutoff)}}})

    # -- reading ---------------------------------------------------------------------------
    @served
    def count_posts(self) -> int:
        names = self._post_indices()
        if not names:
            return 0
        return int(self.es.count(index=",".join(names) if self.staging else self.posts_alias)["count"])

    @served
    def search_posts(self, q: PostQuery) -> SearchPage:
        if q.terms:
            self._current()
        if q.matches_nothing or not self._post_indices():
            return SearchPage((), 0, None)
        filters: list[dict] = [{"term": {name: getattr(q, name)}} for name in ("district", "category", "platform")
                               if getattr(q, name) is not None]
        if q.districts:
            filters.append({"terms": {"district": list(q.districts)}})
        if q.since is not None or q.until is not None:
            span = {}
            if q.since is not None:
                span["gte"] = iso(q.since)
            if q.until is not None:
                span["lt"] = iso(q.until)
            filters.append({"range": {"published_at": span}})
        if q.relevant_only:
            filters.append({"term": {"relevant": True}})
        query = {"bool": {"must": phrase_clauses(q.terms, ["title", "text"]), "filter": filters}}
        extra = {}
        if q.cursor is not None:
            extra["search_after"] = [ms(q.cursor[0]), q.cursor[1]]
        resp = self.es.search(
            index=self.posts_alias, query=query, size=q.size + 1, track_total_hits=True,
            sort=[{"published_at": "desc"}, {"post_id": "asc"}], source_excludes=["embedding"],
            highlight={"encoder": "html", "pre_tags": ["<em>"], "post_tags": ["</em>"],
                       "fields": {f"{field}.{sub}": ({"number_of_fragments": 0} if field == "title" else
                                                     {"fragment_size": 80, "number_of_fragments": 3})
                                  for field in ("title", "text") for sub in ("exact", "char")}},
            **extra)
        raw = resp["hits"]["hits"]
        hits = []
        for h in raw[:q.size]:
            s, marks = h["_source"], h.get("highlight", {})
            hits.append(PostHit(post_id=s["post_id"], title=s.get("title"), snippet=snippet(s["text"]),
                                highlights=tuple(_marks(marks, "title")) + tuple(_marks(marks, "text")),
                                published_at=parse_time(s["published_at"]), platform=s["platform"],
                                district=s.get("district"), category=s.get("category")))
        next_after = encode_cursor(hits[-1].published_at, hits[-1].post_id) if len(raw) > q.size else None
        return SearchPage(tuple(hits), int(resp["hits"]["total"]["value"]), next_after)

    @served
    def trends(self, since: datetime, until: datetime) -> list[TrendBucket]:
        if not self._post_indices():
            return []
        # Posts without a district or category are counted by `missing` aggregations rather
        # than the terms aggregation's `missing` option, which the CI stand-in ignores.
        by_category = {"category": {"terms": {"field": "category", "size": 1000}},
                       "no_category": {"missing": {"field": "category"}}}
        resp = self.es.search(
            index=self.posts_alias, size=0,
            query={"bool": {"filter": [{"term": {"relevant": True}},
                                       {"range": {"published_at": {"gte": iso(since), "lt": iso(until)}}}]}},
            aggs={"day": {"date_histogram": {"field": "published_at", "calendar_interval": "day",
                                             "time_zone": "UTC", "min_doc_count": 1},
                          "aggs": {"district": {"terms": {"field": "district", "size": 1000}, "aggs": by_category},
                                   "no_district": {"missing": {"field": "district"}, "aggs": by_category}}}})
        out = []

        def add(day: date, district: str | None, bucket: dict) -> None:
            for category in bucket["category"]["buckets"]:
                out.append(TrendBucket(day, district, category["key"], int(category["doc_count"])))
            if bucket["no_category"]["doc_count"]:
                out.append(TrendBucket(day, district, None, int(bucket["no_category"]["doc_count"])))

        for day in resp["aggregations"]["day"]["buckets"]:
            when = datetime.fromtimestamp(day["key"] / 1000, tz=timezone.utc).date()
            for district in day["district"]["buckets"]:
                add(when, district["key"], district)
            if day["no_district"]["doc_count"]:
                add(when, None, day["no_district"])
        return sorted(out, key=lambda b: (b.day, b.district or "", b.category or ""))

    @served
    def count_relevant_posts(self, periods: Sequence[tuple[datetime, datetime]]) -> dict[tuple[str, str], list[int]]:
        if not periods or not self._post_indices():
            return {}
        cells = {f"p{k}": {"range": {"published_at": {"gte": iso(a), "lt": iso(b)}}} for k, (a, b) in enumerate(periods)}
        resp = self.es.search(
            index=self.posts_alias, size=0,
            query={"bool": {"filter": [{"term": {"relevant": True}},
                                       {"range": {"published_at": {"gte": iso(min(a for a, _ in periods)),
                                                                   "lt": iso(max(b for _, b in periods))}}}]}},
            aggs={"category": {"terms": {"field": "category", "size": TERMS_SIZE}, "aggs": {
                "district": {"terms": {"field": "district", "size": TERMS_SIZE},
                             "aggs": {"period": {"filters": {"filters": cells}}}}}}})
        out: dict[tuple[str, str], list[int]] = {}
        categories = resp["aggregations"]["category"]
        for category in categories["buckets"]:
            _complete(category["district"])
            for district in category["district"]["buckets"]:
                counts = district["period"]["buckets"]
                out[(category["key"], district["key"])] = [int(counts[f"p{k}"]["doc_count"]) for k in range(len(periods))]
        _complete(categories)
        return out

    @served
    def candidate_leads_many(self, vectors: np.ndarray, districts: Sequence[str | None], *,
                             since: datetime | None = None, k: int = 10,
                             per_request: int = 200) -> list[list[LeadHit]]:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(districts), -1)
        out: list[list[LeadHit]] = []
        for start in range(0, len(districts), per_request):
            body: list[dict] = []
            for vector, district in zip(vectors[start:start + per_request], districts[start:start + per_request]):
                filters: list[dict] = []
                if district is not None:
                    filters.append({"term": {"district": district}})
                if since is not None:
                    filters.append({"range": {"last_seen": {"gte": iso(since)}}})
                body += [{"index": self.leads_alias},
                         {"size": k, "_source": {"excludes": ["centroid"]},
                          "knn": {"field": "centroid", "query_vector": _vector(vector, self.dims, "query"),
                                  "k": k, "num_candidates": max(50, 5 * k), "filter": filters}}]
            resp = self.es.msearch(searches=body)
            for r in resp["responses"]:
                if "error" in r:
                    raise SearchError(f"candidate lead lookup failed: {r['error']}")
                out.append(self._lead_hits(r["hits"]["hits"], score=lambda h: 2 * float(h["_score"]) - 1))
        return out

    def _lead_hits(self, raw: Iterable[dict], **extra) -> list[LeadHit]:
        out = []
        for h in raw:
            s = h["_source"]
            point = s.get("point") or {}
            out.append(LeadHit(lead_id=s["lead_id"], title=s["title"], status=s["status"],
                               district=s.get("district"), category=s.get("category"),
                               priority=float(s["priority"]), lat=point.get("lat"), lon=point.get("lon"),
                               **{k: f(h) for k, f in extra.items()}))
        return out

    @served
    def search_leads(self, text: str, size: int = 20) -> list[LeadHit]:
        terms = check_text(text, size)
        if not terms:
            return []
        self._current()
        resp = self.es.search(index=self.leads_alias, size=size, source_excludes=["centroid"],
                              query={"bool": {"must": phrase_clauses(terms, ["title", "keywords"])}},
                              sort=[{"priority": "desc"}, {"lead_id": "asc"}])
        return self._lead_hits(resp["hits"]["hits"])

    @served
    def leads_near(self, lat: float, lon: float, meters: float, size: int = 20) -> list[LeadHit]:
        check_point(lat, lon, meters, size)
        resp = self.es.search(
            index=self.leads_alias, size=size, source_excludes=["centroid"],
            query={"bool": {"filter": [{"geo_distance": {"distance": f"{meters}m",
                                                         "point": {"lat": lat, "lon": lon}}}]}},
            sort=[{"_geo_distance": {"point": {"lat": lat, "lon": lon}, "order": "asc", "unit": "m",
                                     "distance_type": "arc"}}, {"lead_id": "asc"}])
        return self._lead_hits(resp["hits"]["hits"], distance_m=lambda h: float(h["sort"][0]))

    def candidate_leads(self, vector: np.ndarray, *, district: str | None = None,
                        category: str | None = None, since: datetime | None = None,
                        k: int = 10) -> list[LeadHit]:
        filters: list[dict] = []
        if district is not None:
            filters.append({"term": {"district": district}})
        if category is not None:
            filters.append({"term": {"category": category}})
        if since is not None:
            filters.append({"range": {"last_seen": {"gte": iso(since)}}})
        resp = self.es.search(index=self.leads_alias, size=k, source_excludes=["centroid"],
                              knn={"field": "centroid", "query_vector": _vector(vector, self.dims, "query"),
                                   "k": k, "num_candidates": max(50, 5 * k), "filter": filters})
        # Elasticsearch scores cosine as (1 + cos) / 2; callers compare plain cosine.
        return self._lead_hits(resp["hits"]["hits"], score=lambda h: 2 * float(h["_score"]) - 1)
