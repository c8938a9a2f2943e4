"""Loading and validating config/*.yaml.

Each file has a pydantic schema. A bad file fails fast with a ConfigError listing every
problem as (file, key path, what was expected), which `radar config check` prints.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class Strict(BaseModel):
    # Typos in config keys must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- platforms.yaml -------------------------------------------------------------------------

TimeKind = Literal["auto", "epoch", "epoch_ms", "iso", "rfc2822", "weibo", "cn_relative"]
Paging = Literal["page", "offset", "cursor", "last_id", "next_url", "link", "none"]


class FieldMap(Strict):
    """Where one post's values sit inside one item: dotted paths (JSON) or CSS (HTML).

    JSON paths: `a.b.0.c` (numeric parts index lists). HTML: parsel CSS relative to the item;
    `::text` / `::attr(x)` give a string, a bare selector gives the element's text.
    """

    id: str
    id_regex: str | None = Field(None, description="first group of this regex on the id value")
    text: str
    title: str | None = None
    time: str
    time_regex: str | None = Field(None, description="first group of this regex on the time value")
    time_kind: TimeKind = "auto"
    author_id: str | None = None
    author_name: str | None = None
    url: str | None = None
    url_template: str | None = Field(None, description="post URL from {id} when the item has none")
    likes: str | None = None
    comments: str | None = None
    shares: str | None = None
    views: str | None = None
    geo: str | None = Field(None, description="location label; '发布于 浙江' kept as weak geotag")
    media: str | None = None
    media_key: str | None = Field(None, description="path inside each media entry holding its URL")
    repost_object: str | None = Field(None, description="embedded original, parsed with this same map")
    repost_id: str | None = Field(None, description="the original's id when it is not embedded")
    repost_id_regex: str | None = None


class PagingConfig(Strict):
    kind: Paging = "page"
    param: str = Field("page", description="query parameter carrying page/offset/cursor/last id")
    start: int = Field(1, description="first page number (0 for 0-based APIs)")
    size: int = Field(20, ge=1, description="items per page (offset paging)")
    cursor_path: str | None = Field(None, description="JSON path (or CSS) of the next cursor / next URL")
    has_more_path: str | None = None
    total_pages_path: str | None = None
    end_values: list[str] = Field(default_factory=list, description="cursor values that mean 'no more'")


class FormatMapping(Strict):
    """How a generic adapter (crawlers.adapters.json_api / html_page) reads one platform."""

    items: str = Field(description="JSON path of the item list ('' = the root), or CSS of one item")
    fields: FieldMap
    paging: PagingConfig = PagingConfig()
    ok_path: str | None = Field(None, description="JSON path of the API's status field")
    ok_values: list[str] = Field(default_factory=list, description="values of ok_path meaning success")
    empty_marker: str | None = Field(None, description="text a real no-results page shows")
    newest_last: bool = Field(False, description="items are listed oldest first (t.me/s)")


class PlatformConfig(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    kind: Literal["json_api", "html", "rss", "browser"]
    adapter: str = Field(description="module in crawlers.adapters that parses this format")
    region: str = "CN"
    base_url: str
    url: str | None = Field(None, description="list URL template: {base} {query} {page} {offset} {cursor}")
    endpoint: Literal["search", "timeline", "board", "topic", "feed"] = "feed"
    queries: list[str] = Field(default_factory=lambda: [""])
    query_from: list[Literal["keywords", "accounts"]] = Field(
        default_factory=list, description="also crawl queries generated from config/watchlists.yaml")
    max_queries: int = Field(default=20, ge=1, description="cap on generated queries per run")
    query_format: str = Field("{q}", description="how a generated keyword becomes a query, e.g. a containerid")
    max_pages: int = Field(default=50, ge=1)
    rate_limit: float = Field(default=2.0, gt=0, description="requests per second")
    concurrency: int = Field(default=2, ge=1, le=64)
    timeout_seconds: float = Field(default=30, gt=0)
    auth: Literal["none", "cookie", "token", "cookie_file"] = "none"
    auth_env: str | None = None
    mapping: FormatMapping | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _auth_needs_env(self) -> "PlatformConfig":
        if self.auth != "none" and not self.auth_env:
            raise ValueError(f"auth '{self.auth}' needs auth_env naming the environment variable")
        if self.adapter in ("json_api", "html_page") and self.mapping is None:
            raise ValueError(f"adapter '{self.adapter}' needs a mapping")
        if self.adapter in ("json_api", "html_page") and not self.url:
            raise ValueError(f"adapter '{self.adapter}' needs a url template")
        return self


class PlatformsFile(Strict):
    platforms: list[PlatformConfig]

    @field_validator("platforms")
    @classmethod
    def _unique(cls, platforms: list[PlatformConfig]) -> list[PlatformConfig]:
        seen: set[str] = set()
        for p in platforms:
            if p.name in seen:
                raise ValueError(f"platform '{p.name}' is defined twice")
            seen.add(p.name)
        return platforms


# --- watchlists.yaml ------------------------------------------------------------------------

class WatchKeywords(Strict):
    districts: list[str] = Field(default_factory=list, description="gazetteer district names")
    streets: list[str] = Field(default_factory=list, description="gazetteer street names")
    problems: list[str] = Field(default_factory=list, description="problem words")
    combine: bool = Field(True, description="also search 'place problem' pairs (districts x problems)")


class Watchlists(Strict):
    keywords: WatchKeywords = WatchKeywords()
    accounts: dict[str, list[str]] = Field(default_factory=dict, description="platform -> account ids")

    def queries_for(self, platform: "PlatformConfig") -> list[str]:
        """The platform's fixed queries, then the generated ones, deduplicated, capped."""
        out = list(platform.queries)
        generated: list[str] = []
        if "keywords" in platform.query_from:
            kw = self.keywords
            generated += kw.districts + kw.streets + kw.problems
            if kw.combine:
                generated += [f"{d} {p}" for d in kw.districts for p in kw.problems]
        if "accounts" in platform.query_from:
            generated += self.accounts.get(platform.name, [])
        for q in [platform.query_format.format(q=g) for g in generated][: platform.max_queries]:
            if q not in out:
                out.append(q)
        return [q for q in out if q or len(out) == 1]


