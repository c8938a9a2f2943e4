"""One text's full enrichment as a plain dict: what `radar enrich --text` prints for an analyst
or a config author to see why a post was judged as it was.

Contract: `explain(config, text, geotag=None, model=None) -> dict` with keys relevance,
category, urgency, location, unit, deadlines, reasons (every key always present, JSON-safe).
"""
from __future__ import annotations

from core.config import Config
from enrichment.enricher import Enricher
from enrichment.model import TextClassifier


def explain(config: Config, text: str, geotag: str | None = None,
            model: TextClassifier | None = None, enricher: Enricher | None = None) -> dict:
    a = (enricher or Enricher(config, model)).analyse(text, geotag)
    loc, route, cat = a.location, a.route, a.category
    norm = a.normalized.text
    return {
        "normalized_text": norm,
        "language": a.normalized.language,
        "relevance": {"relevant": a.relevance.relevant, "score": a.relevance.score,
                      "threshold": config.relevance.threshold, "reasons": list(a.relevance.reasons)},
        "category": {"name": cat.category, "item": cat.item, "item_name": cat.item_name,
                     "confidence": cat.confidence, "reasons": list(cat.reasons)},
        "urgency": {"urgent": a.urgency.urgent, "reasons": list(a.urgency.reasons)},
        "location": {"city": loc.city, "district": loc.district, "street": loc.street,
                     "community": loc.community, "place": loc.place, "lat": loc.lat, "lon": loc.lon,
                     "precision": loc.precision, "confidence": loc.confidence,
                     "evidence": list(loc.evidence),
                     "spans": [{"start": s, "end": e, "text": norm[s:e]} for s, e in loc.spans]},
        "unit": {"name": route.unit, "ref": route.unit_ref, "rule": route.rule},
        "deadlines": {"process": route.process, "dispatch_minutes": route.dispatch_minutes,
                      "resolution_hours": route.resolution_hours,
                      "closing_standard": route.closing_standard},
        "reasons": [*a.relevance.reasons, *cat.reasons, *(f"geo:{e}" for e in loc.evidence),
                    *a.urgency.reasons, *([f"unit:{route.rule}"] if route.unit else [])],
    }
