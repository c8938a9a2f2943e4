"""Exact and near-duplicate detection on normalized text.

Exact: equal text hashes. Near: MinHash over character 3-shingles with an LSH index, so the
cost per post is constant rather than a comparison against every other post.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH

NUM_PERM = 64


def shingles(text: str, k: int = 3) -> set[bytes]:
    text = "".join(text.split())
    if len(text) <= k:
        return {text.encode()} if text else set()
    return {text[i:i + k].encode() for i in range(len(text) - k + 1)}


def minhashes(texts: Sequence[str]) -> list[MinHash]:
    sets = [list(shingles(t)) or [b""] for t in texts]
    return MinHash.bulk(sets, num_perm=NUM_PERM, seed=1)


def near_duplicate_pairs(texts: Sequence[str], threshold: float) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose estimated Jaccard similarity is at least `threshold`."""
    if len(texts) < 2:
        return []
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    hashes = minhashes(texts)
    pairs: list[tuple[int, int]] = []
    for i, mh in enumerate(hashes):
        for j in lsh.query(mh):
            if mh.jaccard(hashes[j]) >= threshold:
                pairs.append((j, i))
        lsh.insert(i, mh)
    return pairs


def exact_duplicate_pairs(hashes: Sequence[str]) -> list[tuple[int, int]]:
    """Pairs linking each text to the first earlier text with the same hash."""
    first: dict[str, int] = {}
    pairs = []
    for i, h in enumerate(hashes):
        if not h:
            continue
        if h in first:
            pairs.append((first[h], i))
        else:
            first[h] = i
    return pairs


class UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller index stays the root: the oldest member names the group.
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return out
