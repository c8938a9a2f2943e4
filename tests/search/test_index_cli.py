"""`radar index rebuild` / `radar index status` on the embedded backend, through the CLI."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from core.models import Enrichment
from core.search import PostQuery
from core.search.embedded import EmbeddedSearch
from core.settings import Settings
from core.store import Store
from pipeline.cli import app
from tests.conftest import make_post

runner = CliRunner()


def test_rebuild_indexes_every_enriched_post_and_status_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    store = Store.open(Settings().db_url)
    posts = [make_post(str(n), f"第{n}处小区噪音扰民") for n in range(5)] + [make_post("raw", "未处理的噪音")]
    store.posts.upsert(posts)
    store.posts.save_enrichments([(p, Enrichment(p.id, p.text, True, 0.9, "生态环境", "南山区", None))
                                  for p in posts[:5]])  # the sixth is not enriched yet: not indexed

    result = runner.invoke(app, ["index", "status"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["index_posts"] == 0

    result = runner.invoke(app, ["index", "rebuild", "--batch", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["backend"] == "embedded" and summary["posts"] == 5 and summary["leads"] == 0

    index = EmbeddedSearch(store)
    page = index.search_posts(PostQuery("噪音 扰民"))
    assert page.total == 5 and {h.post_id for h in page.hits} == {f"weibo:{n}" for n in range(5)}

    result = runner.invoke(app, ["index", "status"])
    status = json.loads(result.stdout.splitlines()[-1])
    assert status == {"backend": "embedded", "store_posts": 6, "store_enriched": 5, "index_posts": 5, "missing": 0,
                      "needs_rebuild": False}
    # a second rebuild starts from empty: still five, not ten
    assert json.loads(runner.invoke(app, ["index", "rebuild"]).stdout.splitlines()[-1])["posts"] == 5
    assert index.count_posts() == 5
    store.close()


def test_the_index_stage_keeps_search_current_after_enrich_and_cluster(tmp_path, monkeypatch, config):
    from datetime import timedelta

    from core.models import Window
    from pipeline.runner import cluster_stage, enrich_stage, index_stage, run_pass
    from tests.conftest import T0
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    store = Store.open(f"sqlite:///{tmp_path}/radar.db")
    texts = ["南山区桃源街道龙珠花园门口路灯坏了一个星期，晚上很黑", "龙珠花园门口的路灯一直不亮，晚上走路很危险",
             "南山区龙珠花园门口路灯坏了好几天没人修"]
    store.posts.upsert([make_post(f"l{i}", t, at=T0 + timedelta(hours=i)) for i, t in enumerate(texts)])
    window = Window(T0 - timedelta(days=1), T0 + timedelta(days=1))
    result = run_pass(store, config, window, [("enrich", enrich_stage), ("cluster", cluster_stage),
                                              ("index", index_stage)])
    assert result.counts("index")["posts_indexed"] == 3
    index = EmbeddedSearch(store)
    assert index.search_posts(PostQuery("路灯 龙珠花园")).total == 3
    leads = store.leads.list()[1]
    assert leads and result.counts("index")["leads_indexed"] == len(leads)
    assert {h.lead_id for h in index.search_leads("路灯")} == {lead.id for lead in leads}
    # a rerun over the same window changes nothing: upserts by id
    run_pass(store, config, window, [("index", index_stage)])
    assert index.count_posts() == 3
    # each post carries the vector the clusterer cached (dense_vector / embedding column), and
    # each lead its centroid: the kNN candidate search finds the lead by it
    _vectors_are_indexed(store, index, leads)
    # `radar index rebuild` puts them back too, not only the text
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/radar.db")
    result = runner.invoke(app, ["index", "rebuild"])
    assert result.exit_code == 0, result.output
    _vectors_are_indexed(store, index, leads)
    store.close()


def _vectors_are_indexed(store, index, leads) -> None:
    import numpy as np
    from sqlalchemy import text

    from clustering.stage import configured_embedder
    name = configured_embedder().name
    with store.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT post_id, embedding FROM search_posts")).all())
    enriched = store.posts.enriched(list(rows))
    cached = store.posts.get_embeddings(name, [ep.enrichment.text_hash for ep in enriched])
    assert len(rows) == 3 and all(v is not None for v in rows.values())
    for ep in enriched:
        assert np.allclose(np.frombuffer(rows[ep.id], dtype="<f4"), cached[ep.enrichment.text_hash])
    centroid = store.leads.centroids([leads[0].id])[leads[0].id][1]
    assert leads[0].id in {h.lead_id for h in index.candidate_leads(centroid, k=3)}


def test_rebuild_refuses_bad_options_and_leaves_the_index_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    store = Store.open(Settings().db_url)
    posts = [make_post(str(n), f"第{n}处小区噪音扰民") for n in range(3)]
    store.posts.upsert(posts)
    store.posts.save_enrichments([(p, Enrichment(p.id, p.text, True, 0.9, "生态环境", "南山区", None)) for p in posts])
    assert runner.invoke(app, ["index", "rebuild"]).exit_code == 0
    for bad in (["--grace", "-1"], ["--grace", "soon"], ["--batch", "0"], ["--batch", "100000"]):
        result = runner.invoke(app, ["index", "rebuild", *bad])
        assert result.exit_code == 2, (bad, result.output)
        assert "Invalid value" in result.output, (bad, result.output)
    assert EmbeddedSearch(store).count_posts() == 3  # nothing was emptied by a refused command
    store.close()
