"""Work orders on the web desk over a real SQLite store: the dispatch button and verify-and-
dispatch, the order panel, a returned order re-sent to a suggested unit, the dead-letter list
and its retry, district scoping of orders, escaping of the frozen evidence."""
from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.models import utcnow
from core.orders import DeliveryState, OrderStatus, StatusUpdate
from core.store import tables as t
from delivery import lifecycle
from leads_api.app import create_app
from leads_api.web import queue as web_queue
from tests.leads_api.desk_fixtures import HOSTILE_TEXT, HOSTILE_URL, add_users, lead_id, seed
from tests.leads_api.test_web import login, post, version

ORDER = re.compile(r"order=(WO[0-9A-F]{14})")


@pytest.fixture
def app(sqlite_store, config):
    seed(sqlite_store, config)
    add_users(sqlite_store)
    return create_app(sqlite_store, config, secret="test-secret")


def _verify(client, n: int, **fields) -> None:
    resp = post(client, f"/desk/leads/{lead_id(n)}/verify", {"version": str(version(client, n)), **fields})
    assert resp.status_code == 303, resp.text


def _dispatch(client, n: int) -> str:
    """Verify-and-dispatch lead n through the form; returns its order id."""
    resp = post(client, f"/desk/leads/{lead_id(n)}/verify", {"version": str(version(client, n)), "then": "dispatch"})
    assert resp.status_code == 303, resp.text
    return ORDER.search(resp.headers["location"]).group(1)


def _panel(page: str) -> str:
    m = re.search(r'<section class="panel order-panel.*?</section>', page, re.S)
    assert m, "no order panel"
    return m.group(0)


def _returned(store, order_id: str, update_id: str = "r1", reason: str = "非本单位职责",
              unit: str | None = "深圳市南山区城市管理和综合执法局", at=None) -> None:
    assert lifecycle.apply(store, StatusUpdate(order_id, OrderStatus.RETURNED, at or utcnow(), update_id, "webhook",
                                               reason=reason, unit=unit))


def _kill(store, order_id: str, error: str = "rejected: 400 bad service_code") -> None:
    """Make the order a dead letter the way the delivery worker does."""
    leased = [o for o in store.orders.lease_due(utcnow(), 50, timedelta(seconds=30)) if o.id == order_id]
    assert leased, "order not due"
    store.orders.failed(leased[0], utcnow(), error, None)
    assert store.orders.get(order_id).delivery == DeliveryState.DEAD


def test_dispatch_button_files_an_order_and_shows_the_panel(app, sqlite_store):
    client = login(app, "nan_a")
    lid = lead_id(1)
    assert 'id="form-dispatch"' not in client.get(f"/desk/leads/{lid}").text  # new: nothing to dispatch yet
    _verify(client, 1, unit="深圳市交通运输局南山管理局")
    page = client.get(f"/desk/leads/{lid}").text
    assert 'id="form-dispatch"' in page and "派单 <kbd>d</kbd>" in page and "投递至 city12345" in page
    assert 'id="order"' not in page
    resp = post(client, f"/desk/leads/{lid}/dispatch", {"version": str(version(client, 1)), "note": "请尽快处理"})
    assert resp.status_code == 303, resp.text
    order_id = ORDER.search(resp.headers["location"]).group(1)
    order = sqlite_store.orders.for_lead(lid)
    assert order.id == order_id and order.delivery == DeliveryState.PENDING and order.sends == 1
    page = client.get(resp.headers["location"]).text
    assert f"已派单：工单 {order_id}" in page and "已派单" in page
    panel = _panel(page)
    for text in (order_id, "待投递", "city12345", "深圳市交通运输局南山管理局", "证据快照 2 条",
                 order.evidence_hash[:12], "状态记录", "桃园路塌陷的坑还没人管"):
        assert text in panel, text
    assert 'id="form-dispatch"' not in page and 'id="form-resend"' not in panel and 'id="form-retry"' not in panel
    # the timeline names the order and where it went
    assert f'工单 <a href="/desk/orders/{order_id}">{order_id}</a>' in page and "投递目标：city12345" in page
    assert "请尽快处理" in page
    # dispatching again is refused by the state machine
    resp = post(client, f"/desk/leads/{lid}/dispatch", {"version": str(version(client, 1))})
    assert resp.status_code == 409 and "当前状态「已派单」不能执行「派单」" in resp.text
    # a stale form is a 409 with the lead as it is now, not a second order
    _verify(client, 6)
    seen = version(client, 6)
    post(client, f"/desk/leads/{lead_id(6)}/note", {"version": str(seen), "note": "x"})  # notes bump nothing
    post(client, f"/desk/leads/{lead_id(6)}/escalate", {"version": str(seen)})
    resp = post(client, f"/desk/leads/{lead_id(6)}/dispatch", {"version": str(seen)})
    assert resp.status_code == 409 and "请刷新后重试" in resp.text
    assert sqlite_store.orders.for_lead(lead_id(6)) is None


