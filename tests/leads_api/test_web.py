"""The web desk over a real SQLite store: login, district scoping, CSRF, CSP, escaping, and
every action's success and refusal pages."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from leads_api.app import create_app
from tests.leads_api.desk_fixtures import HOSTILE_URL, PASSWORD, add_users, lead_id, seed


@pytest.fixture
def app(sqlite_store, config):
    seed(sqlite_store, config)
    add_users(sqlite_store)
    return create_app(sqlite_store, config, secret="test-secret")


def login(app, username: str) -> TestClient:
    client = TestClient(app)
    assert client.get("/login").status_code == 200
    resp = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == "/desk"
    return client


def post(client: TestClient, url: str, data: dict | list, **kw):
    """A form post with the CSRF header; a list of pairs sends repeated fields."""
    headers = {"x-csrftoken": client.cookies.get("csrftoken")}
    if isinstance(data, list):
        headers["content-type"] = "application/x-www-form-urlencoded"
        return client.post(url, content=urlencode(data), headers=headers, follow_redirects=False, **kw)
    return client.post(url, data=data, headers=headers, follow_redirects=False, **kw)


def version(client: TestClient, n: int) -> int:
    page = client.get(f"/desk/leads/{lead_id(n)}").text
    return int(re.search(r'data-version="(\d+)"', page).group(1))


def test_pages_need_a_login(app):
    client = TestClient(app)
    for path in ("/desk", f"/desk/leads/{lead_id(1)}", "/desk/audit", "/desk/supervisor"):
        resp = client.get(path, follow_redirects=False)
        assert resp.status_code == 303, path
        assert resp.headers["location"].startswith("/login")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/login").status_code == 200


def test_wrong_password_is_refused_on_the_page(app):
    client = TestClient(app)
    client.get("/login")
    resp = client.post("/login", data={"username": "nan_a", "password": "wrong-password-1"}, follow_redirects=False)
    assert resp.status_code == 401
    assert "用户名或密码错误" in resp.text
    resp = client.post("/login", data={"username": "", "password": ""}, follow_redirects=False)
    assert resp.status_code == 401


def test_login_next_never_leaves_the_desk(app):
    client = TestClient(app)
    client.get("/login")
    resp = client.post("/login", data={"username": "nan_a", "password": PASSWORD, "next": "//evil.example/x"},
                       follow_redirects=False)
    assert resp.headers["location"] == "/desk"


def test_an_analyst_sees_only_their_district(app):
    nan = login(app, "nan_a")
    page = nan.get("/desk")
    assert page.status_code == 200
    assert "桃园路路面塌陷" in page.text and "华强北" not in page.text
    assert lead_id(9) not in page.text
    assert nan.get(f"/desk/leads/{lead_id(9)}").status_code == 404
    assert nan.get("/desk/leads/L0000000000ff").status_code == 404
    assert nan.get("/desk/leads/not-a-lead").status_code == 404
    # the district filter offers their districts only, and a foreign district shows nothing
    assert '<option value="福田区"' not in page.text
    assert "华强北" not in nan.get("/desk", params={"district": "福田区"}).text
    fu = login(app, "fu_a")
    page = fu.get("/desk").text
    assert "华强北" in page and "桃园路" not in page
    assert fu.get(f"/desk/leads/{lead_id(1)}").status_code == 404
    # acting on an out-of-scope lead is a 404 as well
    assert post(fu, f"/desk/leads/{lead_id(1)}/claim", {"version": "1"}).status_code == 404


def test_a_post_without_the_csrf_header_is_refused(app):
    client = login(app, "nan_a")
    resp = client.post(f"/desk/leads/{lead_id(1)}/claim", data={"version": "1"}, follow_redirects=False)
    assert resp.status_code == 403
    wrong = client.post(f"/desk/leads/{lead_id(1)}/claim", data={"version": "1"},
                        headers={"x-csrftoken": "forged"}, follow_redirects=False)
    assert wrong.status_code == 403
    ok = post(client, f"/desk/leads/{lead_id(1)}/claim", {"version": "1"})
    assert ok.status_code == 303 and ok.headers["location"] == f"/desk/leads/{lead_id(1)}?done=claim"


def test_security_headers_on_pages(app):
    client = login(app, "nan_a")
    for path in ("/login", "/desk", f"/desk/leads/{lead_id(1)}"):
        resp = client.get(path)
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        # nothing inline for the CSP to block
        assert "<script>" not in resp.text.replace("&lt;script&gt;", "")
        assert " style=" not in resp.text and " onclick=" not in resp.text


def test_hostile_post_text_is_escaped_and_its_link_not_rendered(app):
    client = login(app, "nan_a")
    page = client.get(f"/desk/leads/{lead_id(8)}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>bad</b>" not in page
    assert 'href="javascript:' not in page.lower()
    assert HOSTILE_URL in page  # shown as text, flagged as blocked
    assert "链接已屏蔽" in page
    # a normal post link is kept, with rel guarding the opener and referrer
    normal = client.get(f"/desk/leads/{lead_id(1)}").text
    assert re.search(r'href="https://example\.test/[^"]+" rel="noopener noreferrer nofollow"', normal)
    # and the queue escapes it too when searching for it
    queue = client.get("/desk", params={"q": "<script>"}).text
    assert "<script>alert" not in queue


def test_lead_page_shows_evidence_map_timeline_and_similar(app):
    client = login(app, "nan_a")
    page = client.get(f"/desk/leads/{lead_id(5)}").text
    assert "蛇口停水与供水管道爆裂" in page and "工业八路有供水管道爆裂" in page
    assert page.count('class="post"') == 3
    assert '<svg class="map"' in page and 'class="district on"' in page
    assert "线索生成" in page  # timeline
    assert 'name="version" value="1"' in page
    similar = client.get(f"/desk/leads/{lead_id(6)}").text
    assert lead_id(7) in similar  # same category and district


def test_claim_verify_with_a_corrected_category(app):
    client = login(app, "nan_a")
    lid = lead_id(1)
    assert post(client, f"/desk/leads/{lid}/claim", {"version": "1"}).status_code == 303
    resp = post(client, f"/desk/leads/{lid}/verify", {"version": "2", "category": "城市管理", "item": "CG001",
                                                       "unit": "深圳市南山区城市管理和综合执法局",
                                                       "dispatch_minutes": "", "resolution_hours": ""})
    assert resp.status_code == 303, resp.text
    page = client.get(resp.headers["location"]).text
    assert "操作成功：核实" in page and "已核实" in page and "城市管理" in page
    assert "分类：<span class=\"before\">交通运输</span> → <span class=\"after\">城市管理</span>" in page
    assert "更正：分类、事项、责任单位" in page


def test_bad_values_are_422_naming_the_field(app):
    client = login(app, "nan_a")
    lid = lead_id(2)
    resp = post(client, f"/desk/leads/{lid}/verify", {"version": "1", "category": "不存在的分类"})
    assert resp.status_code == 422 and "（category）" in resp.text
    resp = post(client, f"/desk/leads/{lid}/verify", {"version": "1", "category": "水务", "item": "JT001"})
    assert resp.status_code == 422 and "（item）" in resp.text
    resp = post(client, f"/desk/leads/{lid}/verify", {"version": "1", "dispatch_minutes": "soon"})
    assert resp.status_code == 422 and "dispatch_minutes" in resp.text
    resp = post(client, f"/desk/leads/{lid}/reject", {"version": "1"})
    assert resp.status_code == 422 and "（reason）" in resp.text
    resp = post(client, f"/desk/leads/{lid}/claim", {"version": "x"})
    assert resp.status_code == 422 and "（version）" in resp.text
    resp = post(client, f"/desk/leads/{lid}/merge", {"version": "1", "other_id": lead_id(9)})
    assert resp.status_code == 422 and "（other_id）" in resp.text  # another district's lead does not exist
    assert post(client, f"/desk/leads/{lid}/fly", {"version": "1"}).status_code == 404


def test_reject_with_a_reason_then_an_invalid_transition_is_409(app):
    client = login(app, "nan_a")
    lid = lead_id(2)
    resp = post(client, f"/desk/leads/{lid}/reject", {"version": "1", "reason": "not_actionable", "note": "不是问题"})
    assert resp.status_code == 303
    page = client.get(resp.headers["location"]).text
    assert "已驳回" in page and "不可处置" in page and "不是问题" in page
    resp = post(client, f"/desk/leads/{lid}/verify", {"version": "2"})
    assert resp.status_code == 409
    assert "当前状态「已驳回」不能执行「核实」" in resp.text
    assert post(client, f"/desk/leads/{lid}/reopen", {"version": "2"}).status_code == 303


def test_lock_held_by_another_is_409(app):
    a, b = login(app, "nan_a"), login(app, "nan_b")
    lid = lead_id(6)
    assert post(a, f"/desk/leads/{lid}/claim", {"version": "1"}).status_code == 303
    page = b.get(f"/desk/leads/{lid}").text
    assert "nan_a 认领" in page
    resp = post(b, f"/desk/leads/{lid}/claim", {"version": "2"})
    assert resp.status_code == 409
    assert re.search(r"已被 nan_a 认领至 \d\d:\d\d", resp.text)
    # a supervisor may break it
    boss = login(app, "boss")
    assert post(boss, f"/desk/leads/{lid}/claim", {"version": "2", "force": "1"}).status_code == 303


def test_a_stale_form_gets_409_with_the_current_state(app):
    a, b = login(app, "nan_a"), login(app, "nan_b")
    lid = lead_id(7)
    seen = version(b, 7)
    assert post(a, f"/desk/leads/{lid}/escalate", {"version": str(seen)}).status_code == 303
    resp = post(b, f"/desk/leads/{lid}/note", {"version": str(seen), "note": "我也看看"})
    assert resp.status_code == 409
    assert f"该线索已被他人更新（版本 {seen} → {seen + 1}），请刷新后重试" in resp.text
    assert f'data-version="{seen + 1}"' in resp.text  # the page shows the lead as it is now
    assert "HX-Push-Url" not in resp.headers  # not an htmx request
    htmx = b.post(f"/desk/leads/{lid}/note", data={"version": str(seen), "note": "x"},
                  headers={"x-csrftoken": b.cookies.get("csrftoken"), "hx-request": "true"})
    assert htmx.status_code == 409 and htmx.headers["hx-push-url"] == "false"


def test_merge_keeps_the_older_lead_and_split_makes_a_new_one(app):
    client = login(app, "nan_a")
    resp = post(client, f"/desk/leads/{lead_id(4)}/merge", {"version": "1", "other_id": lead_id(3)})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/desk/leads/{lead_id(3)}?done=merge&other={lead_id(4)}"
    page = client.get(resp.headers["location"]).text
    assert f"已合并：{lead_id(4)} 已并入本线索" in page and page.count('class="post"') == 2
    gone = client.get(f"/desk/leads/{lead_id(4)}").text
    assert "已合并" in gone and f'href="/desk/leads/{lead_id(3)}"' in gone

    page = client.get(f"/desk/leads/{lead_id(5)}").text
    post_ids = re.findall(r'name="post_ids" value="([^"]+)"', page)
    assert len(post_ids) == 3
    resp = post(client, f"/desk/leads/{lead_id(5)}/split", [("version", "1"), ("post_ids", post_ids[2]),
                                                            ("note", "爆管是另一件事")])
    assert resp.status_code == 303
    new_id = re.search(r"other=(L[0-9a-f]{12})", resp.headers["location"]).group(1)
    page = client.get(resp.headers["location"]).text
    assert page.count('class="post"') == 2 and f'href="/desk/leads/{new_id}"' in page
    new_page = client.get(f"/desk/leads/{new_id}").text
    assert "工业八路有供水管道爆裂" in new_page and "拆分而来" in new_page
    # a split that moves every post is refused
    resp = post(client, f"/desk/leads/{lead_id(1)}/split", [("version", "1")] + [
        ("post_ids", p) for p in re.findall(r'name="post_ids" value="([^"]+)"',
                                            client.get(f"/desk/leads/{lead_id(1)}").text)])
    assert resp.status_code == 422


def test_bulk_verify_and_reject(app):
    client = login(app, "nan_a")
    refs = [("ids", f"{lead_id(n)}:1") for n in (6, 7)]
    resp = post(client, "/desk/bulk", [("action", "reject"), *refs])
    assert resp.status_code == 422 and "批量驳回需要选择驳回原因（字段：reason）" in resp.text
    assert 'value="reject" class="danger"' in resp.text  # the queue is shown again
    resp = post(client, "/desk/bulk", [("action", "reject"), ("reason", "duplicate"), *refs])
    assert resp.status_code == 303 and "done=reject" in resp.headers["location"]
    assert "已批量驳回 2 条线索" in client.get(resp.headers["location"]).text
    # stale versions fail one by one, and the page says which
    resp = post(client, "/desk/bulk", [("action", "verify"), ("ids", f"{lead_id(6)}:1"), ("ids", f"{lead_id(1)}:1")])
    assert resp.status_code == 409
    assert "成功 1 条，失败 1 条" in resp.text and lead_id(6) in resp.text


def test_queue_filters_sort_and_search(app):
    client = login(app, "nan_a")
    page = client.get("/desk").text
    rows = re.findall(r'<tr data-lead="(L[0-9a-f]{12})"', page)
    assert rows[:3] == [lead_id(1), lead_id(2), lead_id(3)]  # priority, highest first
    page = client.get("/desk", params={"q": "供水管道"}).text
    assert re.findall(r'<tr data-lead="(L[0-9a-f]{12})"', page) == [lead_id(5)]  # post text searched
    page = client.get("/desk", params={"category": "城市管理"}).text
    assert set(re.findall(r'<tr data-lead="(L[0-9a-f]{12})"', page)) == {lead_id(3), lead_id(4)}
    page = client.get("/desk", params={"sort": "time_left"}).text
    assert re.findall(r'<tr data-lead="(L[0-9a-f]{12})"', page)[0] == lead_id(7)  # oldest general lead
    assert "sla-breached" in page and "sla-soon" in page  # an urgent item 110 minutes old; 20 minutes left
    assert client.get("/desk", params={"page": "x", "sort": "bogus", "sla": "bogus"}).status_code == 200


def test_audit_and_supervisor_views(app):
    client = login(app, "nan_a")
    post(client, f"/desk/leads/{lead_id(1)}/claim", {"version": "1"})
    audit = client.get("/desk/audit").text
    assert "nan_a" in audit and "认领" in audit and lead_id(1) in audit
    assert client.get("/desk/supervisor").status_code == 403
    boss = login(app, "boss")
    resp = boss.get("/desk/supervisor")
    assert resp.status_code == 200
    assert '<svg class="chart" width=' in resp.text and "分析员处理量" in resp.text and "nan_a" in resp.text
    fu = login(app, "fu_a")
    assert lead_id(1) not in fu.get("/desk/audit").text  # another district's trail


def test_logout_ends_the_session(app):
    client = login(app, "nan_a")
    resp = post(client, "/logout", {})
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert client.get("/desk", follow_redirects=False).status_code == 303


def test_recategorize_and_reroute(app):
    client = login(app, "nan_a")
    lid = lead_id(6)
    resp = post(client, f"/desk/leads/{lid}/recategorize", {"version": "1", "category": "交通运输", "item": ""})
    assert resp.status_code == 422  # nothing changed
    resp = post(client, f"/desk/leads/{lid}/recategorize", {"version": "1", "category": "交通运输", "item": "JT002"})
    assert resp.status_code == 303
    assert "JT002 路面塌陷" in client.get(resp.headers["location"]).text
    resp = post(client, f"/desk/leads/{lid}/reroute", {"version": "2", "unit": "深圳市交通运输局", "district": "南山区"})
    assert resp.status_code == 303
    assert "深圳市交通运输局" in client.get(resp.headers["location"]).text
    # re-routed to another district: it leaves this analyst's desk
    resp = post(client, f"/desk/leads/{lid}/reroute", {"version": "3", "unit": "深圳市交通运输局", "district": "福田区"})
    assert resp.status_code == 303 and resp.headers["location"] == "/desk"
    assert client.get(f"/desk/leads/{lid}").status_code == 404


def test_the_lead_page_shows_the_spot_the_waves_and_the_earlier_occurrence(sqlite_store, config):
    from datetime import timedelta
    from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts, utcnow
    from tests.conftest import make_post
    add_users(sqlite_store)
    now = utcnow()
    members = []
    for i, days_ago in enumerate((60, 59, 58, 10, 9)):  # two waves, a month and more apart
        p = make_post(f"w{i}", f"伊景园滨河苑3栋搅拌站粉尘{i}", at=now - timedelta(days=days_ago), title=None)
        sqlite_store.posts.upsert([p])
        sqlite_store.posts.save_enrichments([(p, Enrichment(
            p.id, p.text, True, 0.9, "生态环境", "南山区", "粤海街道", text_hash=f"hw{i}", place_name="伊景园滨河苑",
            place_key="伊景园滨河苑", place_detail=(("building", "3栋"), ("venue", "搅拌站"))))])
        members.append((p.id, 1.0))
    lead = Lead(id=lead_id(40), status=LeadStatus.NEW, title="搅拌站粉尘", category="生态环境", district="南山区",
                street="粤海街道", unit=None, urgent=False, priority=0.5, priority_parts=PriorityParts(volume=0.5),
                post_count=5, platform_count=1, first_seen=now - timedelta(days=60), last_seen=now - timedelta(days=9),
                detected_at=now - timedelta(days=60))
    sqlite_store.leads.create(lead, members, LeadEvent(lead.id, "created", "clusterer", now,
                                                       {"posts": [m for m, _ in members],
                                                        "recurrence_of": lead_id(41)}))
    client = login(create_app(sqlite_store, config, secret="test-secret"), "nan_a")
    page = client.get(f"/desk/leads/{lead_id(40)}").text
    assert "伊景园滨河苑 · 3栋 · 搅拌站" in page
    assert "2 波" in page and "（3 条）" in page and "（2 条）" in page
    assert f'此前同一问题 <a href="/desk/leads/{lead_id(41)}">' in page


def test_lead_page_lists_the_leads_around_its_place(app, monkeypatch):
    from tests.leads_api.desk_fixtures import index
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    index(app.state.store)
    page = login(app, "nan_a").get(f"/desk/leads/{lead_id(3)}").text
    panel = page[page.index('id="nearby"'):page.index('id="timeline"')]
    assert lead_id(4) in panel and "科技园地铁口垃圾没人清" in panel  # ~150 m away
    assert lead_id(3) not in panel and lead_id(1) not in panel  # itself; 桃园路 is 3 km off
    assert re.search(r"约 1\d\d 米", panel)
    far = login(app, "fu_a").get(f"/desk/leads/{lead_id(9)}").text
    assert "500 米内没有其他线索" in far
    # merged on the desk since the index was built: the store says so, the panel follows
    client = login(app, "nan_a")
    resp = post(client, f"/desk/leads/{lead_id(3)}/merge", {"version": str(version(client, 3)), "other_id": lead_id(4)})
    assert resp.status_code == 303, resp.text
    page = client.get(f"/desk/leads/{lead_id(3)}").text
    assert lead_id(4) not in page[page.index('id="nearby"'):page.index('id="timeline"')]


def test_lead_page_without_a_search_index_still_renders(app, monkeypatch):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{port}")
    page = login(app, "nan_a").get(f"/desk/leads/{lead_id(3)}")
    assert page.status_code == 200 and "搜索索引暂不可用" in page.text and "科技园地铁站旁垃圾堆积" in page.text


def test_a_hanging_search_index_costs_the_lead_page_seconds_not_minutes(app, monkeypatch):
    import socket
    import time
    with socket.socket() as server:  # accepts connections (the kernel's backlog), never answers
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
        started = time.monotonic()
        page = login(app, "nan_a").get(f"/desk/leads/{lead_id(3)}")
        took = time.monotonic() - started
    assert page.status_code == 200 and "搜索索引暂不可用" in page.text
    assert took < 15, took  # the desk's timeout (3 s a request, no retries), not the pipeline's 30 s x 3
