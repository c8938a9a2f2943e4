"""Is a problem urgent (加急: dispatched within 30 minutes)? From config/implementation.yaml
(schema core.config.ImplementationFile).

Contract: `UrgencyJudge(implementation).judge(text, item, relevant) -> Urgency(urgent, reasons)`.
Two sources, each named in the reasons:
- the item's own flag (井盖缺失, 停水, 电梯困人 are urgent whatever the wording);
- text signals of a safety hazard or a basic living need (燃气味, 电线裸露, 困人, 停电 …),
  whatever the item: a gas smell in a complaint about a lift is urgent too.
A signal counts only where its own clause (text between punctuation) affirms it: a negator
just before it (没有闻到煤气味, 未发现漏电) denies it, a resolution after it (停电已经恢复了)
ends it; each is kept as a reason (`urgency:negated(...)`, `urgency:resolved(...)`). A hedge
(不太急, 不着急) means text signals alone no longer make the post urgent; an urgent item still
does (a missing manhole cover is a hazard however calmly it is reported). When the text denies
every signal it has and affirms none, the item's flag does not count either: the item was read
off the very words the text denies (没有闻到煤气味 is not a gas leak).
Only a relevant post can be urgent: "燃气泄漏应急演练" in a news item is not.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.config import ImplementationFile
from enrichment.matcher import TermMatcher, canonical_term

CLAUSE_BREAK = re.compile(r"[，,。.!！?？;；\n、：:]")


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
        mods = implementation.urgency_modifiers
        self._negators = sorted({canonical_term(t) for t in mods.negators if t}, key=len, reverse=True)
        self._reach = mods.negation_reach
        self._hedges: TermMatcher[str] = TermMatcher((t, "hedge") for t in mods.hedges)
        self._resolved = sorted({canonical_term(t) for t in mods.resolved if t}, key=len, reverse=True)

    def judge(self, text: str, item: str | None, relevant: bool) -> Urgency:
        if not relevant:
            return NOT_URGENT
        lowered = text.lower()
        reasons: list[str] = []
        found: dict[str, list[str]] = {}
        denied: list[str] = []
        for match in self._signals.find(text):
            before, after = _clause(lowered, match.start, match.start + len(match.term))
            negator = next((n for n in self._negators if n in before[-(self._reach + len(n)):]), None)
            if negator is not None and not _double_negative(before, negator):
                denied.append(f"urgency:negated({match.term} by {negator})")
                continue
            over = next((r for r in self._resolved if r in after), None)
            if over is not None:
                denied.append(f"urgency:resolved({match.term} {over})")
                continue
            for kind in match.payloads:
                terms = found.setdefault(kind, [])
                if match.term not in terms:
                    terms.append(match.term)
        hedges = list(dict.fromkeys(m.term for m in self._hedges.find(text)))
        spec = self._items.get(item) if item else None
        if spec is not None and spec.urgent:
            # the item was most likely read off the very words the text denies
            if denied and not found:
                denied.append(f"urgency:item_denied({item})")
            else:
                reasons.append(f"urgent:item({item})")
        signals = [f"urgent:{kind}({','.join(terms)})" for kind, terms in found.items()]
        if hedges:
            denied.append(f"urgency:hedged({','.join(hedges)})")
            if not reasons:
                signals = []
        reasons += signals
        return Urgency(bool(reasons), tuple(reasons + denied))


def _clause(text: str, start: int, end: int) -> tuple[str, str]:
    """The text before the signal in its clause, and after it to the end of the next clause
    (停电，现在已经恢复了: the resolution is told one clause later)."""
    left = max((m.end() for m in CLAUSE_BREAK.finditer(text, 0, start)), default=0)
    right = CLAUSE_BREAK.search(text, end)
    if right is not None:
        right = CLAUSE_BREAK.search(text, right.end())
    return text[left:start], text[end:right.start() if right else len(text)]


def _double_negative(before: str, negator: str) -> bool:
    """不是没有煤气味 affirms the smell."""
    at = before.rfind(negator)
    return at > 0 and any(before[:at].endswith(n) for n in ("不是", "并非", "不能说"))