def test_verify_and_dispatch_in_one_submit(app, sqlite_store):
    client = login(app, "nan_a")
    lid = lead_id(5)
    page = client.get(f"/desk/leads/{lid}").text
    assert 'name="then" value="dispatch"' in page and "核实并派单" in page
    resp = post(client, f"/desk/leads/{lid}/verify", {"version": "1", "then": "dispatch", "category": "水务",
                                                       "item": "SW001", "unit": "深圳市水务局",
                                                       "resolution_hours": "24", "note": "停水影响大"})
    assert resp.status_code == 303, resp.text
    assert "done=verify_dispatch" in resp.headers["location"]
    lead = sqlite_store.leads.get(lid)
    order = sqlite_store.orders.for_lead(lid)
    assert lead.status.value == "dispatched" and order.unit == "深圳市水务局" and order.resolution_hours == 24
    kinds = [e.kind for e in sqlite_store.leads.events(lid)]
    assert kinds[-2:] == ["verified", "dispatched"]
    page = client.get(resp.headers["location"]).text
    assert f"已核实并派单：工单 {order.id}" in page and "证据快照 3 条" in page
    # the plain 核实 button still only verifies
    _verify(client, 6)
    assert sqlite_store.leads.get(lead_id(6)).status.value == "verified"
    assert sqlite_store.orders.for_lead(lead_id(6)) is None


def test_verify_and_dispatch_says_what_was_done_when_the_dispatch_fails(app, sqlite_store):
    client = login(app, "nan_a")

    def no_target(*args, **kwargs):
        raise LookupError("no delivery target")

    app.state.desk.dispatch = no_target
    resp = post(client, f"/desk/leads/{lead_id(2)}/verify", {"version": "1", "then": "dispatch"})
    assert resp.status_code == 409
    assert "已核实，但派单未完成" in resp.text and "没有可用的投递目标" in resp.text
    assert sqlite_store.leads.get(lead_id(2)).status.value == "verified"
    assert 'id="form-dispatch"' in resp.text  # the page as it is now offers the dispatch button


def test_a_lead_about_the_same_place_and_item_joins_the_open_order(app, sqlite_store):
    client = login(app, "nan_a")
    first = _dispatch(client, 3)
    resp = post(client, f"/desk/leads/{lead_id(4)}/verify", {"version": "1", "then": "dispatch"})
    assert resp.status_code == 303 and "linked=1" in resp.headers["location"]
    assert ORDER.search(resp.headers["location"]).group(1) == first
    page = client.get(resp.headers["location"]).text
    assert "本线索已并入" in page and "并入了同一地点同一事项的工单" in page
    assert f'href="/desk/leads/{lead_id(3)}"' in _panel(page)
    assert "并入同一地点同一事项的未办结工单" in page  # the timeline


