"""`radar crawl parse` on a saved response of every configured platform
(tests/crawlers/fixtures/platforms/<name>.*): one JSON object per post with plain text, an
ISO time with offset and integer counts; a few fixtures carry real-world quirks checked here."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.config import load_config
from pipeline.cli import app

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "platforms"
CONFIG = load_config(REPO / "config")
NOW = "2026-11-21T12:00:00+08:00"
runner = CliRunner()


def parse(name: str, path: Path | None = None):
    path = path or next(FIXTURES.glob(f"{name}.*"))
    extra = []
    if CONFIG.platform(name).adapter == "discuz":  # a thread page: its id is in its URL
        tid = re.search(r"recommendv_add_(\d+)", path.read_text(encoding="utf-8")).group(1)
        extra = ["--url", f"{CONFIG.platform(name).base_url}/thread-{tid}-1-1.html"]
    result = runner.invoke(app, ["crawl", "parse", "--platform", name, "--now", NOW, *extra, str(path)])
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("name", [p.name for p in CONFIG.platforms])
def test_parse_saved_response(name):
    result, posts = parse(name)
    assert result.exit_code == 0, result.output
    assert posts
    for post in posts:
        assert post["id"].startswith(f"{name}:") and post["platform"] == name and post["url"]
        assert re.search(r"[+-]\d\d:\d\d$", post["published_at"])
        assert (post["text"] or post["reposted_id"]) and not re.search(r"<(a|br|em|p|div|span)\b", post["text"])
        assert set(post["engagement"]) == {"likes", "comments", "shares", "views"}
        assert all(isinstance(v, int) for v in post["engagement"].values())


def test_quirks_counts_placeholders_reposts_relative_times():
    _, dianping = parse("dianping")
    assert [p["id"] for p in dianping] == ["dianping:823401", "dianping:823350"]  # deleted one skipped
    assert dianping[0]["engagement"]["likes"] == 12000 and dianping[0]["engagement"]["comments"] == 35
    assert dianping[0]["published_at"] == "2026-11-20T12:30:00+08:00"  # 昨天 12:30
    assert "\n" in dianping[0]["text"] and "<b>" not in dianping[0]["text"]
    _, douyin = parse("douyin")
    assert "douyin:7300000000000000001" not in {p["id"] for p in douyin}
    assert douyin[0]["engagement"]["likes"] == 100000  # 10w+
    _, mastodon = parse("mastodon")
    reblog = next(p for p in mastodon if p["reposted_id"])
    assert any(p["id"] == reblog["reposted_id"] for p in mastodon)
    _, weibo = parse("weibo", REPO / "tests/crawlers/fixtures/weibo_page1.json")
    assert any(p["geo"] for p in weibo)


def test_bad_file_and_unknown_platform_fail_clearly(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"status_code": 0, "data": [', encoding="utf-8")
    result, _ = parse("douyin", bad)
    assert result.exit_code == 1 and "invalid JSON" in result.output
    result = runner.invoke(app, ["crawl", "parse", "--platform", "nope", str(bad)])
    assert result.exit_code == 1 and "no platform named 'nope'" in result.output
    result = runner.invoke(app, ["crawl", "parse", "--platform", "weibo", str(tmp_path / "missing.json")])
    assert result.exit_code == 1 and "cannot read" in result.output


def test_platforms_json_lists_the_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_HOME", str(tmp_path))
    result = runner.invoke(app, ["crawl", "platforms", "--json"])
    rows = json.loads(result.stdout)
    assert len(rows) >= 42 and {"name", "kind", "region", "auth", "last_status"} <= set(rows[0])
