"""Group posts that describe the same problem.

Links: exact duplicates, near duplicates (MinHash), reposts of a post in the group, and text
similarity (char n-gram TF-IDF cosine) between posts in the same district, of compatible
category and street, close in time. Only links touching a new post are computed: existing leads meet
only through a new post that bridges them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from clustering.dedup import UnionFind, exact_duplicate_pairs, near_duplicate_pairs
from core.config import ClusteringConfig
from core.models import EnrichedPost

CHUNK = 1024  # rows of the similarity matrix held densely at once


@dataclass(frozen=True)
class Node:
    post: EnrichedPost
    lead_id: str | None  # the lead it already belongs to, None for a new post


@dataclass(frozen=True)
class Group:
    """A connected set of nodes; `lead_ids` are the existing leads it touches (oldest first)."""

    members: tuple[int, ...]
    lead_ids: tuple[str, ...]
    similarity: dict[int, float]


def group(nodes: Sequence[Node], cfg: ClusteringConfig) -> list[Group]:
    n = len(nodes)
    uf = UnionFind(n)
    best = np.zeros(n)
    first_of_lead: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.lead_id is not None:
            if node.lead_id in first_of_lead:
                uf.union(first_of_lead[node.lead_id], i)
            else:
                first_of_lead[node.lead_id] = i
    is_new = np.array([node.lead_id is None for node in nodes])
    # A repost's own words ("转发微博", "同问") say nothing about which problem it is: it is
    # linked through its original only, never by its text.
    own_text = np.array([node.post.post.reposted_id is None for node in nodes])
    texts = [node.post.enrichment.normalized_text for node in nodes]

    def link(i: int, j: int, sim: float, by_text: bool = True) -> None:
        if by_text and not (own_text[i] and own_text[j]):
            return
        if is_new[i] or is_new[j]:
            uf.union(i, j)
            best[i] = max(best[i], sim)
            best[j] = max(best[j], sim)

    for i, j in exact_duplicate_pairs([node.post.enrichment.text_hash for node in nodes]):
        link(i, j, 1.0)
    for i, j in near_duplicate_pairs(texts, cfg.near_duplicate_threshold):
        link(i, j, cfg.near_duplicate_threshold)
    index_of = {node.post.id: i for i, node in enumerate(nodes)}
    for i, node in enumerate(nodes):
        original = node.post.post.reposted_id
        if original and original in index_of:
            link(i, index_of[original], 1.0, by_text=False)

    _link_similar(nodes, texts, is_new, cfg, link)

    groups = []
    for members in uf.groups().values():
        leads = sorted({nodes[i].lead_id for i in members if nodes[i].lead_id},
                       key=lambda lid: min(nodes[i].post.post.published_at for i in members
                                           if nodes[i].lead_id == lid))
        groups.append(Group(tuple(members), tuple(leads), {i: float(best[i]) for i in members}))
    return groups


def _link_similar(nodes, texts, is_new, cfg: ClusteringConfig, link) -> None:
    if len(nodes) < 2:
        return
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    matrix = vectorizer.fit_transform(texts)
    times = np.array([node.post.post.published_at.timestamp() for node in nodes])
    window = cfg.time_window_days * 86400
    categories = np.array([node.post.enrichment.category or "" for node in nodes], dtype=object)
    streets = np.array([node.post.enrichment.street or "" for node in nodes], dtype=object)
    blocks: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        district = node.post.enrichment.district
        if district:  # without a place, text similarity alone would merge different problems
            blocks.setdefault(district, []).append(i)
    for idx in blocks.values():
        idx = np.array(idx)
        new_idx = idx[is_new[idx]]
        if len(new_idx) == 0 or len(idx) < 2:
            continue
        block = matrix[idx]
        for start in range(0, len(new_idx), CHUNK):
            rows = new_idx[start:start + CHUNK]
            sims = (matrix[rows] @ block.T).toarray()
            close = np.abs(times[rows][:, None] - times[idx][None, :]) <= window
            cat_r = categories[rows][:, None]
            cat_c = categories[idx][None, :]
            # Unknown category or street is compatible with any: absence is not evidence.
            compatible = (cat_r == cat_c) | (cat_r == "") | (cat_c == "")
            st_r = streets[rows][:, None]
            st_c = streets[idx][None, :]
            compatible &= (st_r == st_c) | (st_r == "") | (st_c == "")
            hits = np.argwhere((sims >= cfg.same_problem_threshold) & close & compatible)
            for r, c in hits:
                i, j = int(rows[r]), int(idx[c])
                if i != j:
                    link(i, j, float(sims[r, c]))