def test_returned_order_shows_reason_and_suggestions_and_is_resent(app, sqlite_store):
    client = login(app, "nan_a")
    lid = lead_id(1)
    _verify(client, 1, unit="深圳市交通运输局南山管理局")
    order_id = _dispatch_only(client, 1)
    _returned(sqlite_store, order_id)
    page = client.get(f"/desk/leads/{lid}").text
    panel = _panel(page)
    assert "工单被退回" in panel and "非本单位职责" in panel and "对方建议改派：深圳市南山区城市管理和综合执法局" in panel
    assert '<span class="badge os-returned"' in panel and "被退回" in panel
    units = re.findall(r'<input type="radio" name="unit" value="([^"]+)"', panel)
    assert units[0] == "深圳市南山区城市管理和综合执法局"  # the receiver's hint first
    assert "深圳市交通运输局南山管理局" not in units  # never the unit that returned it
    assert units == app.state.desk.reroute_suggestions(sqlite_store.leads.get(lid), sqlite_store.orders.get(order_id))
    assert 'id="form-resend"' in panel and 'name="unit_other"' in panel
    assert "工单被退回" in page.split('id="timeline"')[1]  # the order_returned event in Chinese
    assert "对方建议单位：深圳市南山区城市管理和综合执法局" in page
    # the lead is dispatched and flagged: the queue marks it
    queue = client.get("/desk", params={"status": "dispatched"}).text
    row = re.search(rf'<tr data-lead="{lid}".*?</tr>', queue, re.S).group(0)
    assert "需关注" in row and "工单被退回" in row

    # no unit chosen: 422 naming the field, nothing sent
    v = version(client, 1)
    resp = post(client, f"/desk/leads/{lid}/resend", {"version": str(v), "unit": "", "unit_other": " "})
    assert resp.status_code == 422 and "（unit）" in resp.text
    assert sqlite_store.orders.get(order_id).sends == 1
    resp = post(client, f"/desk/leads/{lid}/resend", {"version": str(v), "unit": units[0], "note": "按对方建议改派"})
    assert resp.status_code == 303, resp.text
    assert f"done=resend&order={order_id}" in resp.headers["location"]
    order = sqlite_store.orders.get(order_id)
    assert order.sends == 2 and order.unit == units[0] and order.delivery == DeliveryState.PENDING
    assert order.status == OrderStatus.DISPATCHED
    page = client.get(resp.headers["location"]).text
    assert f"已改派并重新派单：工单 {order_id}" in page
    panel = _panel(page)
    assert 'id="form-resend"' not in panel and "工单被退回" not in panel
    assert re.search(r"<dt>派送次数</dt><dd>2</dd>", panel)
    timeline = page.split('id="timeline"')[1]
    assert "改派并重新派单" in timeline and "退回单位：深圳市交通运输局南山管理局" in timeline
    assert "按对方建议改派" in timeline
    assert sqlite_store.leads.get(lid).review_reason is None
    # a second re-send of an order that is out again is refused
    resp = post(client, f"/desk/leads/{lid}/resend", {"version": str(version(client, 1)), "unit": units[0]})
    assert resp.status_code == 409 and "工单当前状态不能改派重发" in resp.text


def test_the_typed_unit_wins_over_the_suggestion(app, sqlite_store):
    client = login(app, "nan_a")
    order_id = _dispatch(client, 1)
    _returned(sqlite_store, order_id, unit=None)
    resp = post(client, f"/desk/leads/{lead_id(1)}/resend", {"version": str(version(client, 1)),
                                                               "unit": "深圳市交通运输局", "unit_other": "南头街道办事处"})
    assert resp.status_code == 303
    assert sqlite_store.orders.get(order_id).unit == "南头街道办事处"


def _dispatch_only(client, n: int) -> str:
    resp = post(client, f"/desk/leads/{lead_id(n)}/dispatch", {"version": str(version(client, n))})
    assert resp.status_code == 303, resp.text
    return ORDER.search(resp.headers["location"]).group(1)


def test_order_statuses_on_the_timeline_and_the_history(app, sqlite_store):
    client = login(app, "nan_a")
    order_id = _dispatch(client, 7)
    t0 = utcnow()
    for i, status in enumerate((OrderStatus.ACCEPTED, OrderStatus.IN_PROGRESS, OrderStatus.RESOLVED,
                                OrderStatus.CLOSED)):
        lifecycle.apply(sqlite_store, StatusUpdate(order_id, status, t0 + timedelta(minutes=i), f"s{i}", "open311"))
    # a late, older answer is kept in the history but not applied
    lifecycle.apply(sqlite_store, StatusUpdate(order_id, OrderStatus.IN_PROGRESS, t0 - timedelta(minutes=5), "late",
                                               "pull"))
    page = client.get(f"/desk/leads/{lead_id(7)}").text
    timeline = page.split('id="timeline"')[1]
    for label in ("工单已受理", "工单处理中", "工单已办结", "工单已关闭", "来源：Open311"):
        assert label in timeline, label
    panel = _panel(page)
    assert '<span class="badge os-closed" title="工单状态">已关闭</span>' in panel
    assert panel.count('<tr class="stale-update">') == 1 and "未采用" in panel
    assert "已送达" in panel  # an answer proves delivery


