"""Which first-level category does a post belong to? Keyword lists from
config/categories.yaml (schema core.config.CategoriesFile).

Contract: `Classifier(categories).classify(text) -> CategoryGuess(category | None, confidence,
reasons, urgent)`. A matched keyword adds its length to its category's score (a longer keyword
is more specific: 消防通道 says more than 通道); urgent keywords count the same way and flag
the post urgent only when they belong to the winning category, so 停水 in a lift complaint
does not make the lift urgent for the wrong unit.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.config import CategoryConfig
from enrichment.matcher import TermMatcher


@dataclass(frozen=True)
class CategoryGuess:
    category: str | None
    confidence: float
    reasons: tuple[str, ...] = ()
    urgent: bool = False


class Classifier:
    def __init__(self, categories: Sequence[CategoryConfig]):
        self._order = {c.name: i for i, c in enumerate(categories)}
        pairs: list[tuple[str, tuple[str, bool]]] = []
        for c in categories:
            pairs += [(k, (c.name, False)) for k in c.keywords]
            pairs += [(k, (c.name, True)) for k in c.urgent_keywords]
        self._matcher = TermMatcher(pairs)

    def classify(self, text: str) -> CategoryGuess:
        """Classify normalized text (see enrichment.normalize)."""
        scores: dict[str, float] = {}
        terms: dict[str, list[str]] = {}
        urgent_terms: dict[str, list[str]] = {}
        for match in self._matcher.find(text):
            # A term listed under several categories is split between them: it cannot decide.
            names = {name for name, _ in match.payloads}
            for name, urgent in match.payloads:
                seen = terms.setdefault(name, [])
                if match.term in seen and not urgent:
                    continue
                if match.term not in seen:
                    seen.append(match.term)
                    # Repeats of one term add little; new distinct terms add their full weight.
                    scores[name] = scores.get(name, 0.0) + len(match.term) / len(names)
                if urgent:
                    urgent_terms.setdefault(name, [])
                    if match.term not in urgent_terms[name]:
                        urgent_terms[name].append(match.term)
        if not scores:
            return CategoryGuess(None, 0.0)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], self._order.get(kv[0], 99)))
        best, top = ranked[0]
        total = sum(scores.values())
        # Share of the evidence, damped when the evidence is thin (one two-character word).
        confidence = round((top / total) * min(1.0, 0.4 + top / 8), 3)
        reasons = [f"category:{best}({','.join(terms[best])})"]
        if len(ranked) > 1:
            reasons.append(f"category_runner_up:{ranked[1][0]}({ranked[1][1]:.1f})")
        urgent = bool(urgent_terms.get(best))
        if urgent:
            reasons.append(f"urgent({','.join(urgent_terms[best])})")
        return CategoryGuess(best, confidence, tuple(reasons), urgent)