# --- relevance.yaml -------------------------------------------------------------------------

class WeightedTerms(Strict):
    weight: float
    terms: list[str] = Field(min_length=1)


class RelevanceConfig(Strict):
    threshold: float
    base: float = 0.0
    problem_signals: dict[str, WeightedTerms]
    noise_signals: dict[str, WeightedTerms]


# --- catalogue.yaml: the first of the three lists -------------------------------------------

class CatalogueItem(Strict):
    id: str = Field(pattern=r"^[A-Z]{2}[0-9]{3}$")
    name: str
    description: str
    keywords: list[str] = Field(min_length=1)
    examples: list[str] = Field(min_length=1)


class CatalogueCategory(Strict):
    code: str = Field(pattern=r"^[A-Z]{2}$")
    name: str
    description: str
    aliases: list[str] = Field(default_factory=list, description="other catalogues' names for it")
    items: list[CatalogueItem] = Field(min_length=1)


class CatalogueFile(Strict):
    categories: list[CatalogueCategory] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "CatalogueFile":
        seen: dict[str, str] = {}
        for i, c in enumerate(self.categories):
            for key in (c.name, *c.aliases):
                if key in seen:
                    raise ValueError(f"categories[{i}]: name '{key}' already used by {seen[key]}")
                seen[key] = c.name
            for j, item in enumerate(c.items):
                if not item.id.startswith(c.code):
                    raise ValueError(f"categories[{i}].items[{j}]: id '{item.id}' must start with '{c.code}'")
                if item.id in seen:
                    raise ValueError(f"categories[{i}].items[{j}]: id '{item.id}' is defined twice")
                seen[item.id] = c.name
        return self

    def item(self, item_id: str) -> CatalogueItem | None:
        for c in self.categories:
            for item in c.items:
                if item.id == item_id:
                    return item
        return None


# --- duties.yaml: the second list -----------------------------------------------------------

# `city.<key>`, `district.<key>` or `street.office`: see config/duties.yaml.
UnitRef = str


