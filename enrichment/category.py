"""What is the problem? The zero-shot classifier over config/catalogue.yaml (schema
core.config.CatalogueFile): first-level category and catalogue item, with reasons.

Contract: `Classifier(catalogue).classify(text) -> CategoryGuess(category | None, confidence,
item, item_name, reasons)`.
- Keywords first: a matched keyword adds its length to its item and to the item's category (a
  longer keyword is more specific: 消防通道 says more than 通道). A keyword shared by several
  categories is split between them: it cannot decide. The category is chosen on the sum over its
  items (several weak clues about lifts add up), the item is the best-scoring one inside it.
- No keyword: the item profiles (name, description, keywords, examples) are compared with the
  text by char n-gram TF-IDF cosine (enrichment.profiles); only a clear winner is taken.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.config import CatalogueFile
from enrichment.matcher import TermMatcher
from enrichment.profiles import ProfileIndex


@dataclass(frozen=True)
class CategoryGuess:
    category: str | None
    confidence: float
    item: str | None = None       # catalogue item id, e.g. JT003
    item_name: str | None = None
    reasons: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()  # the catalogue keywords that decided it
    # Every catalogue keyword the text holds, the deciding category's first: what the post is
    # about. Steadier than `terms` for comparing posts: a long report of one problem tips
    # between two categories, and the deciding terms of the two share nothing.
    found: tuple[str, ...] = ()


NO_GUESS = CategoryGuess(None, 0.0)


class Classifier:
    def __init__(self, catalogue: CatalogueFile, use_profiles: bool = True):
        self._order = {c.name: i for i, c in enumerate(catalogue.categories)}
        self._category_of: dict[str, str] = {}
        self._names: dict[str, str] = {}
        pairs: list[tuple[str, str]] = []
        for c in catalogue.categories:
            for item in c.items:
                self._category_of[item.id] = c.name
                self._names[item.id] = item.name
                pairs += [(k, item.id) for k in item.keywords]
        self._matcher = TermMatcher(pairs)
        self._profiles = ProfileIndex(catalogue) if use_profiles else None

    def item_name(self, item_id: str) -> str | None:
        return self._names.get(item_id)

    def category_of(self, item_id: str) -> str | None:
        return self._category_of.get(item_id)

    def classify(self, text: str, use_profiles: bool = True) -> CategoryGuess:
        """Classify normalized text (see enrichment.normalize). `use_profiles=False` skips the
        description fallback (the enricher skips it for posts that are not problems)."""
        cat_scores: dict[str, float] = {}
        item_scores: dict[str, float] = {}
        terms: dict[str, list[str]] = {}
        seen: set[str] = set()
        seen_order: list[str] = []
        for match in self._matcher.find(text):
            if match.term in seen:
                continue  # repeats of one term add nothing: ten 坑 are one clue
            seen.add(match.term)
            seen_order.append(match.term)
            by_cat: dict[str, list[str]] = {}
            for item_id in match.payloads:
                by_cat.setdefault(self._category_of[item_id], []).append(item_id)
            weight = len(match.term) / len(by_cat)
            for cat, items in by_cat.items():
                cat_scores[cat] = cat_scores.get(cat, 0.0) + weight
                terms.setdefault(cat, []).append(match.term)
                for item_id in items:
                    item_scores[item_id] = item_scores.get(item_id, 0.0) + weight / len(items)
        if not cat_scores:
            return self._by_profile(text) if use_profiles else NO_GUESS
        ranked = sorted(cat_scores.items(), key=lambda kv: (-kv[1], self._order.get(kv[0], 99)))
        best, top = ranked[0]
        item = max((i for i in item_scores if self._category_of[i] == best),
                   key=lambda i: (item_scores[i], -int(i[2:])))
        total = sum(cat_scores.values())
        # Share of the evidence, damped when the evidence is thin (one two-character word).
        confidence = round((top / total) * min(1.0, 0.4 + top / 8), 3)
        reasons = [f"category:{best}({','.join(terms[best])})", f"item:{item}({self._names[item]})"]
        if len(ranked) > 1:
            reasons.append(f"category_runner_up:{ranked[1][0]}({ranked[1][1]:.1f})")
        found = tuple(terms[best]) + tuple(t for t in seen_order if t not in terms[best])
        return CategoryGuess(best, confidence, item, self._names[item], tuple(reasons), tuple(terms[best]), found)

    def _by_profile(self, text: str) -> CategoryGuess:
        if self._profiles is None or not text.strip():
            return NO_GUESS
        hit = self._profiles.best(text)
        if hit is None:
            return NO_GUESS
        item, similarity = hit
        cat = self._category_of[item]
        return CategoryGuess(cat, round(min(1.0, similarity), 3), item, self._names[item],
                             (f"category:{cat}(profile)", f"item:{item}({self._names[item]},"
                              f"similarity {similarity:.2f})"))
