"""`radar forget author|post` and `radar retention purge`: JSON summaries, dry runs, clear errors."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from core.models import utcnow
from core.store import Store
from pipeline.cli import app
from tests.pipeline.forget_rig import SALT, VICTIM, add, seed

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch, config):
    """A data directory whose store holds the forget rig (embedded search, SQLite)."""
    monkeypatch.setenv("RADAR_HOME", str(tmp_path))
    monkeypatch.setenv("RADAR_AUTHOR_SALT", SALT)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    store = Store.open(f"sqlite:///{tmp_path / 'radar.db'}")
    seed(store, config)
    store.close()
    return tmp_path


def _run(*args):
    result = runner.invoke(app, list(args))
    return result, (json.loads(result.stdout) if result.exit_code == 0 else None)


def test_forget_author_dry_run_then_for_real_then_again(home):
    result, dry = _run("forget", "author", "--platform", "weibo", "--author-id", VICTIM, "--dry-run")
    assert result.exit_code == 0 and dry["dry_run"] and dry["posts"] == 3 and dry["request"] is None
    result, done = _run("forget", "author", "--platform", "weibo", "--author-id", VICTIM, "--reason", "请求删除")
    assert result.exit_code == 0 and done["posts"] == 3 and done["request"].startswith("DR")
    assert done["search"] == "done: 0"  # nothing was indexed in this data directory
    result, again = _run("forget", "author", "--platform", "weibo", "--author-id", VICTIM)
    assert result.exit_code == 0 and again["posts"] == 0 and "nothing to forget" in again["note"]


def test_forget_post_reports_unknown_ids(home):
    result, out = _run("forget", "post", "weibo:p1", "weibo:missing")
    assert result.exit_code == 0 and out["posts"] == 1 and out["unknown"] == ["weibo:missing"]


@pytest.mark.parametrize("args, message", [
    (["forget", "author", "--platform", "weibo", "--author-id", " "], "author id is empty"),
    (["forget", "author", "--platform", "weibo"], "exactly one of --author-id and --author-hash"),
    (["forget", "post", "not-an-id"], "malformed post id"),
])
def test_bad_input_is_one_clear_line(home, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and message in result.stderr and result.stdout == ""


def test_retention_purge_dry_run_changes_nothing(home, config):
    store = Store.open(f"sqlite:///{home / 'radar.db'}")
    add(store, "old1", "很久以前：宝安区某路口红绿灯坏了", at=utcnow() - timedelta(days=400))
    store.close()
    result, dry = _run("retention", "purge", "--dry-run")
    # the rig's posts are from 2026-11 (T0): none is older than a year unless the clock says so
    assert result.exit_code == 0 and dry["dry_run"] and dry["posts"] >= 1
    result, done = _run("retention", "purge")
    assert result.exit_code == 0 and done["posts"] == dry["posts"] and done["request"]
    store = Store.open(f"sqlite:///{home / 'radar.db'}")
    assert store.posts.get(["weibo:old1"]) == []
    store.close()
