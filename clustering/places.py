"""Which place keys name one place.

People write one estate several ways: 伊景园滨河苑 and 滨河苑, 万科魅力之城 and 魅力之城, 丽发新城
and 丽发 (丽发小区). Enrichment keys each post by the name as written; here the keys met in one
clustering run are grouped into families, and a family counts as one place.

Contract: `families(keys) -> dict[key, representative]` over the distinct non-empty keys
given; two keys are one family when the longer ends with the shorter (at least `MIN_SUFFIX`
characters: a developer's brand or a stray word before the estate's own name), or when the
longer is the shorter plus a generic estate ending (丽发 + 新城). Families are transitive; the
representative is the family's shortest key (ties: the first in sort order), so the same keys
always give the same answer. `variants(key)` are the shorter spellings a key would join, for
looking up places stored under them.

Linear in the number of keys (each key's suffixes are looked up, not every pair compared).
"""
from __future__ import annotations

from collections.abc import Iterable

MIN_SUFFIX = 3  # 滨河苑 yes; 新城, 花园 alone name no estate
GENERIC_ENDS = ("新城", "花园", "家园", "新村", "小区", "社区", "公寓", "山庄", "雅苑")


def variants(key: str) -> list[str]:
    """Shorter spellings of `key` that name the same place: its suffixes of at least
    `MIN_SUFFIX` characters and the key without a generic ending."""
    out = [key[i:] for i in range(1, len(key) - MIN_SUFFIX + 1)]
    for end in GENERIC_ENDS:
        if key.endswith(end) and len(key) - len(end) >= 2:
            out.append(key[: -len(end)])
    return out


def families(keys: Iterable[str]) -> dict[str, str]:
    present = sorted({k for k in keys if k})
    parent = {k: k for k in present}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def rank(k: str) -> tuple[int, str]:
        return len(k), k

    for key in present:
        for shorter in variants(key):
            if shorter in parent:
                a, b = find(key), find(shorter)
                if a != b:
                    if rank(a) < rank(b):
                        a, b = b, a
                    parent[a] = b
    return {k: find(k) for k in present}
