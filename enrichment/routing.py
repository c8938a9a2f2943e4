"""Whose job is it, and by when? Item × location → responsible unit (config/duties.yaml) and
deadlines (config/implementation.yaml), with the duty rule that matched.

Contract: `Router(config).route(item, category, district, street, urgent, outside) -> Route`.
Rule order, most specific first: item+street, item+district, item alone, then the category's
default. A `district.<key>` unit with no district known goes to its city counterpart, and
`street.office` with no street known to `street_unit.fallback`: a post without a place still
reaches someone who can find out where. A problem outside the city is routed to nobody here.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.config import Config, DutyRule

URGENT_DISPATCH_MINUTES = 30


@dataclass(frozen=True)
class Route:
    unit: str | None
    unit_ref: str | None          # e.g. district.cgj, as written in duties.yaml
    rule: str                     # which duty rule matched, e.g. duties.rules[12](item=CG007,district=福田区)
    process: str | None = None
    dispatch_minutes: int | None = None
    resolution_hours: int | None = None
    closing_standard: str | None = None


UNROUTED = Route(None, None, "none")


class Router:
    def __init__(self, config: Config):
        duties = config.duties
        self._impl = config.implementation
        self._duties = duties
        self._city = {u.key: u.name for u in duties.city_units}
        self._district_units = {u.key: u for u in duties.district_units}
        self._short = {d.name: (d.aliases[0] if d.aliases else d.name) for d in config.gazetteer.districts}
        self._rules: dict[str, list[tuple[int, DutyRule]]] = {}
        for i, rule in enumerate(duties.rules):
            self._rules.setdefault(rule.item, []).append((i, rule))

    def route(self, item: str | None, category: str | None, district: str | None,
              street: str | None, urgent: bool = False, outside: bool = False) -> Route:
        if outside:
            return Route(None, None, "outside the city")
        ref, rule = self._match(item, category, district, street)
        if ref is None:
            return UNROUTED
        unit, ref = self._resolve(ref, district, street)
        spec = self._impl.items.get(item) if item else None
        if spec is None:
            # A category without an item: general handling unless the text made it urgent.
            dispatch = URGENT_DISPATCH_MINUTES if urgent else 120
            return Route(unit, ref, rule, "urgent" if urgent else "general", dispatch)
        dispatch = spec.dispatch_minutes
        process = spec.process
        if urgent and dispatch > self._impl.urgent_dispatch_minutes:
            dispatch, process = self._impl.urgent_dispatch_minutes, "urgent"
        return Route(unit, ref, rule, process, dispatch, spec.resolution_hours, spec.closing_standard)

    def _match(self, item: str | None, category: str | None, district: str | None,
               street: str | None) -> tuple[str | None, str]:
        best: tuple[int, int, DutyRule] | None = None
        for i, rule in self._rules.get(item or "", []):
            if rule.street is not None:
                score = 3 if (rule.district, rule.street) == (district, street) else -1
            elif rule.district is not None:
                score = 2 if rule.district == district else -1
            else:
                score = 1
            if score > 0 and (best is None or score > best[0]):
                best = (score, i, rule)
        if best is not None:
            _, i, rule = best
            where = "".join(f",{k}={v}" for k, v in (("district", rule.district), ("street", rule.street)) if v)
            return rule.unit, f"duties.rules[{i}](item={rule.item}{where})"
        if category and category in self._duties.category_defaults:
            return self._duties.category_defaults[category], f"duties.category_defaults.{category}"
        return None, "none"

    def _resolve(self, ref: str, district: str | None, street: str | None) -> tuple[str, str]:
        level, _, key = ref.partition(".")
        if level == "street":
            if district and street:
                return self._duties.street_unit.name.format(district=district, street=street), ref
            return self._resolve(self._duties.street_unit.fallback, district, street)
        if level == "district":
            unit = self._district_units[key]
            if not district:
                return self._city[unit.city], f"city.{unit.city}"
            override = self._duties.district_overrides.get(district, {}).get(key)
            return override or unit.name.format(district=district, short=self._short.get(district, district)), ref
        return self._city[key], ref
