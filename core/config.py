"""Loading and validating config/*.yaml.

Each file has a pydantic schema. A bad file fails fast with a ConfigError listing every
problem as (file, key path, what was expected), which `radar config check` prints.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class Strict(BaseModel):
    # Typos in config keys must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- platforms.yaml -------------------------------------------------------------------------

class PlatformConfig(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    kind: Literal["json_api", "html", "rss", "browser"]
    adapter: str = Field(description="module in crawlers.adapters that parses this format")
    region: str = "CN"
    base_url: str
    queries: list[str] = Field(default_factory=lambda: [""])
    max_pages: int = Field(default=50, ge=1)
    rate_limit: float = Field(default=2.0, gt=0, description="requests per second")
    concurrency: int = Field(default=2, ge=1, le=64)
    auth: Literal["none", "cookie", "token"] = "none"
    auth_env: str | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _auth_needs_env(self) -> "PlatformConfig":
        if self.auth != "none" and not self.auth_env:
            raise ValueError(f"auth '{self.auth}' needs auth_env naming the environment variable")
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


# --- relevance.yaml -------------------------------------------------------------------------

class WeightedTerms(Strict):
    weight: float
    terms: list[str] = Field(min_length=1)


class RelevanceConfig(Strict):
    threshold: float
    base: float = 0.0
    problem_signals: dict[str, WeightedTerms]
    noise_signals: dict[str, WeightedTerms]


# --- categories.yaml ------------------------------------------------------------------------

class CategoryConfig(Strict):
    name: str
    keywords: list[str] = Field(min_length=1)
    urgent_keywords: list[str] = Field(default_factory=list)


class CategoriesFile(Strict):
    categories: list[CategoryConfig] = Field(min_length=1)


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


class Gazetteer(Strict):
    city: str
    aliases: list[str] = Field(default_factory=list)
    centroid: LatLon
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
    min_lead_posts: int = Field(2, ge=1, description="posts a new group needs to become a lead")


class PriorityWeights(Strict):
    urgency: float = 0.35
    volume: float = 0.25
    engagement: float = 0.15
    spread: float = 0.15
    recency: float = 0.10


class RadarConfig(Strict):
    gazetteer: str
    crawl_timeout_seconds: int = Field(600, ge=1)
    clustering: ClusteringConfig = ClusteringConfig()
    priority: PriorityWeights = PriorityWeights()


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
    categories: tuple[CategoryConfig, ...]
    gazetteer: Gazetteer

    def platform(self, name: str) -> PlatformConfig:
        for p in self.platforms:
            if p.name == name:
                return p
        raise KeyError(f"no platform named '{name}' in platforms.yaml")

    def with_platforms(self, platforms: list[PlatformConfig]) -> "Config":
        """A copy with other platforms (tests and the demo point them at the simulator)."""
        return Config(self.directory, self.radar, tuple(platforms), self.relevance,
                      self.categories, self.gazetteer)


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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
        data = yaml.safe_load(text)
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
            problems.append(ConfigProblem(str(path), _key_path(err["loc"]), msg + expected))
        return None


def load_config(directory: Path) -> Config:
    """Load and validate every config file; raise ConfigError listing all problems."""
    directory = Path(directory)
    problems: list[ConfigProblem] = []
    radar = _validate(RadarConfig, directory / "radar.yaml", problems)
    platforms = _validate(PlatformsFile, directory / "platforms.yaml", problems)
    relevance = _validate(RelevanceConfig, directory / "relevance.yaml", problems)
    categories = _validate(CategoriesFile, directory / "categories.yaml", problems)
    gazetteer = None
    if radar is not None:
        gazetteer = _validate(Gazetteer, directory / radar.gazetteer, problems)
    if problems:
        raise ConfigError(problems)
    return Config(directory, radar, tuple(platforms.platforms), relevance,
                  tuple(categories.categories), gazetteer)
