"""Where a lead is: the Lead model has no point, so the index takes the mean lat/lon of its
member posts' enrichments, read from the store when the lead is indexed."""
from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import func, select

from core.store import Store
from core.store import tables as t
from core.store.db import chunks

EARTH_M = 6_371_008.8  # mean Earth radius; what Elasticsearch's arc distance uses


def lead_points(store: Store, lead_ids: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(lat, lon) per lead for leads with at least one located member; others are absent."""
    lp, e = t.lead_posts, t.enrichments
    out: dict[str, tuple[float, float]] = {}
    with store.db.connect() as conn:
        for chunk in chunks(list(dict.fromkeys(lead_ids))):
            q = (select(lp.c.lead_id, func.avg(e.c.lat), func.avg(e.c.lon))
                 .join(e, e.c.post_id == lp.c.post_id)
                 .where(lp.c.lead_id.in_(chunk), e.c.lat.is_not(None), e.c.lon.is_not(None))
                 .group_by(lp.c.lead_id))
            for lead_id, lat, lon in conn.execute(q):
                out[lead_id] = (float(lat), float(lon))
    return out


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in meters."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(a)))