def test_an_overdue_order_is_red(app, sqlite_store):
    client = login(app, "nan_a")
    order_id = _dispatch(client, 6)
    with sqlite_store.orders.db.begin() as conn:
        conn.execute(update(t.work_orders).where(t.work_orders.c.id == order_id)
                     .values(due_at=utcnow() - timedelta(hours=2)))
    panel = _panel(client.get(f"/desk/leads/{lead_id(6)}").text)
    assert 'class="due due-over"' in panel and "已超期" in panel
    page = client.get("/desk/orders").text
    assert "due-over" in page


def test_dead_letters_are_listed_and_retried(app, sqlite_store):
    client = login(app, "nan_a")
    dead = _dispatch(client, 1)
    alive = _dispatch(client, 6)
    _kill(sqlite_store, dead, "rejected: 400 <b>bad</b> service_code")
    page = client.get("/desk/orders").text
    assert dead in page and alive in page and '<a href="/desk/orders"' in page
    listing = client.get("/desk/orders", params={"delivery": "dead"}).text
    assert re.findall(r'<tr data-order="(WO[0-9A-F]{14})"', listing) == [dead]
    assert "投递失败" in listing and "&lt;b&gt;bad&lt;/b&gt;" in listing and "<b>bad</b>" not in listing
    assert f'action="/desk/orders/{dead}/retry"' in listing
    # the lead's panel shows it and offers the retry too
    panel = _panel(client.get(f"/desk/leads/{lead_id(1)}").text)
    assert "投递失败" in panel and "最近一次投递失败" in panel and 'id="form-retry"' in panel

    back = "/desk/orders?delivery=dead"
    resp = post(client, f"/desk/orders/{dead}/retry", {"back": back})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/desk/orders?delivery=dead&done=retry&order={dead}"
    order = sqlite_store.orders.get(dead)
    assert order.delivery == DeliveryState.PENDING and order.attempts == 0 and order.last_error is None
    page = client.get(resp.headers["location"]).text
    assert f"已重新投递：工单 {dead} 回到待投递" in page and "没有符合条件的工单" in page
    # not dead any more: a 409 on the order's page, saying why
    resp = post(client, f"/desk/orders/{dead}/retry", {"back": back})
    assert resp.status_code == 409 and "不是投递失败" in resp.text and dead in resp.text
    # from the lead page it goes back to the lead; a foreign `back` is ignored
    _kill(sqlite_store, dead)
    resp = post(client, f"/desk/orders/{dead}/retry", {"back": f"/desk/leads/{lead_id(1)}"})
    assert resp.headers["location"] == f"/desk/leads/{lead_id(1)}?done=retry&order={dead}"
    assert f"已重新投递：工单 {dead}" in client.get(resp.headers["location"]).text
    _kill(sqlite_store, dead)
    resp = post(client, f"/desk/orders/{dead}/retry", {"back": "//evil.example/desk/orders"})
    assert resp.headers["location"] == f"/desk/orders/{dead}?done=retry&order={dead}"
    # without the CSRF header nothing happens
    _kill(sqlite_store, dead)
    assert client.post(f"/desk/orders/{dead}/retry", data={}, follow_redirects=False).status_code == 403
    assert sqlite_store.orders.get(dead).delivery == DeliveryState.DEAD


def test_orders_are_scoped_to_the_users_districts(app, sqlite_store):
    nan = login(app, "nan_a")
    order_id = _dispatch(nan, 1)
    _kill(sqlite_store, order_id)
    assert nan.get(f"/desk/orders/{order_id}").status_code == 200
    fu = login(app, "fu_a")
    assert order_id not in fu.get("/desk/orders").text
    assert order_id not in fu.get("/desk/orders", params={"delivery": "dead"}).text
    resp = fu.get(f"/desk/orders/{order_id}")
    assert resp.status_code == 404 and "工单不存在，或不在你的辖区内" in resp.text
    assert post(fu, f"/desk/orders/{order_id}/retry", {}).status_code == 404
    assert sqlite_store.orders.get(order_id).delivery == DeliveryState.DEAD
    assert nan.get("/desk/orders/WO0000000000000A").status_code == 404
    assert nan.get("/desk/orders/not-an-order").status_code == 404
    # filters offer only known values; bogus ones are dropped
    assert nan.get("/desk/orders", params={"status": "lost", "delivery": "x", "page": "y"}).status_code == 200
    # the order page
    page = nan.get(f"/desk/orders/{order_id}").text
    assert "桃园路路面塌陷" in page and f'href="/desk/leads/{lead_id(1)}"' in page and "工单内容" in page


