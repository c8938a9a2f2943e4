"""Group new posts that describe the same problem, against the leads that already exist.

1. Hard links: exact duplicates, near duplicates (MinHash) and reposts belong together; a new
   post whose exact text or reposted original is already in a lead joins that lead.
2. Join: a new post joins the existing lead whose centroid it is closest to (the centroid's
   dot with a unit vector is the post's average char 1-2-gram TF-IDF cosine to the lead's
   members), within the same district, compatible category and street, the same place when
   both name one, close in time, if it
   clears `same_problem_threshold`.
3. Cluster the rest: average-linkage agglomerative clustering of the remaining new posts per
   district block, cut at the same threshold. Average linkage does not chain: a group cannot
   drift one similar pair at a time into a different problem.
4. Sweep: posts still alone get one more chance to join a group formed in this run, so a second
   run over the same posts finds nothing left to do.

Existing leads enter as one vector each, not as their members, so a run costs what its new
posts cost, however long the history. Two leads merge only when one post is hard-linked to
both, or resembles both above `merge_threshold`.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering

from clustering.dedup import UnionFind, exact_duplicate_pairs, near_duplicate_pairs
from clustering.places import families
from core.config import ClusteringConfig
from core.models import DETAIL_KINDS, EnrichedPost

CHUNK = 2048  # new posts whose similarity rows are held densely at once
MAX_AGGLOMERATE = 8000  # new posts per block clustered in one go (memory is quadratic)
DAY = 86400.0
# The similarity of two posts (or a post and a lead) that name different spots: places far
# apart, or different buildings or exits of one place. Averaged with anything it stays far
# below every threshold, so no group holds such a pair (a zero would only dilute the average:
# at a low threshold a vague post could then bridge 3栋 and 5栋).
VETO = -1e6


@dataclass(frozen=True)
class Anchor:
    """An existing lead as the grouper sees it: where, what, when, and one centroid row."""

    lead_id: str
    first_seen: float  # epoch seconds
    last_seen: float
    district: str
    category: str
    street: str
    closed: bool  # closed leads are matched over `reopen_days`, open ones over the time window
    lat: float = float("nan")  # the place the lead is at, NaN when its posts name none
    lon: float = float("nan")
    spot: str = ""  # the place key most of its posts name ("" none): an open lead there is a
    # candidate whatever its age, since the time window only bounds the search
    detail: tuple[tuple[str, str], ...] = ()  # its detail address (kind, value), as a post's
    terms: tuple[str, ...] = ()  # the catalogue keywords it is about (none: unknown)


@dataclass(frozen=True)
class Group:
    """New posts (indices) that are one problem; `lead_ids` the existing leads they join,
    oldest first (the first survives a merge)."""

    members: tuple[int, ...]
    lead_ids: tuple[str, ...]
    similarity: dict[int, float]


@dataclass(frozen=True)
class _Posts:
    vectors: sparse.csr_matrix
    embeddings: np.ndarray | None  # unit rows, or None when clustering is lexical only
    times: np.ndarray
    category: np.ndarray  # Names codes, 0 when none
    street: np.ndarray  # Names codes, 0 when none
    lat: np.ndarray  # NaN unless the post names a place (an estate, a road, a landmark)
    lon: np.ndarray
    spot: np.ndarray  # Names code of the place key's family, 0 when none
    terms: sparse.csr_matrix  # (n, vocabulary) 1 where the post was read from that keyword
    detail: np.ndarray  # (n, len(DETAIL_KINDS)) codes of the detail values, 0 = none named

    @classmethod
    def of(cls, posts: Sequence[EnrichedPost], vectors: sparse.csr_matrix,
           embeddings: np.ndarray | None, codes: "DetailCodes", terms: sparse.csr_matrix,
           family: dict[str, str], names: "Names") -> "_Posts":
        points = [place_of(p) or (np.nan, np.nan) for p in posts]
        return cls(vectors, embeddings,
                   np.array([p.post.published_at.timestamp() for p in posts], dtype=float),
                   names.of([p.enrichment.category or "" for p in posts]),
                   names.of([p.enrichment.street or "" for p in posts]),
                   np.array([lat for lat, _ in points], dtype=float),
                   np.array([lon for _, lon in points], dtype=float),
                   names.of([family.get(p.enrichment.place_key or "", "") for p in posts]),
                   terms,
                   codes.of([p.enrichment.place_detail for p in posts]))


@dataclass(frozen=True)
class _Leads:
    """The anchors as arrays, built once per run (a run compares every chunk of new posts with
    them): the same fields as Anchor, strings as Names codes."""

    spot: np.ndarray
    category: np.ndarray
    street: np.ndarray
    closed: np.ndarray
    first_seen: np.ndarray
    last_seen: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def of(cls, anchors: Sequence[Anchor], family: dict[str, str], names: "Names") -> "_Leads":
        return cls(names.of([family.get(a.spot, "") for a in anchors]),
                   names.of([a.category for a in anchors]), names.of([a.street for a in anchors]),
                   np.array([a.closed for a in anchors], dtype=bool),
                   np.array([a.first_seen for a in anchors], dtype=float),
                   np.array([a.last_seen for a in anchors], dtype=float),
                   np.array([a.lat for a in anchors], dtype=float), np.array([a.lon for a in anchors], dtype=float))


class Names:
    """Strings as small ints, "" as 0: comparing them over a posts x leads matrix is then an
    integer compare, not one Python string compare per cell (a fifth of a batch at scale)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {"": 0}

    def of(self, values: Sequence[str]) -> np.ndarray:
        return np.fromiter((self._ids.setdefault(v, len(self._ids)) for v in values), dtype=np.int32,
                           count=len(values))


