"""One post in, one Enrichment out (core.models.Enrichment).

Contract: `Enricher(config).enrich(post) -> Enrichment`; the automatons are built once in the
constructor; nothing raises for any text. Order matters: geo runs first so the place names it
found can be blanked before the rules read the text (坑梓 is a street, not a pothole; 八卦岭 is
a neighbourhood, not gossip).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from core.config import Config
from core.models import Enrichment, Post
from enrichment.category import CategoryGuess, Classifier
from enrichment.geo import Location, Locator, NOWHERE
from enrichment.normalize import Normalized, normalize
from enrichment.relevance import Relevance, RelevanceScorer


@dataclass(frozen=True)
class Analysis:
    """Everything the enricher worked out, for benchmarks and debugging."""

    normalized: Normalized
    relevance: Relevance
    category: CategoryGuess
    location: Location


class Enricher:
    def __init__(self, config: Config):
        self.relevance = RelevanceScorer(config.relevance)
        self.classifier = Classifier(config.categories)
        self.locator = Locator(config.gazetteer)

    def analyse(self, text: str, geotag: str | None = None) -> Analysis:
        norm = normalize(text)
        if not norm.text:
            return Analysis(norm, Relevance(0.0, False, ("empty",)), CategoryGuess(None, 0.0), NOWHERE)
        matches = self.locator.scan(norm.text)
        location = self.locator.locate(norm.text, geotag, matches)
        masked = self.locator.mask(norm.text, matches)
        return Analysis(norm, self.relevance.score(masked), self.classifier.classify(masked), location)

    def enrich(self, post: Post, original: Enrichment | None = None) -> Enrichment:
        """Enrich one post: title and body are read together. For a repost, pass the
        original's enrichment: "转发微博" alone says nothing, the post it shares does."""
        own = self._enrich_alone(post)
        if original is None or not original.relevant:
            return own
        if any(r.startswith("noise:") for r in own.reasons):
            return own  # someone reposting a complaint to advertise is still advertising
        return replace(
            own,
            relevant=True,
            relevance_score=max(own.relevance_score, original.relevance_score),
            category=own.category or original.category,
            # The original's place goes with it: a repost rarely repeats where.
            district=own.district or original.district,
            street=own.street if own.district else original.street,
            urgent=own.urgent or original.urgent,
            reasons=tuple(r for r in own.reasons if r != "empty") + (f"repost_of:{original.post_id}",),
        )

    def _enrich_alone(self, post: Post) -> Enrichment:
        a = self.analyse(post.full_text, post.geotag)
        reasons = list(a.relevance.reasons)
        if a.normalized.truncated:
            reasons.append("truncated")
        if a.normalized.text:
            reasons += a.category.reasons
            reasons += [f"geo:{e}" for e in a.location.evidence]
            reasons.append(f"geo_precision:{a.location.precision}({a.location.confidence:.2f})")
        return Enrichment(
            post_id=post.id,
            normalized_text=a.normalized.text,
            relevant=a.relevance.relevant,
            relevance_score=a.relevance.score,
            category=a.category.category,
            district=a.location.district,
            street=a.location.street,
            # Urgency routes a post to the 30-minute queue: only for real problems.
            urgent=a.relevance.relevant and a.category.urgent,
            reasons=tuple(reasons),
            language=a.normalized.language,
            text_hash=a.normalized.text_hash,
        )