def test_hostile_text_in_the_order_is_escaped(app, sqlite_store):
    client = login(app, "nan_a")
    order_id = _dispatch(client, 8)
    order = sqlite_store.orders.get(order_id)
    assert any(e.text == HOSTILE_TEXT for e in order.evidence)
    _returned(sqlite_store, order_id, reason="<script>alert(2)</script>", unit="<img src=x onerror=alert(3)>")
    for page in (client.get(f"/desk/orders/{order_id}").text, client.get(f"/desk/leads/{lead_id(8)}").text,
                 client.get("/desk/orders").text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert 'href="javascript:' not in page.lower()
    page = client.get(f"/desk/orders/{order_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the frozen evidence, as text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page  # the return reason
    assert "&lt;img src=x onerror=alert(3)&gt;" in page  # the receiver's unit hint
    assert "链接已屏蔽" in _panel(page) and HOSTILE_URL in _panel(page)
    lead_page = client.get(f"/desk/leads/{lead_id(8)}").text
    assert 'value="&lt;img src=x onerror=alert(3)&gt;"' in lead_page  # a suggested unit, inert


def test_order_pages_carry_no_inline_script_or_style(app):
    client = login(app, "nan_a")
    order_id = _dispatch(client, 1)
    for path in ("/desk/orders", f"/desk/orders/{order_id}", f"/desk/leads/{lead_id(1)}"):
        resp = client.get(path)
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        assert "<script>" not in resp.text and " style=" not in resp.text and " onclick=" not in resp.text
        assert not re.search(r"\son[a-z]+=", resp.text.replace("onerror=alert", ""))


def test_queue_marks_leads_needing_attention(app, sqlite_store):
    client = login(app, "nan_a")
    lid = lead_id(2)
    assert post(client, f"/desk/leads/{lid}/reject", {"version": "1", "reason": "duplicate"}).status_code == 303
    assert post(client, f"/desk/leads/{lid}/reopen", {"version": "2"}).status_code == 303
    page = client.get("/desk").text
    row = re.search(rf'<tr data-lead="{lid}".*?</tr>', page, re.S).group(0)
    assert '<span class="tag tag-flag" title="reopened by nan_a">需关注</span>' in row
    other = re.search(rf'<tr data-lead="{lead_id(3)}".*?</tr>', page, re.S).group(0)
    assert "需关注" not in other
    assert 'href="/desk/orders?status=returned"' in page


def test_queue_flagged_filter_only_when_the_store_can_select_it(app, monkeypatch):
    client = login(app, "nan_a")
    if not web_queue.flagged_filter():
        # QueueQuery has no `flagged` yet: no filter offered, the parameter changes nothing
        page = client.get("/desk", params={"flagged": "1"}).text
        assert 'name="flagged"' not in page
        assert len(re.findall(r'<tr data-lead="', page)) == 8

    @dataclasses.dataclass(frozen=True)
    class WithFlagged(web_queue.QueueQuery):
        flagged: bool = False

    seen = []
    monkeypatch.setattr(web_queue, "QueueQuery", WithFlagged)
    monkeypatch.setattr(app.state.store.triage, "queue", lambda q: (seen.append(q), (0, []))[1])
    page = client.get("/desk", params={"flagged": "1"}).text
    assert 'name="flagged" value="1" checked' in page
    assert seen[-1].flagged is True and "dispatched" in seen[-1].statuses  # returned orders' leads too
    client.get("/desk", params={"flagged": "1", "status": "new"})
    assert seen[-1].statuses == ("new",) and seen[-1].flagged is True
    client.get("/desk")
    assert seen[-1].flagged is False and "dispatched" not in seen[-1].statuses