class DetailCodes:
    """Detail values as small ints per kind, and keyword sets as binary rows, so conflicts are
    compared as arrays."""

    def __init__(self) -> None:
        self._codes: dict[tuple[str, str], int] = {}
        self._terms: dict[str, int] = {}

    def terms(self, sets: Sequence[Sequence[str]], idf: np.ndarray | None = None) -> sparse.csr_matrix:
        """Unit rows over the keywords, weighted by `idf` (indexed by keyword code) when given."""
        rows = [r for r, terms in enumerate(sets) for _ in set(terms)]
        cols = [self._terms.setdefault(t, len(self._terms)) for terms in sets for t in set(terms)]
        width = 4096 * (1 + len(self._terms) // 4096)
        m = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(sets), width))
        if idf is not None:
            weights = np.ones(width, dtype=np.float32)
            weights[:len(idf)] = idf[:width]
            m = m @ sparse.diags(weights)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return (sparse.diags(1.0 / norms) @ m).tocsr()

    def term_idf(self, binary: sparse.csr_matrix) -> np.ndarray:
        """Smooth idf of each keyword code over the rows of `binary` (this run's posts)."""
        present = binary.copy()
        present.data[:] = 1
        df = np.asarray(present.sum(axis=0)).ravel()[:len(self._terms)]
        return (np.log((1.0 + binary.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)

    def of(self, details: Sequence[tuple[tuple[str, str], ...]]) -> np.ndarray:
        out = np.zeros((len(details), len(DETAIL_KINDS)), dtype=np.int32)
        for i, detail in enumerate(details):
            for kind, value in detail:
                if kind in _KIND:
                    out[i, _KIND[kind]] = self._codes.setdefault((kind, value), len(self._codes) + 1)
        return out


_KIND = {kind: k for k, kind in enumerate(DETAIL_KINDS)}


def _one_sided(a: np.ndarray, b: np.ndarray, cfg: ClusteringConfig) -> np.ndarray | float:
    """`one_sided_detail_factor` where one side names a detail of a kind the other does not."""
    if cfg.one_sided_detail_factor >= 1.0:
        return 1.0
    out = np.zeros((a.shape[0], b.shape[0]), dtype=bool)
    for k in range(a.shape[1]):
        x, y = a[:, k] != 0, b[:, k] != 0
        if x.any() or y.any():
            out |= x[:, None] ^ y[None, :]
    return np.where(out, cfg.one_sided_detail_factor, 1.0)


def _apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row x column: True where both name a detail of one kind (3栋, B出口) and they differ."""
    out = np.zeros((a.shape[0], b.shape[0]), dtype=bool)
    for k in range(a.shape[1]):
        x, y = a[:, k], b[:, k]
        if not (x.any() and y.any()):
            continue
        out |= (x[:, None] != 0) & (y[None, :] != 0) & (x[:, None] != y[None, :])
    return out


def _what(a: sparse.csr_matrix, b: sparse.csr_matrix, cfg: ClusteringConfig) -> tuple[np.ndarray, np.ndarray]:
    """(factor, agree): `different_what_factor` where both were read from catalogue keywords
    and the keywords they share are the common ones (跑路 in 美容院跑路 and 健身房跑路 at one
    park), else 1; and True where their keywords agree. Rows are idf-weighted unit vectors over
    this run's posts; a cosine under `what_min_cosine` means different things."""
    width = max(a.shape[1], b.shape[1])
    a.resize((a.shape[0], width))
    b.resize((b.shape[0], width))
    cosine = (a @ b.T).toarray()
    known = (np.diff(a.indptr) > 0)[:, None] & (np.diff(b.indptr) > 0)[None, :]
    agree = cosine >= cfg.what_min_cosine
    return np.where(known & ~agree, cfg.different_what_factor, 1.0), known & agree


def _same_spot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[:, None] == b[None, :]) & (a[:, None] != 0)


def _place_factor(a: np.ndarray, b: np.ndarray, cfg: ClusteringConfig) -> np.ndarray | float:
    """`different_place_factor` where both name a place and the places differ, else 1."""
    if cfg.different_place_factor >= 1.0:
        return 1.0
    differ = (a[:, None] != b[None, :]) & (a[:, None] != 0) & (b[None, :] != 0)
    return np.where(differ, cfg.different_place_factor, 1.0)


def place_of(post: EnrichedPost) -> tuple[float, float] | None:
    """The point of the place a post names; street- or district-level points say too little."""
    e = post.enrichment
    if e.location_precision == "place" and e.lat is not None and e.lon is not None:
        return e.lat, e.lon
    return None


def _near(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray, meters: float) -> np.ndarray:
    """Row x column: True unless both name a place and the places are over `meters` apart
    (an unknown place is near). Posts about one problem name one place; the gazetteer gives it
    one point. Computed only over the rows and columns that have a point."""
    out = np.ones((len(lat1), len(lat2)), dtype=bool)
    r = np.flatnonzero(~(np.isnan(lat1) | np.isnan(lon1)))
    c = np.flatnonzero(~(np.isnan(lat2) | np.isnan(lon2)))
    if len(r) and len(c):
        dy = np.radians(lat1[r][:, None] - lat2[c][None, :])
        dx = np.radians(lon1[r][:, None] - lon2[c][None, :]) * np.cos(np.radians(lat1[r]))[:, None]
        out[np.ix_(r, c)] = dx * dx + dy * dy <= (meters / 6_371_000) ** 2
    return out


def blend(lexical: np.ndarray, cosine: np.ndarray, cfg: ClusteringConfig) -> np.ndarray:
    """One similarity from words and meaning: the char n-gram cosine mixed with the embedding
    cosine rescaled so that `embedding_floor` (what unrelated texts score under the model) is 0
    and identity is 1. Linear above the floor, so a mean over members blends like its parts."""
    w = cfg.embedding_weight
    meaning = np.clip((cosine - cfg.embedding_floor) / (1.0 - cfg.embedding_floor), 0.0, 1.0)
    return (1.0 - w) * lexical + w * meaning


def _category_factor(a: np.ndarray, b: np.ndarray, cfg: ClusteringConfig) -> np.ndarray | float:
    """`different_category_factor` where both have a category and they differ (0: never one
    problem), else 1. A soft rule because a category is a guess: on the hand-checked real
    messages half of the pairs about one problem were given different categories."""
    if cfg.different_category_factor >= 1.0:
        return 1.0
    differ = (a[:, None] != b[None, :]) & (a[:, None] != 0) & (b[None, :] != 0)
    return np.where(differ, cfg.different_category_factor, 1.0)


def _compatible(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Unknown category or street is compatible with any: absence is not evidence.
    a, b = a[:, None], b[None, :]
    return (a == b) | (a == 0) | (b == 0)


class _Placement:
    """Union-find over new posts (0..n-1) then anchors (n..n+k-1); `best` is each post's
    similarity to what it joined."""

    def __init__(self, n_posts: int, n_anchors: int):
        self.n = n_posts
        self.uf = UnionFind(n_posts + n_anchors)
        self.best = np.zeros(n_posts)

    def join(self, i: int, j: int, sim: float) -> None:
        self.uf.union(i, j)
        if i < self.n:
            self.best[i] = max(self.best[i], sim)


def group(posts: Sequence[EnrichedPost], vectors: sparse.csr_matrix, anchors: Sequence[Anchor],
          centroids: sparse.csr_matrix, links: Sequence[tuple[int, int]], cfg: ClusteringConfig,
          embeddings: np.ndarray | None = None, anchor_embeddings: np.ndarray | None = None) -> list[Group]:
    """Place `posts` (rows of unit `vectors`, and of unit `embeddings` when given) among
    `anchors` (rows of `centroids` and `anchor_embeddings`, NaN rows where a lead has no
    embedding centroid); `links` are (post, anchor) pairs the store already proved to be one
    problem."""
    n, k = len(posts), len(anchors)
    if n == 0:
        return []
    # A repost's own words ("转发微博", "同问") say nothing about which problem it is: it is
    # placed through its original only, never by its text.
    own_text = np.array([p.post.reposted_id is None for p in posts])
    place = _Placement(n, k)
    codes = DetailCodes()
    what = [p.enrichment.what_terms for p in posts]
    idf = codes.term_idf(codes.terms(what))
    family = families([p.enrichment.place_key or "" for p in posts] + [a.spot for a in anchors])
    names = Names()
    f = _Posts.of(posts, vectors, embeddings, codes, codes.terms(what, idf), family, names)
    leads = _Leads.of(anchors, family, names)
    anchor_detail = codes.of([a.detail for a in anchors])
    anchor_terms = codes.terms([a.terms for a in anchors], idf)
    for i, a in links:
        place.join(i, n + a, 1.0)
    anchor_blocks: dict[str, list[int]] = defaultdict(list)
    for a, anchor in enumerate(anchors):
        anchor_blocks[anchor.district].append(a)
    for district, idx in _blocks(posts, own_text, f.spot, anchors, leads.spot).items():
        _place_block(f, idx, leads, centroids, anchor_embeddings, anchor_detail, anchor_terms,
                     np.array(anchor_blocks.get(district, []), dtype=int), place, block_settings(cfg, len(idx)))
    _hard_links(posts, own_text, f.detail, f.spot, place, cfg)

    members_of: dict[int, list[int]] = defaultdict(list)
    leads_of: dict[int, list[Anchor]] = defaultdict(list)
    for i in range(n):
        members_of[place.uf.find(i)].append(i)
    for a, anchor in enumerate(anchors):
        leads_of[place.uf.find(n + a)].append(anchor)
    return [Group(tuple(members),
                  tuple(a.lead_id for a in sorted(leads_of.get(root, []), key=lambda a: (a.first_seen, a.lead_id))),
                  {i: float(place.best[i]) for i in members})
            for root, members in members_of.items()]


def block_settings(cfg: ClusteringConfig, posts: int) -> ClusteringConfig:
    """The settings for a block of `posts` new posts: the threshold rises by
    `threshold_per_decade` for each tenfold of posts over `threshold_reference_posts`. The more
    unrelated posts a post is compared with, the higher the best of them scores by chance
    (multiple comparisons): a cut that keeps a few dozen sparse reports apart merges hundreds of
    dense, formulaic ones."""
    if cfg.threshold_per_decade <= 0 or posts <= cfg.threshold_reference_posts:
        return cfg
    rise = cfg.threshold_per_decade * float(np.log10(posts / cfg.threshold_reference_posts))
    return cfg.model_copy(update={"same_problem_threshold": min(cfg.same_problem_threshold + rise, 0.95)})


def _blocks(posts: Sequence[EnrichedPost], own_text: np.ndarray, spot: np.ndarray,
            anchors: Sequence[Anchor], anchor_spot: np.ndarray) -> dict[str, np.ndarray]:
    """Posts by district. A post naming no district but a place whose other posts or leads are
    in one district is in that district (most messages about an estate never name the
    district it is in); posts with no district otherwise are compared only with each other: a
    placeless post must not pull a placed lead toward another district."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for i, p in enumerate(posts):
        if spot[i] and p.enrichment.district:
            seen[spot[i]][p.enrichment.district] += 1
    for a, anchor in enumerate(anchors):
        if anchor_spot[a] and anchor.district:
            seen[anchor_spot[a]][anchor.district] += 1
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(posts):
        if own_text[i]:
            district = p.enrichment.district or ""
            if not district and spot[i] in seen:
                (top, n), *rest = seen[spot[i]].most_common(2) + [("", 0)]
                if n > rest[0][1]:
                    district = top
            blocks[district].append(i)
    return {k: np.array(v) for k, v in blocks.items()}


def _post_similarity(f: _Posts, rows: np.ndarray, cols: np.ndarray, cfg: ClusteringConfig) -> np.ndarray:
    """Cosine between posts, zero where they cannot be one problem."""
    sims = (f.vectors[rows] @ f.vectors[cols].T).toarray()
    if f.embeddings is not None:
        sims = blend(sims, f.embeddings[rows] @ f.embeddings[cols].T, cfg)
    factor, agree = _what(f.terms[rows], f.terms[cols], cfg)
    sims = (sims * factor * _place_factor(f.spot[rows], f.spot[cols], cfg) * _one_sided(f.detail[rows], f.detail[cols], cfg)
            * _category_factor(f.category[rows], f.category[cols], cfg))
    same = _same_spot(f.spot[rows], f.spot[cols])
    if cfg.same_place_bonus:
        # one place, one thing: the place was blanked from the words, it counts here
        sims = np.minimum(sims + cfg.same_place_bonus * (same & agree), 1.0)
    close = np.abs(f.times[rows][:, None] - f.times[cols][None, :]) <= cfg.time_window_days * DAY
    elsewhere = (~_near(f.lat[rows], f.lon[rows], f.lat[cols], f.lon[cols], cfg.same_place_meters)
                 | _apart(f.detail[rows], f.detail[cols]))
    ok = (close | same) & _compatible(f.street[rows], f.street[cols])
    sims[~ok] = 0.0
    sims[elsewhere] = VETO
    return sims


def _anchor_similarity(f: _Posts, rows: np.ndarray, leads: _Leads, cols: np.ndarray, centroids: sparse.csr_matrix,
                       anchor_embeddings: np.ndarray | None, anchor_detail: np.ndarray,
                       anchor_terms: sparse.csr_matrix, cfg: ClusteringConfig) -> np.ndarray:
    """Average cosine of each post to each lead's members, zero where they cannot be one problem."""
    sims = (f.vectors[rows] @ centroids[cols].T).toarray()
    if f.embeddings is not None and anchor_embeddings is not None:
        mean_cos = f.embeddings[rows] @ np.nan_to_num(anchor_embeddings[cols]).T
        known = ~np.isnan(anchor_embeddings[cols, 0])
        # A lead with no embedding centroid yet is judged by its words alone.
        sims[:, known] = blend(sims[:, known], mean_cos[:, known], cfg)
    spots, closed = leads.spot[cols], leads.closed[cols]
    factor, agree = _what(f.terms[rows], anchor_terms[cols], cfg)
    sims = (sims * factor * _place_factor(f.spot[rows], spots, cfg) * _one_sided(f.detail[rows], anchor_detail[cols], cfg)
            * _category_factor(f.category[rows], leads.category[cols], cfg))
    same = _same_spot(f.spot[rows], spots)
    if cfg.same_place_bonus:
        sims = np.minimum(sims + cfg.same_place_bonus * (same & agree), 1.0)
    reach = np.where(closed, cfg.reopen_days, cfg.time_window_days) * DAY
    first = leads.first_seen[cols] - reach
    last = leads.last_seen[cols] + reach
    t = f.times[rows][:, None]
    # An open lead at the post's place is the same problem however long it has run; a closed
    # one comes back only within reopen_days (past that, a recurrence is a new lead).
    running = same & ~closed[None, :]
    elsewhere = (_apart(f.detail[rows], anchor_detail[cols])
                 | ~_near(f.lat[rows], f.lon[rows], leads.lat[cols], leads.lon[cols], cfg.same_place_meters))
    ok = ((((t >= first[None, :]) & (t <= last[None, :])) | running)
          & _compatible(f.street[rows], leads.street[cols]))
    sims[~ok] = 0.0
    sims[elsewhere] = VETO
    return sims


def _join_best(rows: np.ndarray, targets: np.ndarray, scores: np.ndarray, place: _Placement,
               cfg: ClusteringConfig) -> np.ndarray:
    """Join each row to its best-scoring target (node ids); a row close to two targets above
    `merge_threshold` is evidence they are one. Returns who joined."""
    joined = np.zeros(len(rows), dtype=bool)
    if scores.shape[1] == 0:
        return joined
    for r, i in enumerate(rows):
        order = np.argsort(-scores[r])[:3]
        top = scores[r, order[0]]
        if top < cfg.same_problem_threshold:
            continue
        target = int(targets[order[0]])
        place.join(int(i), target, float(top))
        joined[r] = True
        for c in order[1:]:
            if scores[r, c] >= cfg.merge_threshold and top >= cfg.merge_threshold:
                place.uf.union(target, int(targets[c]))
    return joined


def average_linkage(sims: np.ndarray, cfg: ClusteringConfig) -> np.ndarray:
    """Labels of average-linkage agglomeration cut at `same_problem_threshold`: every member of
    a group resembles the rest of it on average, so groups do not chain."""
    return AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                   distance_threshold=1.0 - cfg.same_problem_threshold).fit_predict(1.0 - sims)


def hdbscan_labels(sims: np.ndarray, cfg: ClusteringConfig) -> np.ndarray:
    """Labels of HDBSCAN on the same distances (min cluster size 2, clusters closer than the
    threshold distance not split); noise gets a label of its own per post."""
    import hdbscan  # imported here: a second clusterer most runs never load

    distances = np.clip(1.0 - sims, 0.0, 1.0).astype(np.float64)
    distances[sims <= 0] = 10.0  # pairs that cannot be one problem (time, place, category) stay apart
    labels = hdbscan.HDBSCAN(min_cluster_size=2, min_samples=1, metric="precomputed", allow_single_cluster=True,
                             cluster_selection_epsilon=float(1.0 - cfg.same_problem_threshold)
                             ).fit_predict(distances)
    return np.where(labels < 0, -1 - np.arange(len(labels)), labels)


# How the posts no lead took are grouped (`clustering.algorithm`). Average linkage is the
# default because it measured better on problems of 2-8 posts, where density estimates are thin:
# benchmarks.lead_quality --posts 1500 [--algorithm hdbscan] gave pairwise F1 0.967-0.969 (average)
# against 0.859 (HDBSCAN); on words only 0.964 against 0.84-0.90 (eom or leaf, epsilon 0-0.85).
RESIDUAL_CLUSTERERS = {"average": average_linkage, "hdbscan": hdbscan_labels}


def _join_groups(f: _Posts, rows: np.ndarray, others: np.ndarray, place: _Placement,
                 cfg: ClusteringConfig) -> None:
    """Join each row to the group of `others` it resembles most on average."""
    roots = np.array([place.uf.find(int(c)) for c in others])
    labels, inverse = np.unique(roots, return_inverse=True)
    indicator = sparse.csr_matrix((np.ones(len(others)), (np.arange(len(others)), inverse)),
                                  shape=(len(others), len(labels)))
    sizes = np.asarray(indicator.sum(axis=0)).ravel()
    for s in range(0, len(rows), CHUNK):
        part = rows[s:s + CHUNK]
        averages = (sparse.csr_matrix(_post_similarity(f, part, others, cfg)) @ indicator).toarray() / sizes
        _join_best(part, labels, averages, place, cfg)


def _place_block(f: _Posts, idx: np.ndarray, leads: _Leads, centroids: sparse.csr_matrix,
                 anchor_embeddings: np.ndarray | None, anchor_detail: np.ndarray,
                 anchor_terms: sparse.csr_matrix, anchor_idx: np.ndarray,
                 place: _Placement, cfg: ClusteringConfig) -> None:
    rest = idx
    # What each lead holds of this run, detail by detail: posts that each fit a lead naming no
    # building may not bring it two different buildings (3栋 and 5栋 joining one vague lead).
    held: dict[int, np.ndarray] = {}
    if len(anchor_idx):
        joined = np.zeros(len(idx), dtype=bool)
        for s in range(0, len(idx), CHUNK):
            rows = idx[s:s + CHUNK]
            scores = _anchor_similarity(f, rows, leads, anchor_idx, centroids, anchor_embeddings, anchor_detail,
                                        anchor_terms, cfg)
            joined[s:s + CHUNK] = _join_anchors(f, rows, anchor_idx, scores, anchor_detail, held, place, cfg)
        rest = idx[~joined]
    for s in range(0, len(rest), MAX_AGGLOMERATE):
        part = rest[s:s + MAX_AGGLOMERATE]
        if len(part) < 2:
            continue
        sims = _post_similarity(f, part, part, cfg)
        np.fill_diagonal(sims, 1.0)
        labels = RESIDUAL_CLUSTERERS[cfg.algorithm](sims, cfg)
        founders: dict[int, int] = {}
        for r, label in enumerate(labels):
            i = int(part[r])
            if label in founders:
                place.join(i, founders[label], float(sims[r, labels == label].mean()))
            else:
                founders[label] = i
    if len(anchor_idx) and len(rest):
        _groups_join_anchors(f, rest, leads, anchor_idx, centroids, anchor_embeddings, anchor_detail,
                             anchor_terms, held, place, cfg)
    # The sweep: a post still alone tries every group of this run's posts in the block once more.
    roots = np.array([place.uf.find(int(i)) for i in idx])
    counts = Counter(roots.tolist())
    alone = idx[np.array([counts[r] == 1 and place.best[i] == 0 for r, i in zip(roots, idx)])]
    others = idx[np.array([counts[r] > 1 for r in roots])]
    if len(alone) and len(others):
        _join_groups(f, alone, others, place, cfg)


def _groups_join_anchors(f: _Posts, rest: np.ndarray, leads: _Leads,
                         anchor_idx: np.ndarray, centroids: sparse.csr_matrix, anchor_embeddings: np.ndarray | None,
                         anchor_detail: np.ndarray, anchor_terms: sparse.csr_matrix, held: dict[int, np.ndarray],
                         place: _Placement, cfg: ClusteringConfig) -> None:
    """A group formed from this run's posts joins the lead it resembles on average (its
    members' mean similarity to the lead), the average-linkage rule between two groups: posts
    each a little under the threshold to a long-running lead, but posted together, are its
    next wave, not a second lead beside it."""
    roots = np.array([place.uf.find(int(i)) for i in rest])
    counts = Counter(roots.tolist())
    grouped = rest[np.array([counts[r] > 1 for r in roots])]
    if not len(grouped):
        return
    labels, inverse = np.unique([place.uf.find(int(i)) for i in grouped], return_inverse=True)
    totals = np.zeros((len(labels), len(anchor_idx)))
    for s in range(0, len(grouped), CHUNK):
        rows = grouped[s:s + CHUNK]
        scores = _anchor_similarity(f, rows, leads, anchor_idx, centroids, anchor_embeddings,
                                    anchor_detail, anchor_terms, cfg)
        np.add.at(totals, inverse[s:s + CHUNK], scores)
    sizes = np.bincount(inverse)
    averages = totals / sizes[:, None]
    # A group's detail: what its members name (the veto kept them from naming two of one kind).
    detail = np.zeros((len(labels), f.detail.shape[1]), dtype=f.detail.dtype)
    for g, i in zip(inverse, grouped):
        detail[g] = np.where(detail[g] == 0, f.detail[i], detail[g])
    best = np.argmax(averages, axis=1)
    top = averages[np.arange(len(labels)), best]
    for g in np.argsort(-top):
        if top[g] < cfg.same_problem_threshold:
            break
        a = int(anchor_idx[best[g]])
        if _take(held, a, anchor_detail, detail[g]):
            place.uf.union(int(labels[g]), place.n + a)


def _take(held: dict[int, np.ndarray], a: int, anchor_detail: np.ndarray, detail: np.ndarray) -> bool:
    """Whether lead `a` can take something naming `detail`, given what it holds; records it."""
    have = held.setdefault(a, anchor_detail[a].copy())
    if ((have != 0) & (detail != 0) & (have != detail)).any():
        return False
    np.copyto(have, detail, where=(have == 0))
    return True


def _join_anchors(f: _Posts, rows: np.ndarray, anchor_idx: np.ndarray, scores: np.ndarray,
                  anchor_detail: np.ndarray, held: dict[int, np.ndarray], place: _Placement,
                  cfg: ClusteringConfig) -> np.ndarray:
    """Join each post to its best lead, the closest posts first; a post whose detail conflicts
    with what its lead already took this run stays out (it is grouped with the rest). A post
    close to two leads above `merge_threshold` merges them, unless their details conflict.
    Returns who joined."""
    joined = np.zeros(len(rows), dtype=bool)
    if scores.shape[1] == 0:
        return joined
    best = np.argmax(scores, axis=1)
    top = scores[np.arange(len(rows)), best]
    for r in np.argsort(-top):
        if top[r] < cfg.same_problem_threshold:
            break
        i, a = int(rows[r]), int(anchor_idx[best[r]])
        if not _take(held, a, anchor_detail, f.detail[i]):
            continue
        place.join(i, place.n + a, float(top[r]))
        joined[r] = True
        if top[r] < cfg.merge_threshold:
            continue
        for c in np.argsort(-scores[r])[1:3]:
            other = int(anchor_idx[c])
            if scores[r, c] >= cfg.merge_threshold and _take(held, a, anchor_detail, held.get(other, anchor_detail[other])):
                place.uf.union(place.n + a, place.n + other)
    return joined


def _hard_links(posts: Sequence[EnrichedPost], own_text: np.ndarray, detail: np.ndarray, spot: np.ndarray,
                place: _Placement, cfg: ClusteringConfig) -> None:
    own = [i for i in range(len(posts)) if own_text[i]]
    for a, b in exact_duplicate_pairs([posts[i].enrichment.text_hash for i in own]):
        place.join(own[b], own[a], 1.0)
    for a, b in near_duplicate_pairs([posts[i].enrichment.normalized_text for i in own], cfg.near_duplicate_threshold):
        i, j = own[a], own[b]
        # One template, two buildings (3栋 and 5栋) or two places (one letter sent about two
        # colleges, the name swapped): a few characters apart, and two problems.
        if _apart(detail[i][None, :], detail[j][None, :])[0, 0] or (spot[i] and spot[j] and spot[i] != spot[j]):
            continue
        place.join(j, i, cfg.near_duplicate_threshold)
    index_of = {p.id: i for i, p in enumerate(posts)}
    for i, p in enumerate(posts):
        original = p.post.reposted_id
        if original and original in index_of:
            place.join(i, index_of[original], 1.0)
