"""One Aho-Corasick automaton over many term lists: the shared matching engine for the
relevance rules, the category keywords and the gazetteer.

Terms are normalized the same way as post text, so a traditional or full-width term in a YAML
file still matches. Matching is leftmost-longest without overlaps, so 沙头角 wins over 沙头
and 路灯不亮 over 不亮.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import ahocorasick

from enrichment.normalize import normalize

P = TypeVar("P", bound=Hashable)


@dataclass(frozen=True)
class Match(Generic[P]):
    term: str
    start: int
    payloads: tuple[P, ...]


def canonical_term(term: str) -> str:
    return normalize(term).text.lower()


class TermMatcher(Generic[P]):
    """Built once from (term, payload) pairs; a term may carry several payloads."""

    def __init__(self, pairs: Iterable[tuple[str, P]]):
        by_term: dict[str, list[P]] = {}
        for term, payload in pairs:
            key = canonical_term(term)
            if not key:
                continue
            bucket = by_term.setdefault(key, [])
            if payload not in bucket:
                bucket.append(payload)
        self._automaton = ahocorasick.Automaton()
        for key, payloads in by_term.items():
            self._automaton.add_word(key, (key, tuple(payloads)))
        self._empty = not by_term
        if not self._empty:
            self._automaton.make_automaton()

    def find(self, text: str) -> list[Match[P]]:
        """Leftmost-longest, non-overlapping matches in order of position."""
        if self._empty or not text:
            return []
        out: list[Match[P]] = []
        for end, (key, payloads) in self._automaton.iter_long(text.lower()):
            out.append(Match(key, end - len(key) + 1, payloads))
        return out
