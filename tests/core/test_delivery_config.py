"""config/delivery.yaml: the repository's file is valid; routes pick targets; broken files fail
with file and key path, and a secret written where an environment variable's name belongs is
refused without being repeated."""
from __future__ import annotations

import pytest

from core.config import ConfigError, DeliveryFile, load_config, target_for
from tests.core.test_config import _edit, config_dir  # noqa: F401 - the fixture is used by name


def _problems(config_dir):
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert all(p.file.endswith("delivery.yaml") for p in exc.value.problems)
    return {p.key_path: p.message for p in exc.value.problems}


def test_repository_delivery_config_is_valid(config):
    d = config.delivery
    assert d.enabled and d.default == "city12345"
    city = d.targets["city12345"]
    assert (city.kind, city.url, city.api_key_env) == ("open311", "http://127.0.0.1:8311/open311/v2/",
                                                       "RADAR_WO_API_KEY")
    assert (city.timeout_seconds, city.max_attempts, city.backoff_base_seconds, city.backoff_max_seconds,
            city.breaker_failures, city.breaker_open_seconds) == (10, 12, 2, 300, 5, 30)
    assert d.targets["district_webhook"].secret_env == "RADAR_WO_WEBHOOK_SECRET"
    assert d.targets["integration_pull"].kind == "pull"
    assert {r.target for r in d.routes} == {"district_webhook"}
    assert d.callback_max_age_seconds == 300


def test_routes_choose_a_target_unit_before_district_else_default(config):
    d = DeliveryFile.model_validate({
        "targets": {"a": {"kind": "pull"}, "b": {"kind": "pull"}, "c": {"kind": "pull"}},
        "default": "a",
        "routes": [{"district": "福田区", "target": "b"}, {"unit": "深圳市水务局", "target": "c"},
                   {"district": "福田区", "target": "a"}]})
    assert target_for(d, "深圳市水务局", "福田区") == "c"  # a unit route wins over an earlier district one
    assert d.target_for("其他单位", "福田区") == "b"       # the first district route
    assert d.target_for(None, "南山区") == "a"             # the default
    assert config.delivery.target_for(None, "大鹏新区") == "district_webhook"


def test_without_the_file_delivery_is_disabled(config_dir):
    (config_dir / "delivery.yaml").unlink()
    d = load_config(config_dir).delivery
    assert not d.enabled and d.targets == {}
    with pytest.raises(LookupError):
        d.target_for("x", "福田区")


def test_a_route_naming_an_unknown_target(config_dir):
    _edit(config_dir / "delivery.yaml", lambda d: d["routes"].append({"unit": "深圳市水务局", "target": "water"}))
    problems = _problems(config_dir)
    assert list(problems) == ["routes[1].target"]
    assert "unknown target 'water'" in problems["routes[1].target"]
    assert "city12345" in problems["routes[1].target"]  # the names it could have been


def test_an_unknown_default_and_an_unknown_district(config_dir):
    def change(d):
        d["default"] = "city"
        d["routes"][0]["district"] = "大鹏"
    _edit(config_dir / "delivery.yaml", change)
    problems = _problems(config_dir)
    assert "unknown target 'city'" in problems["default"]
    assert "大鹏新区" in problems["routes[0].district"]  # an alias: the full name is suggested


def test_a_missing_url(config_dir):
    _edit(config_dir / "delivery.yaml", lambda d: d["targets"]["city12345"].pop("url"))
    assert _problems(config_dir) == {"targets.city12345.url": "open311 targets need url"}


def test_a_secret_written_inline_is_refused_and_not_repeated(config_dir):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    api_key = "3f9a1c0e-77b2-4d7e-9a51-5c3e2b8d6f10"

    def change(d):
        d["targets"]["district_webhook"]["secret_env"] = secret
        d["targets"]["city12345"]["api_key_env"] = api_key
    _edit(config_dir / "delivery.yaml", change)
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    problems = {p.key_path: p.message for p in exc.value.problems}
    assert set(problems) == {"targets.district_webhook.secret_env", "targets.city12345.api_key_env"}
    assert all("NAME of an environment variable" in m for m in problems.values())
    assert secret not in str(exc.value) and api_key not in str(exc.value)


def test_kind_specific_keys_and_typos(config_dir):
    def change(d):
        d["targets"]["district_webhook"].pop("secret_env")
        d["targets"]["integration_pull"]["url"] = "http://example.test/"
        d["targets"]["city12345"]["max_attemps"] = 3
        d["routes"].append({"unit": "u", "district": "福田区", "target": "city12345"})
    _edit(config_dir / "delivery.yaml", change)
    problems = _problems(config_dir)
    assert set(problems) == {"targets.city12345.max_attemps", "routes[1]"}  # shape problems first
    _edit(config_dir / "delivery.yaml", lambda d: (d["targets"]["city12345"].pop("max_attemps"), d["routes"].pop()))
    problems = _problems(config_dir)
    assert set(problems) == {"targets.district_webhook.secret_env", "targets.integration_pull.url"}


def test_the_replay_window_cannot_exceed_what_the_library_enforces(config_dir):
    _edit(config_dir / "delivery.yaml", lambda d: d.update(callback_max_age_seconds=900))
    assert "callback_max_age_seconds" in _problems(config_dir)
