"""Is a post an actionable civic problem? Weighted term rules from config/relevance.yaml
(schema core.config.RelevanceConfig).

Contract: `RelevanceScorer(config).score(text) -> Relevance(score in 0..1, relevant, reasons)`
with reasons such as `problem:damage(坑)` and `noise:ad(加微信)`. The score is the logistic of
`base + sum of signal contributions`, so weights read as log-odds and `threshold` as a
probability; a signal counts once, with a small bonus for each further distinct term, so one
long rant repeating 坑 does not outweigh an ad's several distinct noise terms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.config import RelevanceConfig
from enrichment.matcher import TermMatcher

_EXTRA_TERM_BONUS = 0.3  # per further distinct term of the same signal
_MAX_EXTRA_TERMS = 2


@dataclass(frozen=True)
class Relevance:
    score: float
    relevant: bool
    reasons: tuple[str, ...] = ()


class RelevanceScorer:
    def __init__(self, config: RelevanceConfig):
        self.threshold = config.threshold
        self.base = config.base
        pairs: list[tuple[str, tuple[str, str, float]]] = []
        for kind, signals in (("problem", config.problem_signals), ("noise", config.noise_signals)):
            sign = 1.0 if kind == "problem" else -1.0
            for name, signal in signals.items():
                for term in signal.terms:
                    # Noise weights may be written positive or negative; they always subtract.
                    pairs.append((term, (kind, name, sign * abs(signal.weight))))
        self._matcher = TermMatcher(pairs)

    def score(self, text: str) -> Relevance:
        """Score normalized text (see enrichment.normalize)."""
        hits: dict[tuple[str, str, float], list[str]] = {}
        for match in self._matcher.find(text):
            for signal in match.payloads:
                terms = hits.setdefault(signal, [])
                if match.term not in terms:
                    terms.append(match.term)
        raw = self.base
        reasons: list[str] = []
        for (kind, name, weight), terms in hits.items():
            raw += weight * (1 + _EXTRA_TERM_BONUS * min(len(terms) - 1, _MAX_EXTRA_TERMS))
            reasons.append(f"{kind}:{name}({','.join(terms)})")
        score = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, raw))))
        return Relevance(round(score, 4), score >= self.threshold, tuple(reasons))
