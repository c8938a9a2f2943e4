"""`radar labels export`: decisions made through the JSON API come out as training rows."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts
from core.settings import Settings
from core.store import Store
from pipeline.cli import app
from tests.conftest import T0, make_post

runner = CliRunner()
VERIFIED, REJECTED, REROUTED = "L0000000000d1", "L0000000000d2", "L0000000000d3"


def _seed(store: Store) -> None:
    for n, lead_id in enumerate((VERIFIED, REJECTED, REROUTED), start=1):
        post = make_post(str(n), f"南山区科技园第{n}处路面塌陷，车辆绕行", at=T0)
        store.posts.upsert([post])
        store.posts.save_enrichments([(post, Enrichment(post.id, post.text, True, 0.9, "交通运输", "南山区",
                                                        None, item="JT002", text_hash=f"h{n}"))])
        lead = Lead(id=lead_id, status=LeadStatus.NEW, title=f"南山区路面塌陷{n}", category="交通运输",
                    district="南山区", street=None, unit="区交通运输局", urgent=False, priority=0.5,
                    priority_parts=PriorityParts(), post_count=1, platform_count=1, first_seen=T0, last_seen=T0,
                    item="JT002", detected_at=T0, sla_due_at=T0 + timedelta(hours=2))
        store.leads.create(lead, [(post.id, 1.0)], LeadEvent(lead_id, "created", "clusterer", T0, {}))


@pytest.fixture
def decided(tmp_path, monkeypatch, config):
    """Three leads decided by an analyst through the API with a token: verify with a corrected
    category, reject with a reason, re-route (plus a note and a claim, which are no labels)."""
    from leads_api.app import create_app
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RADAR_CONFIG_DIR", raising=False)
    store = Store.open(Settings().db_url)
    try:
        _seed(store)
        store.users.add("ana", "analyst", password="pw-river-stone-1", districts=("南山区",))
        api = TestClient(create_app(store, config, secret="test"),
                         headers={"Authorization": f"Bearer {store.users.add_token('ana', 'test')}"})
        assert api.post(f"/leads/{VERIFIED}/claim", json={"version": 1}).status_code == 200
        ok = [api.post(f"/leads/{VERIFIED}/verify", json={"version": 2, "category": "生态环境", "item": "ST001"}),
              api.post(f"/leads/{REJECTED}/reject", json={"version": 1, "reason": "already_handled"}),
              api.post(f"/leads/{REROUTED}/note", json={"note": "问一下街道"}),
              api.post(f"/leads/{REROUTED}/reroute", json={"version": 1, "unit": "南山区城市管理和综合执法局"})]
        assert [r.status_code for r in ok] == [200] * 4, [r.text for r in ok]
    finally:
        store.close()
    return tmp_path


def _export(*args: str):
    return runner.invoke(app, ["labels", "export", *args])


def test_export_jsonl_has_every_decision_with_text_model_and_decision(decided):
    out = decided / "labels.jsonl"
    result = _export("--output", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"labels": 3, "output": str(out.resolve())}
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["lead_id"], r["action"]) for r in rows] == [(VERIFIED, "verify"), (REJECTED, "reject"),
                                                            (REROUTED, "reroute")]
    verify, reject, reroute = rows
    assert verify["model"]["category"] == "交通运输" and verify["decision"]["category"] == "生态环境"
    assert verify["decision"]["item"] == "ST001" and verify["decision"]["relevant"] is True
    assert reject["decision"]["relevant"] is False and reject["decision"]["reason"] == "already_handled"
    assert reroute["model"]["unit"] == "区交通运输局" and reroute["decision"]["unit"] == "南山区城市管理和综合执法局"
    for r in rows:
        assert "路面塌陷" in r["text"] and r["actor"] == "ana" and r["model_version"].startswith("rules-")
        assert datetime.fromisoformat(r["at"]).tzinfo is not None


def test_export_csv_and_since(decided):
    out = decided / "labels.csv"
    assert _export("--output", str(out), "--format", "csv").exit_code == 0
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["action"] for r in rows] == ["verify", "reject", "reroute"]
    assert rows[0]["model_category"] == "交通运输" and rows[0]["category"] == "生态环境"
    assert rows[1]["reason"] == "already_handled" and rows[1]["relevant"] == "False"
    assert json.loads(rows[0]["decision_json"])["item"] == "ST001" and "\n" not in rows[0]["lead_id"]

    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    later = _export("--output", str(decided / "none.jsonl"), "--since", tomorrow)
    assert later.exit_code == 0 and json.loads(later.stdout)["labels"] == 0
    assert (decided / "none.jsonl").read_text() == ""
    today = _export("--output", str(decided / "today.jsonl"), "--since", "2026-01-01T00:00:00+08:00")
    assert json.loads(today.stdout)["labels"] == 3


def test_export_refuses_to_overwrite_without_force(decided):
    out = decided / "labels.jsonl"
    out.write_text("keep me\n", encoding="utf-8")
    refused = _export("--output", str(out))
    assert refused.exit_code == 1 and refused.stderr.strip().splitlines() == [
        f"error: {out} exists; pass --force to overwrite it"]
    assert out.read_text(encoding="utf-8") == "keep me\n"
    forced = _export("--output", str(out), "--force")
    assert forced.exit_code == 0 and json.loads(forced.stdout)["labels"] == 3
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    assert _export("--output", str(out), "--since", "not-a-date").exit_code == 2  # a usage error
