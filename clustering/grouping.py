"""Group posts that describe the same problem, incrementally.

New posts are placed one by one in time order. A post joins the group it is hard-linked to
(an exact or near duplicate, or the original it reposts); otherwise the group whose members it
resembles most on average (average linkage over char n-gram TF-IDF cosine, within the same
district, compatible category and street, close in time), if that average clears the
threshold; otherwise it starts a group. Average linkage, unlike single linkage, does not
chain: a group cannot drift one similar pair at a time into a different problem.

Existing leads enter as pre-assigned groups, so new posts join them and their ids stay put.
Two groups merge only when one post is hard-linked to both, or resembles both above the
merge threshold.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from clustering.dedup import UnionFind, exact_duplicate_pairs, near_duplicate_pairs
from core.config import ClusteringConfig
from core.models import EnrichedPost

CHUNK = 1024  # rows of the similarity matrix held densely at once
FLOOR = 0.1  # similarities below this count as zero in the averages
TOP_K = 64   # neighbours kept per post: a group's average is decided by its closest members


@dataclass(frozen=True)
class Node:
    post: EnrichedPost
    lead_id: str | None  # the lead it already belongs to, None for a new post


@dataclass(frozen=True)
class Group:
    """A set of nodes; `lead_ids` are the existing leads it holds, oldest first."""

    members: tuple[int, ...]
    lead_ids: tuple[str, ...]
    similarity: dict[int, float]


def group(nodes: Sequence[Node], cfg: ClusteringConfig) -> list[Group]:
    n = len(nodes)
    if n == 0:
        return []
    is_new = np.array([node.lead_id is None for node in nodes])
    # A repost's own words ("转发微博", "同问") say nothing about which problem it is: it is
    # linked through its original only, never by its text.
    own_text = np.array([node.post.post.reposted_id is None for node in nodes])
    texts = [node.post.enrichment.normalized_text for node in nodes]

    hard: dict[int, list[int]] = defaultdict(list)

    def hard_link(i: int, j: int) -> None:
        hard[i].append(j)
        hard[j].append(i)

    for i, j in exact_duplicate_pairs([node.post.enrichment.text_hash for node in nodes]):
        if own_text[i] and own_text[j]:
            hard_link(i, j)
    text_idx = [i for i in range(n) if own_text[i] and is_new[i]] + [i for i in range(n) if own_text[i] and not is_new[i]]
    for a, b in near_duplicate_pairs([texts[i] for i in text_idx], cfg.near_duplicate_threshold):
        i, j = text_idx[a], text_idx[b]
        if is_new[i] or is_new[j]:
            hard_link(i, j)
    index_of = {node.post.id: i for i, node in enumerate(nodes)}
    for i, node in enumerate(nodes):
        original = node.post.post.reposted_id
        if original and original in index_of:
            hard_link(i, index_of[original])

    neighbours = _similar_neighbours(nodes, texts, is_new & own_text, own_text, cfg)

    # Group bookkeeping: `cluster[i]` is a group number; merged groups share a root.
    groups = UnionFind(n)  # group numbers are node indices of the group's founder
    cluster = np.full(n, -1)
    size: dict[int, int] = defaultdict(int)
    lead_root: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.lead_id is not None:
            root = lead_root.setdefault(node.lead_id, i)
            cluster[i] = root
            size[root] += 1
    best = np.zeros(n)

    def join(i: int, c: int, sim: float) -> None:
        cluster[i] = c
        size[groups.find(c)] += 1
        best[i] = sim

    def merge(a: int, b: int) -> int:
        ra, rb = groups.find(a), groups.find(b)
        if ra == rb:
            return ra
        total = size.pop(ra, 0) + size.pop(rb, 0)
        groups.union(ra, rb)
        root = groups.find(ra)
        size[root] = total
        return root

    order = sorted(np.flatnonzero(is_new), key=lambda i: (nodes[i].post.post.published_at, nodes[i].post.id))
    for i in order:
        linked = {groups.find(cluster[j]) for j in hard[i] if cluster[j] >= 0}
        if linked:
            roots = sorted(linked)
            target = roots[0]
            for other in roots[1:]:
                target = merge(target, other)
            join(i, target, 1.0)
            continue
        scores: dict[int, float] = defaultdict(float)
        for j, sim in neighbours.get(i, ()):
            if cluster[j] >= 0:
                scores[groups.find(cluster[j])] += sim
        # Averages over at most TOP_K members: neighbour lists are capped at that many.
        averages = sorted(((s / min(size[c], TOP_K), c) for c, s in scores.items()), reverse=True)
        if averages and averages[0][0] >= cfg.same_problem_threshold:
            avg, target = averages[0]
            for other_avg, other in averages[1:]:
                if other_avg >= cfg.merge_threshold and avg >= cfg.merge_threshold:
                    target = merge(target, other)
            join(i, target, avg)
        else:
            cluster[i] = i
            size[i] += 1
            best[i] = 0.0

    members_of: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        members_of[groups.find(cluster[i])].append(i)
    out = []
    for members in members_of.values():
        leads = sorted({nodes[i].lead_id for i in members if nodes[i].lead_id},
                       key=lambda lid: min(nodes[i].post.post.published_at for i in members
                                           if nodes[i].lead_id == lid))
        out.append(Group(tuple(members), tuple(leads), {i: float(best[i]) for i in members}))
    return out


def _similar_neighbours(nodes, texts, rows_mask, cols_mask, cfg: ClusteringConfig) -> dict[int, list[tuple[int, float]]]:
    """For each new post, the nodes it may be the same problem as, with their cosine."""
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    matrix = vectorizer.fit_transform(texts)
    times = np.array([node.post.post.published_at.timestamp() for node in nodes])
    window = cfg.time_window_days * 86400
    categories = np.array([node.post.enrichment.category or "" for node in nodes], dtype=object)
    streets = np.array([node.post.enrichment.street or "" for node in nodes], dtype=object)
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, node in enumerate(nodes):
        if cols_mask[i]:
            # Posts with no known district are compared only with each other: a placeless post
            # must not pull a placed lead toward another district.
            blocks[node.post.enrichment.district or ""].append(i)
    out: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for idx in blocks.values():
        idx = np.array(idx)
        new_idx = idx[rows_mask[idx]]
        if len(new_idx) == 0 or len(idx) < 2:
            continue
        block = matrix[idx]
        for start in range(0, len(new_idx), CHUNK):
            rows = new_idx[start:start + CHUNK]
            sims = (matrix[rows] @ block.T).toarray()
            close = np.abs(times[rows][:, None] - times[idx][None, :]) <= window
            # Unknown category or street is compatible with any: absence is not evidence.
            cat_r, cat_c = categories[rows][:, None], categories[idx][None, :]
            st_r, st_c = streets[rows][:, None], streets[idx][None, :]
            ok = close & ((cat_r == cat_c) | (cat_r == "") | (cat_c == ""))
            ok &= (st_r == st_c) | (st_r == "") | (st_c == "")
            sims = np.where(ok & (sims >= FLOOR), sims, 0.0)
            sims[np.arange(len(rows)), np.searchsorted(idx, rows)] = 0.0  # not its own neighbour
            k = min(TOP_K, sims.shape[1])
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            for r in range(len(rows)):
                i = int(rows[r])
                out[i] = [(int(idx[c]), float(sims[r, c])) for c in top[r] if sims[r, c] > 0]
    return out
