"""Config loading: the repository's config is valid; broken files fail with file and key path."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from core.config import ConfigError, load_config
from tests.conftest import REPO


@pytest.fixture
def config_dir(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    return target


def _edit(path, change):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_repository_config_is_valid(config):
    assert {p.name for p in config.platforms} >= {"weibo", "jiazaishenzhen", "szrss"}
    assert len(config.gazetteer.districts) == 11


def test_wrong_type_names_file_and_key_path(config_dir):
    _edit(config_dir / "platforms.yaml", lambda d: d["platforms"][1].update(rate_limit="fast"))
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    [problem] = exc.value.problems
    assert problem.file.endswith("platforms.yaml")
    assert problem.key_path == "platforms[1].rate_limit"
    assert "number" in problem.message and "fast" in problem.message


def test_unknown_key_and_missing_key_are_both_reported(config_dir):
    def change(d):
        d["platforms"][0]["ratelimit"] = 3
        del d["platforms"][2]["adapter"]
    _edit(config_dir / "platforms.yaml", change)
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    paths = {p.key_path for p in exc.value.problems}
    assert paths == {"platforms[0].ratelimit", "platforms[2].adapter"}


def test_invalid_yaml_reports_line(config_dir):
    (config_dir / "relevance.yaml").write_text("threshold: [1, 2\nbase: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert exc.value.problems[0].file.endswith("relevance.yaml")
    assert "line" in exc.value.problems[0].key_path


def test_cross_reference_in_gazetteer_is_checked(config_dir):
    gaz = config_dir / "gazetteer" / "shenzhen.yaml"
    _edit(gaz, lambda d: d["places"][0].update(district="火星区"))
    with pytest.raises(ConfigError, match="unknown district '火星区'"):
        load_config(config_dir)


def test_missing_file_and_duplicate_platform(config_dir):
    (config_dir / "catalogue.yaml").unlink()
    _edit(config_dir / "platforms.yaml", lambda d: d["platforms"].append(dict(d["platforms"][0])))
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    text = str(exc.value)
    assert "catalogue.yaml: file is missing" in text
    assert "defined twice" in text


def test_auth_needs_an_environment_variable_name(config_dir):
    _edit(config_dir / "platforms.yaml", lambda d: d["platforms"][0].pop("auth_env"))
    with pytest.raises(ConfigError, match="auth_env"):
        load_config(config_dir)


def test_cli_config_check_ok_and_broken(config_dir):
    radar = [sys.executable, "-m", "pipeline.cli", "config", "check", "--dir"]
    ok = subprocess.run(radar + [str(config_dir)], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0 and ok.stdout.startswith("OK")
    _edit(config_dir / "radar.yaml", lambda d: d["clustering"].update(same_problem_threshold=3))
    bad = subprocess.run(radar + [str(config_dir)], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1
    assert "radar.yaml: clustering.same_problem_threshold" in bad.stderr


def test_broken_clustering_settings_name_the_key(config_dir):
    def change(d):
        d["clustering"]["algorithm"] = "kmeans"
        d["clustering"]["embedding_floor"] = 1.5
        d["clustering"]["different_category_factor"] = -0.5
        d["clustering"]["threshold_per_decade"] = "steep"
    _edit(config_dir / "radar.yaml", change)
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    problems = {p.key_path: p for p in exc.value.problems}
    assert set(problems) == {"clustering.algorithm", "clustering.embedding_floor",
                             "clustering.different_category_factor", "clustering.threshold_per_decade"}
    assert all(p.file.endswith("radar.yaml") for p in problems.values())
    assert "average" in problems["clustering.algorithm"].message


def test_broken_candidate_search_settings_name_the_key(config_dir):
    # 0 candidates would silently turn recurrence and kNN lookups off; refuse instead.
    def change(d):
        d["clustering"]["candidates"] = "everything"
        d["clustering"]["knn_k"] = 0
        d["clustering"]["recurrence_candidates"] = 0
    _edit(config_dir / "radar.yaml", change)
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert {p.key_path for p in exc.value.problems} == {
        "clustering.candidates", "clustering.knn_k", "clustering.recurrence_candidates"}
    _edit(config_dir / "radar.yaml", lambda d: d["clustering"].update(
        candidates="knn", knn_k=5, recurrence_candidates="many"))
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert [p.key_path for p in exc.value.problems] == ["clustering.recurrence_candidates"]


def test_broken_triage_and_sla_settings_name_the_key(config_dir):
    _edit(config_dir / "radar.yaml", lambda d: d["triage"].update(claim_minutes=0, login_max_failures="x"))
    _edit(config_dir / "implementation.yaml", lambda d: d.update(category_dispatch_minutes={"火星事务": 60}))
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    problems = {p.key_path: p for p in exc.value.problems}
    assert {"triage.claim_minutes", "triage.login_max_failures", "category_dispatch_minutes.火星事务"} <= set(problems)
    assert "unknown category" in problems["category_dispatch_minutes.火星事务"].message
