"""Is a problem urgent (加急: dispatched within 30 minutes)? From config/implementation.yaml
(schema core.config.ImplementationFile).

Contract: `UrgencyJudge(implementation).judge(text, item, relevant) -> Urgency(urgent, reasons)`.
Two sources, each named in the reasons:
- the item's own flag (井盖缺失, 停水, 电梯困人 are urgent whatever the wording);
- text signals of a safety hazard or a basic living need (燃气味, 电线裸露, 困人, 停电 …),
  whatever the item: a gas smell in a complaint about a lift is urgent too.
Only a relevant post can be urgent: "燃气泄漏应急演练" in a news item is not.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.config import ImplementationFile
from enrichment.matcher import TermMatcher


@dataclass(frozen=True)
class Urgency:
    urgent: bool
    reasons: tuple[str, ...] = ()


NOT_URGENT = Urgency(False)


class UrgencyJudge:
    def __init__(self, implementation: ImplementationFile):
        self._items = implementation.items
        pairs = [(term, kind) for kind, terms in implementation.urgent_signals.items() for term in terms]
        self._signals: TermMatcher[str] = TermMatcher(pairs)

    def judge(self, text: str, item: str | None, relevant: bool) -> Urgency:
        if not relevant:
            return NOT_URGENT
        reasons: list[str] = []
        spec = self._items.get(item) if item else None
        if spec is not None and spec.urgent:
            reasons.append(f"urgent:item({item})")
        found: dict[str, list[str]] = {}
        for match in self._signals.find(text):
            for kind in match.payloads:
                terms = found.setdefault(kind, [])
                if match.term not in terms:
                    terms.append(match.term)
        reasons += [f"urgent:{kind}({','.join(terms)})" for kind, terms in found.items()]
        return Urgency(bool(reasons), tuple(reasons))
