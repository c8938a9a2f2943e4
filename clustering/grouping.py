"""Group posts that describe the same problem, incrementally.

1. Hard links: exact duplicates, near duplicates (MinHash) and reposts belong together.
2. Join: a new post joins the existing lead whose members it resembles most on average
   (char n-gram TF-IDF cosine, same district, compatible category and street, close in time),
   if that average clears `same_problem_threshold`.
3. Cluster the rest: average-linkage agglomerative clustering of the remaining new posts per
   district block, cut at the same threshold. Average linkage does not chain: a group cannot
   drift one similar pair at a time into a different problem.
4. Sweep: posts still alone get one more chance to join any group by the join rule, so a
   second run over the same posts finds nothing left to do.

Existing leads enter as anchors, so their ids stay put. Two leads merge only when one post
is hard-linked to both, or resembles both above `merge_threshold`.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer

from clustering.dedup import UnionFind, exact_duplicate_pairs, near_duplicate_pairs
from core.config import ClusteringConfig
from core.models import EnrichedPost

CHUNK = 2048  # new posts whose similarity rows are held densely at once
MAX_AGGLOMERATE = 8000  # new posts per block clustered in one go (memory is quadratic)


@dataclass(frozen=True)
class Node:
    post: EnrichedPost
    lead_id: str | None  # the lead it already belongs to, None for a new post
    closed: bool = False  # member of a closed lead: matched over `reopen_days`, not the time window


@dataclass(frozen=True)
class Group:
    """A set of nodes; `lead_ids` are the existing leads it holds, oldest first."""

    members: tuple[int, ...]
    lead_ids: tuple[str, ...]
    similarity: dict[int, float]


class _Placement:
    """Which group each node is in; groups merge through a union-find over founder indices."""

    def __init__(self, nodes: Sequence[Node]):
        self.uf = UnionFind(len(nodes))
        self.best = np.zeros(len(nodes))
        first: dict[str, int] = {}
        for i, node in enumerate(nodes):
            if node.lead_id is not None:
                self.uf.union(first.setdefault(node.lead_id, i), i)

    def join(self, i: int, j: int, sim: float) -> None:
        self.uf.union(i, j)
        self.best[i] = max(self.best[i], sim)


def group(nodes: Sequence[Node], cfg: ClusteringConfig) -> list[Group]:
    n = len(nodes)
    if n == 0:
        return []
    is_new = np.array([node.lead_id is None for node in nodes])
    # A repost's own words ("转发微博", "同问") say nothing about which problem it is: it is
    # placed through its original only, never by its text.
    own_text = np.array([node.post.post.reposted_id is None for node in nodes])
    place = _Placement(nodes)
    texts = [node.post.enrichment.normalized_text for node in nodes]
    features = _Features.of(nodes, texts, cfg)
    for idx in _blocks(nodes, own_text).values():
        _place_block(features, idx, is_new, place, cfg)
    _hard_links(nodes, texts, is_new, own_text, place, cfg)

    members_of: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        members_of[place.uf.find(i)].append(i)
    out = []
    for members in members_of.values():
        leads = sorted({nodes[i].lead_id for i in members if nodes[i].lead_id},
                       key=lambda lid: min(nodes[i].post.post.published_at for i in members
                                           if nodes[i].lead_id == lid))
        out.append(Group(tuple(members), tuple(leads), {i: float(place.best[i]) for i in members}))
    return out


def _blocks(nodes: Sequence[Node], own_text: np.ndarray) -> dict[str, np.ndarray]:
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, node in enumerate(nodes):
        if own_text[i]:
            # Posts with no known district are compared only with each other: a placeless post
            # must not pull a placed lead toward another district.
            blocks[node.post.enrichment.district or ""].append(i)
    return {k: np.array(v) for k, v in blocks.items()}


@dataclass(frozen=True)
class _Features:
    matrix: sparse.csr_matrix
    times: np.ndarray
    reach: np.ndarray  # seconds: how far in time a post may be from this one and be one problem
    category: np.ndarray
    street: np.ndarray

    @classmethod
    def of(cls, nodes: Sequence[Node], texts: Sequence[str], cfg: ClusteringConfig) -> "_Features":
        matrix = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True,
                                 dtype=np.float32).fit_transform(texts)
        return cls(matrix,
                   np.array([n.post.post.published_at.timestamp() for n in nodes]),
                   np.array([(cfg.reopen_days if n.closed else cfg.time_window_days) * 86400 for n in nodes]),
                   np.array([n.post.enrichment.category or "" for n in nodes], dtype=object),
                   np.array([n.post.enrichment.street or "" for n in nodes], dtype=object))


def _similarity(f: _Features, rows: np.ndarray, cols: np.ndarray, cfg: ClusteringConfig) -> np.ndarray:
    """Cosine between rows and cols, zero where they cannot be one problem."""
    sims = (f.matrix[rows] @ f.matrix[cols].T).toarray()
    close = np.abs(f.times[rows][:, None] - f.times[cols][None, :]) <= f.reach[cols][None, :]
    # Unknown category or street is compatible with any: absence is not evidence.
    cr, cc = f.category[rows][:, None], f.category[cols][None, :]
    sr, sc = f.street[rows][:, None], f.street[cols][None, :]
    ok = close & ((cr == cc) | (cr == "") | (cc == "")) & ((sr == sc) | (sr == "") | (sc == ""))
    sims[~ok] = 0.0
    return sims


def _join_existing(rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, place: _Placement,
                   cfg: ClusteringConfig) -> np.ndarray:
    """Join each row to the group of `cols` it resembles most on average; returns who joined."""
    roots = np.array([place.uf.find(int(c)) for c in cols])
    labels, inverse = np.unique(roots, return_inverse=True)
    indicator = sparse.csr_matrix((np.ones(len(cols)), (np.arange(len(cols)), inverse)),
                                  shape=(len(cols), len(labels)))
    sizes = np.asarray(indicator.sum(axis=0)).ravel()
    averages = (sparse.csr_matrix(sims) @ indicator).toarray() / sizes
    joined = np.zeros(len(rows), dtype=bool)
    for r, i in enumerate(rows):
        order = np.argsort(-averages[r])
        top = averages[r, order[0]] if len(order) else 0.0
        if top < cfg.same_problem_threshold:
            continue
        target = int(labels[order[0]])
        place.join(int(i), target, float(top))
        joined[r] = True
        for k in order[1:3]:  # a post close to two groups at once is evidence they are one
            if averages[r, k] >= cfg.merge_threshold and top >= cfg.merge_threshold:
                place.uf.union(target, int(labels[k]))
    return joined


def _place_block(f: _Features, idx: np.ndarray, is_new: np.ndarray, place: _Placement,
                 cfg: ClusteringConfig) -> None:
    new = idx[is_new[idx]]
    old = idx[~is_new[idx]]
    if len(new) == 0:
        return
    rest = new
    if len(old):
        joined = np.zeros(len(new), dtype=bool)
        for s in range(0, len(new), CHUNK):
            rows = new[s:s + CHUNK]
            joined[s:s + CHUNK] = _join_existing(rows, old, _similarity(f, rows, old, cfg), place, cfg)
        rest = new[~joined]
    for s in range(0, len(rest), MAX_AGGLOMERATE):
        part = rest[s:s + MAX_AGGLOMERATE]
        if len(part) < 2:
            continue
        sims = _similarity(f, part, part, cfg)
        np.fill_diagonal(sims, 1.0)
        labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                         distance_threshold=1.0 - cfg.same_problem_threshold
                                         ).fit_predict(1.0 - sims)
        founders: dict[int, int] = {}
        for r, label in enumerate(labels):
            i = int(part[r])
            if label in founders:
                place.join(i, founders[label], float(sims[r, labels == label].mean()))
            else:
                founders[label] = i
    # The sweep: anyone still alone tries every group in the block once more.
    roots = np.array([place.uf.find(int(j)) for j in idx])
    counts = Counter(roots.tolist())
    alone = np.array([int(i) for i, r in zip(idx, roots) if counts[r] == 1 and is_new[i]])
    others = idx[np.array([counts[r] > 1 for r in roots])]
    if len(alone) and len(others):
        for s in range(0, len(alone), CHUNK):
            rows = alone[s:s + CHUNK]
            _join_existing(rows, others, _similarity(f, rows, others, cfg), place, cfg)


def _hard_links(nodes, texts, is_new, own_text, place: _Placement, cfg: ClusteringConfig) -> None:
    for i, j in exact_duplicate_pairs([node.post.enrichment.text_hash for node in nodes]):
        if own_text[i] and own_text[j] and (is_new[i] or is_new[j]):
            place.join(j, i, 1.0)
    idx = [i for i in range(len(nodes)) if own_text[i]]
    for a, b in near_duplicate_pairs([texts[i] for i in idx], cfg.near_duplicate_threshold):
        i, j = idx[a], idx[b]
        if is_new[i] or is_new[j]:
            place.join(j, i, cfg.near_duplicate_threshold)
    index_of = {node.post.id: i for i, node in enumerate(nodes)}
    for i, node in enumerate(nodes):
        original = node.post.post.reposted_id
        if original and original in index_of and is_new[i]:
            place.join(i, index_of[original], 1.0)
