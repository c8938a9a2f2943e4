"""One post in, one Enrichment out (core.models.Enrichment).

Contract: `Enricher(config, model=None).enrich(post) -> Enrichment`; the automatons are built
once in the constructor; nothing raises for any text. Order matters: geo runs first so the place
names it found can be blanked before the rules read the text (坑梓 is a street, not a pothole;
八卦岭 is a neighbourhood, not gossip). Then relevance, category and item (the catalogue),
urgency (item flag plus text signals), and routing (item × place → unit and deadlines).

`model` is an optional supervised classifier (enrichment.model) trained on labels that are
catalogue item ids or category names; it decides only where the keyword classifier is unsure.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from core.config import Config
from core.models import Enrichment, Post
from enrichment.category import NO_GUESS, CategoryGuess, Classifier
from enrichment.geo import Location, Locator, NOWHERE
from enrichment.model import TextClassifier
from enrichment.normalize import Normalized, normalize
from enrichment.relevance import Relevance, RelevanceScorer
from enrichment.routing import UNROUTED, Route, Router
from enrichment.spots import NO_SPOT, Spot, find_spot
from enrichment.urgency import NOT_URGENT, Urgency, UrgencyJudge

# Below this keyword confidence a supervised model, when given, gets the say.
MODEL_OVERRIDE_BELOW = 0.5


@dataclass(frozen=True)
class Analysis:
    """Everything the enricher worked out, for benchmarks and debugging."""

    normalized: Normalized
    relevance: Relevance
    category: CategoryGuess
    location: Location
    urgency: Urgency = NOT_URGENT
    route: Route = UNROUTED
    spot: Spot = NO_SPOT


class Enricher:
    def __init__(self, config: Config, model: TextClassifier | None = None, model_version: str | None = None):
        self.relevance = RelevanceScorer(config.relevance)
        self.classifier = Classifier(config.catalogue)
        self.locator = Locator(config.gazetteer)
        self.urgency = UrgencyJudge(config.implementation)
        self.router = Router(config)
        self.model = model
        # Stamped on each enrichment the model decided, so a label can name the model it corrects.
        self.model_version = model_version or (model.meta.get("registry", {}).get("version") or "unversioned"
                                               if model is not None else None)
        # Model labels may be item ids, category names or their aliases (环境保护 → 生态环境).
        self._label_category: dict[str, str] = {}
        for c in config.catalogue.categories:
            for key in (c.name, *c.aliases):
                self._label_category[key] = c.name

    def analyse(self, text: str, geotag: str | None = None) -> Analysis:
        norm = normalize(text)
        if not norm.text:
            return Analysis(norm, Relevance(0.0, False, ("empty",)), NO_GUESS, NOWHERE)
        matches = self.locator.scan(norm.text)
        location = self.locator.locate(norm.text, geotag, matches)
        masked = self.locator.mask(norm.text, matches)
        spot = find_spot(norm.text, location.place, masked)
        relevance = self.relevance.score(masked)
        category = self._with_model(norm.text, self.classifier.classify(masked, relevance.relevant))
        urgency = self.urgency.judge(masked, category.item, relevance.relevant)
        route = UNROUTED
        if relevance.relevant:
            route = self.router.route(category.item, category.category, location.district,
                                      location.street, urgency.urgent,
                                      outside=location.precision == "outside")
        return Analysis(norm, relevance, category, location, urgency, route, spot)

    def _with_model(self, text: str, guess: CategoryGuess) -> CategoryGuess:
        if self.model is None or guess.confidence >= MODEL_OVERRIDE_BELOW:
            return guess
        label, confidence = self.model.predict_one(text)
        if label is None:
            return guess
        item = label if self.classifier.category_of(label) else None
        category = self.classifier.category_of(label) if item else self._label_category.get(label)
        if category is None or confidence <= guess.confidence:
            return guess
        if item is None and guess.category == category:
            item = guess.item  # the model agrees on the category: keep the keywords' item
        return CategoryGuess(category, round(confidence, 3), item,
                             self.classifier.item_name(item) if item else None,
                             (f"category:{category}(model {confidence:.2f})",
                              *(r for r in guess.reasons if r.startswith("category:"))),
                             found=guess.found)

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
            item=own.item if own.category else original.item,
            item_name=own.item_name if own.category else original.item_name,
            category_confidence=own.category_confidence if own.category else original.category_confidence,
            # The original's place goes with it: a repost rarely repeats where.
            district=own.district or original.district,
            street=own.street if own.district else original.street,
            **(_where(original) if not own.district else {}),
            **(_whose(original) if not (own.district and own.category) else {}),
            urgent=own.urgent or original.urgent,
            urgency_reasons=own.urgency_reasons or original.urgency_reasons,
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
            reasons += a.urgency.reasons
            if a.route.unit:
                reasons.append(f"unit:{a.route.unit}({a.route.rule})")
        loc, route = a.location, a.route
        return Enrichment(
            post_id=post.id,
            normalized_text=a.normalized.text,
            relevant=a.relevance.relevant,
            relevance_score=a.relevance.score,
            category=a.category.category,
            district=a.location.district,
            street=a.location.street,
            # Urgency routes a post to the 30-minute queue: only for real problems.
            urgent=a.urgency.urgent,
            reasons=tuple(reasons),
            language=a.normalized.language,
            text_hash=a.normalized.text_hash,
            item=a.category.item,
            item_name=a.category.item_name,
            category_confidence=a.category.confidence,
            urgency_reasons=a.urgency.reasons,
            city=loc.city, community=loc.community, lat=loc.lat, lon=loc.lon,
            location_precision=loc.precision, location_confidence=loc.confidence,
            location_spans=loc.spans,
            unit=route.unit, duty_rule=route.rule if route.unit else None, process=route.process,
            dispatch_minutes=route.dispatch_minutes, resolution_hours=route.resolution_hours,
            place_name=a.spot.place, place_key=a.spot.key, place_detail=a.spot.detail,
            what_terms=a.category.found,
            category_model=(self.model_version if any("(model " in r for r in a.category.reasons) else None),
        )


def _where(e: Enrichment) -> dict:
    return {"city": e.city, "community": e.community, "lat": e.lat, "lon": e.lon,
            "location_precision": e.location_precision, "location_confidence": e.location_confidence,
            "location_spans": (),  # spans point into the original's text, not this one
            "place_name": e.place_name, "place_key": e.place_key, "place_detail": e.place_detail}


def _whose(e: Enrichment) -> dict:
    return {"unit": e.unit, "duty_rule": e.duty_rule, "process": e.process,
            "dispatch_minutes": e.dispatch_minutes, "resolution_hours": e.resolution_hours}