class CityUnit(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str


class DistrictUnit(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(description="template: {district} full name, {short} first alias")
    city: str = Field(description="key of the city unit that takes over when no district is known")


class StreetUnit(Strict):
    name: str = Field(description="template: {district}, {street}")
    fallback: UnitRef


class DutyRule(Strict):
    item: str
    district: str | None = None
    street: str | None = None
    unit: UnitRef
    note: str = ""

    @model_validator(mode="after")
    def _street_needs_district(self) -> "DutyRule":
        if self.street and not self.district:
            raise ValueError("a rule naming a street must name its district")
        return self


class DutiesFile(Strict):
    street_unit: StreetUnit
    city_units: list[CityUnit] = Field(min_length=1)
    district_units: list[DistrictUnit] = Field(min_length=1)
    district_overrides: dict[str, dict[str, str]] = Field(default_factory=dict)
    category_defaults: dict[str, UnitRef]
    rules: list[DutyRule] = Field(default_factory=list)


# --- implementation.yaml: the third list ----------------------------------------------------

ProcessType = Literal["emergency", "urgent", "general", "consult"]


class ItemImplementation(Strict):
    process: ProcessType
    urgent: bool
    dispatch_minutes: int = Field(ge=1)
    resolution_hours: int = Field(ge=1)
    closing_standard: str

    @model_validator(mode="after")
    def _urgent_is_fast(self) -> "ItemImplementation":
        if self.urgent and self.dispatch_minutes > 30:
            raise ValueError(f"urgent item dispatched in {self.dispatch_minutes} min; urgent means <= 30")
        return self


class UrgencyModifiers(Strict):
    """Words that change what an urgent signal means in its own clause."""

    negators: list[str] = Field(default_factory=lambda: ["没有", "没", "无", "未", "并未", "不是", "不存在", "排除",
                                                          "不会", "并非", "别"],
                                description="just before a signal, in its clause: the hazard is denied")
    negation_reach: int = Field(4, ge=1, le=12, description="characters before a signal a negator may stand")
    hedges: list[str] = Field(default_factory=lambda: ["不太急", "不着急", "不急", "不算紧急", "不紧急", "有空再",
                                                        "方便的时候", "不赶时间", "慢慢来"],
                              description="the writer says it can wait: text signals alone no longer make it urgent")
    resolved: list[str] = Field(default_factory=lambda: ["已修好", "已经修好", "已修复", "已经修复", "已恢复",
                                                          "已经恢复", "恢复了", "已处理好", "已经处理好", "已解决",
                                                          "已经解决", "已排除", "已经排除", "已救出", "已经救出"],
                                description="after a signal, in its clause: the hazard is over")


class ImplementationFile(Strict):
    process_types: dict[ProcessType, str]
    urgency_modifiers: UrgencyModifiers = UrgencyModifiers()
    urgent_dispatch_minutes: int = Field(30, ge=1)
    general_dispatch_minutes: int = Field(120, ge=1, description="SLA of a lead with no item or category rule")
    category_dispatch_minutes: dict[str, int] = Field(default_factory=dict, description=
                                                      "SLA per first-level category, for leads with no item")
    urgent_signals: dict[str, list[str]]
    items: dict[str, ItemImplementation]


# --- gazetteer ------------------------------------------------------------------------------

LatLon = tuple[float, float]


class StreetEntry(Strict):
    name: str
    aliases: list[str] = Field(default_factory=list)
    centroid: LatLon


class DistrictEntry(Strict):
    name: str
    aliases: list[str] = Field(default_factory=list)
    centroid: LatLon
    streets: list[StreetEntry] = Field(default_factory=list)


class PlaceEntry(Strict):
    name: str
    kind: Literal["road", "metro", "landmark", "estate", "community"]
    district: str
    street: str | None = None
    also_districts: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    centroid: LatLon


class OutsideEntry(Strict):
    """A place outside the city: a post naming only these is about somewhere else."""

    name: str
    aliases: list[str] = Field(default_factory=list)


class Gazetteer(Strict):
    city: str
    aliases: list[str] = Field(default_factory=list)
    centroid: LatLon
    outside: list[OutsideEntry] = Field(default_factory=list)
    districts: list[DistrictEntry] = Field(min_length=1)
    places: list[PlaceEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> "Gazetteer":
        streets = {d.name: {s.name for s in d.streets} for d in self.districts}
        for i, place in enumerate(self.places):
            if place.district not in streets:
                raise ValueError(f"places[{i}] ({place.name}): unknown district '{place.district}'")
            if place.street and place.street not in streets[place.district]:
                raise ValueError(
                    f"places[{i}] ({place.name}): street '{place.street}' is not in {place.district}"
                )
            for other in place.also_districts:
                if other not in streets:
                    raise ValueError(f"places[{i}] ({place.name}): unknown district '{other}'")
        return self


# --- radar.yaml: pipeline tuning ------------------------------------------------------------

class ClusteringConfig(Strict):
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1)
    same_problem_threshold: float = Field(0.25, gt=0, le=1)
    merge_threshold: float = Field(0.5, gt=0, le=1)
    time_window_days: float = Field(7, gt=0)
    quiet_days_to_close: float = Field(14, gt=0)
    reopen_days: float = Field(60, gt=0, description="how far back a closed lead can come back")
    min_lead_posts: int = Field(2, ge=1, description="posts a new group needs to become a lead")
    same_place_meters: float = Field(300, gt=0, description="posts (and leads) naming places further "
                                     "apart than this are different problems")
    algorithm: Literal["average", "hdbscan"] = Field("average", description="how the posts no lead "
                                                     "took are grouped: average linkage or HDBSCAN")
    embedding_weight: float = Field(0.5, ge=0, le=1, description="share of the embedding cosine in the "
                                    "similarity (0: words only, no model loaded)")
    embedding_floor: float = Field(0.88, ge=0, lt=1, description="embedding cosine that counts as "
                                   "unrelated (multilingual-e5-small: about 0.88 for Chinese posts)")
    different_what_factor: float = Field(0.6, gt=0, le=1, description="the similarity of posts (and "
                                         "leads) read from catalogue keywords that share none is "
                                         "multiplied by this: a beauty salon and a gym closing at one "
                                         "park are two cases")
    one_sided_detail_factor: float = Field(1.0, gt=0, le=1, description="the similarity of a post "
                                           "naming a detail (3栋, B出口) and one (or a lead) naming none "
                                           "of that kind is multiplied by this")
    what_min_cosine: float = Field(0.25, ge=0, le=1, description="idf-weighted cosine of two posts' "
                                   "catalogue keywords under which they are about different things")
    different_place_factor: float = Field(0.5, gt=0, le=1, description="the similarity of posts (and "
                                          "leads) naming different places (estates, facilities) is "
                                          "multiplied by this: neighbours are rarely one problem")
    threshold_per_decade: float = Field(0.0, ge=0, le=1, description="same_problem_threshold rises by "
                                        "this for each tenfold of new posts in a district block over "
                                        "threshold_reference_posts (multiple comparisons)")
    threshold_reference_posts: int = Field(30, ge=1)
    different_category_factor: float = Field(0.0, ge=0, le=1, description="the similarity of posts (and "
                                             "leads) given different categories is multiplied by this "
                                             "(0: never one problem)")
    same_place_bonus: float = Field(0.0, ge=0, le=1, description="added to the similarity of posts (and "
                                    "leads) naming one place (estate, facility, road): the place is "
                                    "blanked from the words compared, so it counts here once")
    candidates: Literal["scan", "knn"] = Field("scan", description="how the leads a batch may join are "
                                               "found: scan every lead of the time window (and the open "
                                               "ones at the places it names), or ask the search index for "
                                               "each post's knn_k nearest lead centroids (plus the same "
                                               "place lookup); knn needs the embedding model")
    knn_k: int = Field(20, ge=1, le=500, description="candidate leads per post in knn mode")
    recurrence_candidates: int = Field(20, ge=1, le=1000, description="a new lead is checked for a "
                                       "recurrence against this many of the most recently seen closed "
                                       "leads at its place: older ones are reached through the links "
                                       "those already hold, and closed leads pile up for as long as "
                                       "the radar runs")


class PriorityWeights(Strict):
    urgency: float = 0.35
    volume: float = 0.25
    engagement: float = 0.15
    spread: float = 0.15
    recency: float = 0.10
    velocity: float = 0.10
    recurrence: float = 0.05


class TrendsConfig(Strict):
    weeks: int = Field(8, ge=1, description="class cases: weeks looked back from the window end")
    min_count: int = Field(5, ge=1, description="spikes: posts the last hour / day needs at least")
    ratio: float = Field(3.0, gt=0, description="spikes: last period against the baseline mean")


class TriageConfig(Strict):
    claim_minutes: float = Field(15, gt=0, le=480, description="how long a review lock lasts unless renewed")
    return_min_posts: int = Field(3, ge=1, description="new posts that bring a rejected lead back to review")
    return_growth: float = Field(0.5, ge=0, description="... and at least this share of its posts when rejected")
    session_hours: float = Field(12, gt=0, description="a web session's lifetime")
    login_max_failures: int = Field(5, ge=1, description="failed logins before a user is locked out")
    login_lockout_minutes: float = Field(15, gt=0)


class RetentionConfig(Strict):
    raw_post_days: int = Field(365, ge=1, description="posts published longer ago than this are forgotten by "
                               "`radar retention purge` (record, search index, caches, lead summaries); leads "
                               "and work orders stay, with their evidence hashes")


class RadarConfig(Strict):
    gazetteer: str
    timezone: str = Field("Asia/Shanghai", description="the city's time zone: what 'today' means in reports")
    crawl_timeout_seconds: int = Field(600, ge=1)
    overdue_lead_hours: float = Field(48, gt=0, description="an open (new/verified) lead first seen "
                                      "longer ago than this is overdue in the daily report")
    clustering: ClusteringConfig = ClusteringConfig()
    priority: PriorityWeights = PriorityWeights()
    trends: TrendsConfig = TrendsConfig()
    triage: TriageConfig = TriageConfig()
    retention: RetentionConfig = RetentionConfig()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from None
        return value


# --- delivery.yaml: where work orders go (optional file) ------------------------------------

# Secrets never sit in the YAML: these keys NAME environment variables. Upper case only, so a
# pasted secret (base64, whsec_..., a hex key) cannot pass for a name.
ENV_NAME = r"^[A-Z][A-Z0-9_]*$"
TARGET_NAME = r"^[a-z][a-z0-9_]*$"


def _env_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(ENV_NAME, value):
        # Never echo the value: it is most likely the secret itself.
        raise ValueError("must be the NAME of an environment variable (upper case, e.g. "
                         "RADAR_WO_API_KEY), never the secret itself")
    return value


class DeliveryTarget(Strict):
    """One receiver of work orders: an Open311 GeoReport v2 server, a signed-webhook endpoint,
    or `pull` (the integration reads the change feed). Retry and breaker settings are read by
    the delivery worker, per target."""

    kind: Literal["open311", "webhook", "pull"]
    url: str | None = Field(None, description="open311: the base, e.g. http://host/open311/v2/; "
                            "webhook: the URL orders are POSTed to; pull: none")
    api_key_env: str | None = Field(None, description="open311: environment variable holding the api_key")
    secret_env: str | None = Field(None, description="webhook: environment variable holding the "
                                   "Standard Webhooks secret (whsec_<base64>)")
    jurisdiction_id: str | None = Field(None, description="open311: sent when the server serves several")
    timeout_seconds: float = Field(10, gt=0)
    token_mode_poll_seconds: float = Field(30, gt=0, description="open311: how often a token answer "
                                           "is looked up until it names a service_request_id")
    max_attempts: int = Field(12, ge=1, description="tries before the order is dead-lettered")
    backoff_base_seconds: float = Field(2, gt=0)
    backoff_max_seconds: float = Field(300, gt=0)
    breaker_failures: int = Field(5, ge=1, description="failures in a row that open the circuit breaker")
    breaker_open_seconds: float = Field(30, gt=0, description="how long an open breaker holds sends back")
    rate_per_second: float | None = Field(None, gt=0, description="cap on sends per second (none: no cap)")

    @field_validator("api_key_env", "secret_env")
    @classmethod
    def _env_names(cls, value: str | None) -> str | None:
        return _env_name(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> "DeliveryTarget":
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_max_seconds must be >= backoff_base_seconds")
        return self


class DeliveryRoute(Strict):
    """Send the orders of one unit (its name as routing resolved it) or one district (a gazetteer
    district name) to a target."""

    unit: str | None = None
    district: str | None = None
    target: str

    @model_validator(mode="after")
    def _one_key(self) -> "DeliveryRoute":
        if (self.unit is None) == (self.district is None):
            raise ValueError("a route names exactly one of unit or district")
        return self


class DeliveryFile(Strict):
    """config/delivery.yaml. Absent file: no targets, delivery disabled."""

    targets: dict[str, DeliveryTarget] = Field(default_factory=dict)
    default: str | None = Field(None, description="the target of an order no route matches")
    routes: list[DeliveryRoute] = Field(default_factory=list, description="unit routes win over "
                                        "district routes; within each, the first listed wins")
    callback_secret_env: str | None = Field(None, description="environment variable holding the "
                                            "secret status callbacks are signed with")
    # The standardwebhooks library refuses anything older than 5 minutes whatever we say, so a
    # longer window would be a promise the receiver cannot keep.
    callback_max_age_seconds: int = Field(300, ge=1, le=300, description="replay window of status "
                                          "callbacks (webhook-timestamp)")

    @field_validator("callback_secret_env")
    @classmethod
    def _env_names(cls, value: str | None) -> str | None:
        return _env_name(value)

    @property
    def enabled(self) -> bool:
        return bool(self.targets) and self.default is not None

    def target_for(self, unit: str | None, district: str | None) -> str:
        return target_for(self, unit, district)


def target_for(delivery: DeliveryFile, unit: str | None, district: str | None) -> str:
    """The target an order goes to: the first route naming its unit, else the first naming its
    district, else the default. LookupError when delivery is not configured."""
    for route in delivery.routes:
        if route.unit is not None and route.unit == unit:
            return route.target
    for route in delivery.routes:
        if route.district is not None and route.district == district:
            return route.target
    if delivery.default is None:
        raise LookupError("no delivery target: config/delivery.yaml is absent or has no default")
    return delivery.default


# --- the whole config -----------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigProblem:
    file: str
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key_path}" if self.key_path else self.file
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more config files are invalid; `problems` says where and why."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Config:
    directory: Path
    radar: RadarConfig
    platforms: tuple[PlatformConfig, ...]
    relevance: RelevanceConfig
    catalogue: CatalogueFile
    duties: DutiesFile
    implementation: ImplementationFile
    gazetteer: Gazetteer

    watchlists: Watchlists = Watchlists()
    delivery: DeliveryFile = DeliveryFile()

    @property
    def categories(self) -> tuple[CatalogueCategory, ...]:
        """The first-level categories of the catalogue."""
        return tuple(self.catalogue.categories)

    def platform(self, name: str) -> PlatformConfig:
        for p in self.platforms:
            if p.name == name:
                return p
        raise KeyError(f"no platform named '{name}' in platforms.yaml")

    def with_platforms(self, platforms: list[PlatformConfig]) -> "Config":
        """A copy with other platforms (tests and the demo point them at the simulator)."""
        return replace(self, platforms=tuple(platforms))

    def platform_queries(self, platform: PlatformConfig) -> list[str]:
        return self.watchlists.queries_for(platform)


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path, problems: list[ConfigProblem]) -> object | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(ConfigProblem(str(path), "", "file is missing"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(ConfigProblem(str(path), "", f"cannot read: {exc}"))
        return None
    try:
        # The C loader when PyYAML has it: the lists and platforms are thousands of lines.
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(ConfigProblem(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}"))
        return None
    if not isinstance(data, dict):
        problems.append(ConfigProblem(str(path), "", "expected a mapping at the top level"))
        return None
    return data


def _validate(model: type[BaseModel], path: Path, problems: list[ConfigProblem]):
    data = _load_yaml(path, problems)
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            expected = f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(
                err.get("input"), (dict, list)) else ""
            if err["loc"] and str(err["loc"][-1]).endswith("_env"):
                expected = ""  # an *_env key that fails may hold the secret itself: never echo it
            problems.append(ConfigProblem(str(path), _key_path(err["loc"]), msg + expected))
        return None


def load_config(directory: Path) -> Config:
    """Load and validate every config file; raise ConfigError listing all problems."""
    directory = Path(directory)
    problems: list[ConfigProblem] = []
    radar = _validate(RadarConfig, directory / "radar.yaml", problems)
    platforms = _validate(PlatformsFile, directory / "platforms.yaml", problems)
    relevance = _validate(RelevanceConfig, directory / "relevance.yaml", problems)
    catalogue = _validate(CatalogueFile, directory / "catalogue.yaml", problems)
    duties = _validate(DutiesFile, directory / "duties.yaml", problems)
    implementation = _validate(ImplementationFile, directory / "implementation.yaml", problems)
    gazetteer = None
    if radar is not None:
        gazetteer = _validate(Gazetteer, directory / radar.gazetteer, problems)
    watchlists = Watchlists()
    if (directory / "watchlists.yaml").exists():  # optional: no watchlist, no generated queries
        watchlists = _validate(Watchlists, directory / "watchlists.yaml", problems)
        if watchlists is not None and gazetteer is not None:
            problems += _check_watchlists(watchlists, gazetteer, platforms, directory / "watchlists.yaml")
    if catalogue is not None:
        problems += _cross_references(directory, catalogue, duties, implementation, gazetteer)
    delivery = DeliveryFile()
    if (directory / "delivery.yaml").exists():  # optional: no file, no delivery targets
        delivery = _validate(DeliveryFile, directory / "delivery.yaml", problems)
        if delivery is not None:
            problems += _check_delivery(delivery, gazetteer, directory / "delivery.yaml")
    if problems:
        raise ConfigError(problems)
    return Config(directory, radar, tuple(platforms.platforms), relevance, catalogue, duties,
                  implementation, gazetteer, watchlists, delivery)


def _check_watchlists(w: Watchlists, gaz: Gazetteer, platforms: PlatformsFile | None,
                      path: Path) -> list[ConfigProblem]:
    """Watched places must be gazetteer names, accounts must belong to known platforms."""
    out = []
    districts = {d.name for d in gaz.districts} | {a for d in gaz.districts for a in d.aliases}
    streets = {s.name for d in gaz.districts for s in d.streets} | {
        a for d in gaz.districts for s in d.streets for a in s.aliases}
    for i, name in enumerate(w.keywords.districts):
        if name not in districts:
            out.append(ConfigProblem(str(path), f"keywords.districts[{i}]", f"'{name}' is not a gazetteer district"))
    for i, name in enumerate(w.keywords.streets):
        if name not in streets:
            out.append(ConfigProblem(str(path), f"keywords.streets[{i}]", f"'{name}' is not a gazetteer street"))
    # Accounts of platforms absent from platforms.yaml are not an error: a deployment may
    # trim the registry without editing the watchlist; they simply generate no query.
    return out


def _check_delivery(d: DeliveryFile, gaz: Gazetteer | None, path: Path) -> list[ConfigProblem]:
    """Every name a route or the default uses is a defined target, each target has what its
    kind needs, and district routes name gazetteer districts (the name an order's place holds)."""
    out: list[ConfigProblem] = []

    def problem(key: str, message: str) -> None:
        out.append(ConfigProblem(str(path), key, message))

    needs = {"open311": ("url", "api_key_env"), "webhook": ("url", "secret_env"), "pull": ()}
    for name, target in d.targets.items():
        if not re.fullmatch(TARGET_NAME, name):
            # The name also keys the worker's breaker and an Airflow pool.
            problem(f"targets.{name}", "a target name is lower case letters, digits and _")
        for key in needs[target.kind]:
            if getattr(target, key) is None:
                problem(f"targets.{name}.{key}", f"{target.kind} targets need {key}")
        if target.kind == "pull" and target.url is not None:
            problem(f"targets.{name}.url", "a pull target has no url: the integration reads the change feed")
    known = ", ".join(sorted(d.targets)) or "none defined"
    if d.default is not None and d.default not in d.targets:
        problem("default", f"unknown target '{d.default}' (targets: {known})")
    if d.default is None and d.targets:
        problem("default", "needed when targets are defined: where an order no route matches goes")
    districts = {x.name for x in gaz.districts} if gaz is not None else None
    aliases = {a: x.name for x in gaz.districts for a in x.aliases} if gaz is not None else {}
    for i, route in enumerate(d.routes):
        if route.target not in d.targets:
            problem(f"routes[{i}].target", f"unknown target '{route.target}' (targets: {known})")
        if districts is not None and route.district is not None and route.district not in districts:
            hint = f"; write its full name '{aliases[route.district]}'" if route.district in aliases else ""
            problem(f"routes[{i}].district", f"'{route.district}' is not a gazetteer district{hint}")
    return out


def _cross_references(directory: Path, catalogue: CatalogueFile, duties: DutiesFile | None,
                      implementation: ImplementationFile | None,
                      gazetteer: Gazetteer | None) -> list[ConfigProblem]:
    """The three lists name each other's items, units and places: check every reference, so a
    renamed item or district fails at load time instead of routing a post to nobody."""
    problems: list[ConfigProblem] = []
    item_ids = [i.id for c in catalogue.categories for i in c.items]
    names = {c.name for c in catalogue.categories}
    if implementation is not None:
        path = str(directory / "implementation.yaml")
        for key in implementation.items:
            if key not in item_ids:
                problems.append(ConfigProblem(path, f"items.{key}", "unknown catalogue item"))
        for key in item_ids:
            if key not in implementation.items:
                problems.append(ConfigProblem(path, "items", f"catalogue item '{key}' has no entry"))
        for name, minutes in implementation.category_dispatch_minutes.items():
            if name not in names:
                problems.append(ConfigProblem(path, f"category_dispatch_minutes.{name}", "unknown category"))
            if minutes < 1:
                problems.append(ConfigProblem(path, f"category_dispatch_minutes.{name}", "minutes must be >= 1"))
    if duties is None:
        return problems
    path = str(directory / "duties.yaml")
    city = {u.key for u in duties.city_units}
    district_keys = {u.key for u in duties.district_units}
    streets = ({d.name: {s.name for s in d.streets} for d in gazetteer.districts}
               if gazetteer is not None else None)

    def check_unit(ref: str, where: str) -> None:
        level, _, key = ref.partition(".")
        ok = ((level == "city" and key in city) or (level == "district" and key in district_keys)
              or ref == "street.office")
        if not ok:
            problems.append(ConfigProblem(path, where, f"unknown unit '{ref}' (city.<key>, "
                                          "district.<key> or street.office)"))

    for i, u in enumerate(duties.district_units):
        if u.city not in city:
            problems.append(ConfigProblem(path, f"district_units[{i}].city", f"unknown city unit '{u.city}'"))
    check_unit(duties.street_unit.fallback, "street_unit.fallback")
    if duties.street_unit.fallback == "street.office":
        problems.append(ConfigProblem(path, "street_unit.fallback", "cannot fall back to itself"))
    for d, units in duties.district_overrides.items():
        if streets is not None and d not in streets:
            problems.append(ConfigProblem(path, f"district_overrides.{d}", "unknown district"))
        for key in units:
            if key not in district_keys:
                problems.append(ConfigProblem(path, f"district_overrides.{d}.{key}", "unknown district unit"))
    for name, ref in duties.category_defaults.items():
        if name not in names:
            problems.append(ConfigProblem(path, f"category_defaults.{name}", "unknown category"))
        check_unit(ref, f"category_defaults.{name}")
    for name in sorted(names - set(duties.category_defaults)):
        problems.append(ConfigProblem(path, "category_defaults", f"category '{name}' has no default unit"))
    for i, rule in enumerate(duties.rules):
        where = f"rules[{i}]"
        if rule.item not in item_ids:
            problems.append(ConfigProblem(path, f"{where}.item", f"unknown catalogue item '{rule.item}'"))
        check_unit(rule.unit, f"{where}.unit")
        if streets is not None and rule.district is not None:
            if rule.district not in streets:
                problems.append(ConfigProblem(path, f"{where}.district", f"unknown district '{rule.district}'"))
            elif rule.street and rule.street not in streets[rule.district]:
                problems.append(ConfigProblem(path, f"{where}.street",
                                              f"street '{rule.street}' is not in {rule.district}"))
    return problems
