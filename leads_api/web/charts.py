"""Geometry for the server-side SVG (the offline district map and bar charts). Templates draw
it with width/height attributes and CSS classes: no inline style, no script, no external tile."""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

from core.config import Config

MAP_WIDTH = 350
MAP_PAD = 26
CHAR_W = 11  # px per CJK character at the map's label size
INSET_W, INSET_H = 64, 26  # the box of a district drawn out of scale
FAR = 4.0  # a district this many median distances from the centre is drawn in an inset


def district_map(config: Config, highlight: str | None, points: Iterable[tuple[float, float]] = ()) -> dict:
    """Circles at the district centroids (equirectangular, x scaled by cos(latitude)), the
    lead's district highlighted, the places its posts name as dots, labels placed so they do not
    overlap. A district far from the rest (深汕特别合作区 lies 100 km east) goes into an inset
    box, so the city itself is not squeezed into a corner."""
    districts = list(config.gazetteer.districts)
    main, far = _split_far(districts)
    lats = [d.centroid[0] for d in main]
    lons = [d.centroid[1] for d in main]
    lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    inset_w = INSET_W if far else 0
    span_x = max((lon1 - lon0) * k, 1e-6)
    span_y = max(lat1 - lat0, 1e-6)
    scale = (MAP_WIDTH - 2 * MAP_PAD - inset_w) / span_x
    height = max(int(span_y * scale + 2 * MAP_PAD), len(far) * (INSET_H + 8) + 16)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (round(MAP_PAD + (lon - lon0) * k * scale, 1), round(MAP_PAD + (lat1 - lat) * scale, 1))

    circles, boxes, insets = [], [], []
    for i, d in enumerate(far):
        box = (MAP_WIDTH - INSET_W - 6, 8 + i * (INSET_H + 8))
        insets.append({"x": box[0], "y": box[1], "w": INSET_W, "h": INSET_H})
        boxes.append((box[0], box[1], box[0] + INSET_W, box[1] + INSET_H))
    for d in sorted(districts, key=lambda d: d.name != highlight):  # the highlighted label is placed first
        short = d.aliases[0] if d.aliases else d.name
        on = d.name == highlight
        r = 8 if on else 5
        if d in far:
            box = insets[far.index(d)]
            x, y = box["x"] + 12, box["y"] + INSET_H / 2
            circles.append({"x": x, "y": y, "r": r, "name": d.name + "（不按比例）", "label": short,
                            "lx": x + r + 4, "ly": y + 4, "anchor": "start", "on": on})
            continue
        x, y = xy(*d.centroid)
        w, h = CHAR_W * len(short), 12
        for lx, ly, anchor in ((x, y - r - 4, "middle"), (x, y + r + 12, "middle"),
                               (x + r + 3, y + 4, "start"), (x - r - 3, y + 4, "end")):
            left = lx - w / 2 if anchor == "middle" else (lx if anchor == "start" else lx - w)
            label_box = (left, ly - h + 2, left + w, ly + 2)
            if not any(_overlap(label_box, b) for b in boxes):
                break
        boxes.append(label_box)
        circles.append({"x": x, "y": y, "r": r, "name": d.name, "label": short, "lx": round(lx, 1),
                        "ly": round(ly, 1), "anchor": anchor, "on": on})
    dots = []
    for lat, lon in points:
        if lat is None or lon is None:
            continue
        if lat0 - 0.05 <= lat <= lat1 + 0.05 and lon0 - 0.05 <= lon <= lon1 + 0.05:
            x, y = xy(lat, lon)
            dots.append({"x": x, "y": y})
    return {"width": MAP_WIDTH, "height": height, "circles": circles, "dots": dots[:200], "insets": insets}


def _split_far(districts: list) -> tuple[list, list]:
    """(districts drawn to scale, those farther than FAR times the median distance from the
    median centre)."""
    if len(districts) < 4:
        return districts, []
    lat = statistics.median(d.centroid[0] for d in districts)
    lon = statistics.median(d.centroid[1] for d in districts)
    k = math.cos(math.radians(lat))
    dist = {d.name: math.hypot(d.centroid[0] - lat, (d.centroid[1] - lon) * k) for d in districts}
    limit = FAR * (statistics.median(dist.values()) or 1e-6)
    far = [d for d in districts if dist[d.name] > limit]
    return [d for d in districts if d not in far], far


def _overlap(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def bar_chart(rows: Sequence[dict], *, width: int = 560, label_width: int = 150, bar_height: int = 18,
              gap: int = 7) -> dict:
    """Horizontal (stacked) bars. Each row: label, segments [(value, css class, title)], text.
    Returns the geometry the `bars` template macro draws."""
    top = max((sum(v for v, _, _ in r["segments"]) for r in rows), default=0) or 1
    room = width - label_width - 70
    out = []
    for i, r in enumerate(rows):
        y = gap + i * (bar_height + gap)
        x = label_width
        segs = []
        for value, cls, title in r["segments"]:
            w = round(room * value / top, 1)
            if value > 0:
                segs.append({"x": x, "w": max(w, 1.5), "cls": cls, "title": title})
            x += w
        out.append({"y": y, "label": r["label"], "segments": segs, "text": r.get("text", ""), "text_x": x + 6,
                    "mid": y + bar_height / 2 + 4})
    return {"width": width, "height": gap + len(rows) * (bar_height + gap), "bar_height": bar_height,
            "label_x": label_width - 8, "rows": out}
