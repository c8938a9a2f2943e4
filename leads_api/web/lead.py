"""The lead page (evidence, map, timeline, similar leads) and every action on it, through
`Desk` only. A success goes back to the lead (303, with a flash); a refusal renders the page as
it is now with the reason: 409 stale / locked / not allowed from this status, 422 bad value,
404 out of scope.

Work orders: `dispatch` files the lead's order (or links it to an open one for the same place
and item), the verify form's second button verifies and dispatches in one submit, `resend`
sends a returned order again to the unit the analyst picks; the order panel is web/orders.py."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core import sla, triage
from core.models import Lead, LeadEvent, LeadStatus, utcnow
from core.store import LeadNotFound
from core.store.errors import StoreError
from core.triage import REJECT_REASONS, Correction
from core.waves import waves
from leads_api.desk import BadValue, StaleVersion
from leads_api.web.charts import district_map
from leads_api.web.common import (ACTION_LABELS, EVENT_LABELS, FIELD_LABELS, PROCESS_LABELS, SOURCE_LABELS, fmt_clock,
                                  fmt_time, not_found, reason_label, render, scope_of, session_principal, status_label,
                                  to_login)
from leads_api.web.orders import ORDER_ID, order_view

router = APIRouter(include_in_schema=False)

LEAD_ID = re.compile(r"^L[0-9a-f]{12}$")
ACTIONS = ("claim", "release", "verify", "reject", "recategorize", "reroute", "escalate", "note", "reopen",
           "merge", "split", "dispatch", "resend")
CORRECTS = {"verify": ("category", "item", "unit", "dispatch_minutes", "resolution_hours"),
            "recategorize": ("category", "item", "dispatch_minutes", "resolution_hours"),
            "reroute": ("unit", "district")}
SHOWN = ("status", "category", "item", "unit", "district", "urgent", "dispatch_minutes", "resolution_hours",
         "claimed_by", "reject_reason")


class PartlyDone(Exception):
    """Verify-and-dispatch verified the lead but the dispatch was refused."""

    def __init__(self, why: str):
        self.why = why
        super().__init__(why)


# --- reading ---------------------------------------------------------------------------------

def _units(config, district: str | None, street: str | None) -> list[str]:
    """Unit names for the datalist: the lead's district's units, its street office, the city's."""
    duties = config.duties
    names = []
    d = next((x for x in config.gazetteer.districts if x.name == district), None)
    if d is not None:
        short = d.aliases[0] if d.aliases else d.name
        overrides = duties.district_overrides.get(d.name, {})
        names += [overrides.get(u.key) or u.name.format(district=d.name, short=short) for u in duties.district_units]
        if street:
            names.append(duties.street_unit.name.format(district=d.name, street=street))
    names += [u.name for u in duties.city_units]
    return list(dict.fromkeys(names))


def _show(field: str, value, items: dict) -> str:
    if value is None or value == "":
        return "—"
    if field == "status":
        return status_label(value)
    if field == "urgent":
        return "是" if value else "否"
    if field == "reject_reason":
        return reason_label(value)
    if field == "item":
        return f"{value} {items.get(value, '')}".strip()
    return str(value)


def describe(e: LeadEvent, items: dict) -> dict:
    """One event as the timeline shows it: who, when, what, each changed field before → after,
    links to the leads it names, and the note."""
    d = e.detail if isinstance(e.detail, dict) else {}
    before, after = d.get("before"), d.get("after")
    changes = []
    if isinstance(before, dict) and isinstance(after, dict):
        changes = [(FIELD_LABELS.get(k, k), _show(k, before.get(k), items), _show(k, after.get(k), items))
                   for k in SHOWN if k in after and before.get(k) != after.get(k)]
    links = [(label, d[key]) for key, label in (("into", "并入"), ("merged_from", "合并自"), ("new_lead", "新线索"),
                                                ("from", "拆分自"), ("recurrence_of", "此前同一问题"))
             if isinstance(d.get(key), str) and LEAD_ID.match(d[key])]
    facts = []
    if d.get("reason"):
        facts.append(f"原因：{reason_label(str(d['reason']))}")
    if d.get("previous_holder"):
        facts.append(f"原认领人：{d['previous_holder']}")
    if isinstance(d.get("corrected"), list) and d["corrected"]:
        facts.append("更正：" + "、".join(FIELD_LABELS.get(k, k) for k in d["corrected"]))
    if isinstance(d.get("posts"), list):
        facts.append(f"帖子 {len(d['posts'])} 条")
    facts += _order_facts(e.kind, d)
    order = d.get("order") if isinstance(d.get("order"), str) and ORDER_ID.match(d["order"]) else None
    return {"kind": e.kind, "label": EVENT_LABELS.get(e.kind, e.kind), "actor": e.actor, "at": e.at,
            "lead_id": e.lead_id, "changes": changes, "links": links, "facts": facts, "order": order,
            "note": d.get("note") if isinstance(d.get("note"), str) else None}


def _order_facts(kind: str, d: dict) -> list[str]:
    """What a dispatch, a re-send or a work-order status event adds to the timeline."""
    facts = []
    if kind == "dispatched":
        if d.get("linked"):
            facts.append("并入同一地点同一事项的未办结工单")
        elif isinstance(d.get("target"), str):
            facts.append(f"投递目标：{d['target']}")
    elif kind == "order_resent":
        if isinstance(d.get("returned_by"), str):
            facts.append(f"退回单位：{d['returned_by']}")
    elif kind.startswith("order_"):  # the label names the status
        if isinstance(d.get("unit"), str):
            facts.append(f"对方建议单位：{d['unit']}")
        if isinstance(d.get("source"), str):
            facts.append(f"来源：{SOURCE_LABELS.get(d['source'], d['source'])}")
        if isinstance(d.get("at"), str):
            try:
                facts.append(f"对方时间：{fmt_time(datetime.fromisoformat(d['at']))}")
            except ValueError:
                pass
    return facts


NEARBY_METERS = 500
NEARBY_LEADS = 6


def nearby(request: Request, p, lead: Lead) -> tuple[list, str | None]:
    """Other leads within NEARBY_METERS of this one's place (the mean point of its located
    posts), nearest first, within the user's districts, from the search index: what else is
    wrong around the same spot. ([], why) when the lead has no place or the index is down."""
    from core.search import SearchUnavailable
    from core.search.points import lead_points
    from leads_api.deps import search_of
    from leads_api.routes.search import near_within
    point = lead_points(request.app.state.store, [lead.id]).get(lead.id)
    if point is None:
        return [], "这条线索的帖子没有定位到具体地点。"
    try:
        hits = near_within(search_of(request), *point, NEARBY_METERS, scope_of(p), NEARBY_LEADS + 1)
    except SearchUnavailable:
        return [], "搜索索引暂不可用，附近线索无法列出。"
    near = []
    for h in hits:
        if h.lead_id == lead.id:
            continue
        # The index is refreshed by the pipeline's index stage; a merge or a status change made
        # on the desk since then is read from the store.
        try:
            current = request.app.state.store.leads.get(h.lead_id)
        except LeadNotFound:
            continue
        if current.status != LeadStatus.MERGED:
            near.append((current, h.distance_m))
        if len(near) == NEARBY_LEADS:
            break
    return near, None if near else f"{NEARBY_METERS} 米内没有其他线索。"


def lead_context(request: Request, p, lead: Lead, *, banner: dict | None = None, flash: dict | None = None) -> dict:
    store, config, desk = request.app.state.store, request.app.state.config, request.app.state.desk
    now = utcnow()
    posts = store.leads.posts(lead.id)
    try:
        similar = desk.similar(p.actor, lead.id, 6)
    except LeadNotFound:
        similar = []
    items = {item.id: item.name for cat in config.catalogue.categories for item in cat.items}
    spec = config.implementation.items.get(lead.item) if lead.item else None
    can = {a: lead.status in triage.ALLOWED[a] for a in triage.ALLOWED}
    order = store.orders.for_lead(lead.id)
    try:
        target = desk.target_for(lead.unit, lead.district) if can["dispatch"] else None
    except LookupError:
        target = None
    return {
        "ov": order_view(request, p, order, lead=lead, now=now, back=f"/desk/leads/{lead.id}") if order else None,
        "target": target,
        "lead": lead, "posts": posts, "similar": similar, "nearby": nearby(request, p, lead),
        "nearby_meters": NEARBY_METERS,
        "events": [describe(e, items) for e in reversed(store.leads.events(lead.id))],
        "now": now, "banner": banner, "flash": flash, "can": can, "item_names": items,
        "catalogue": config.catalogue.categories, "all_districts": [d.name for d in config.gazetteer.districts],
        "units": _units(config, lead.district, lead.street), "reasons": REJECT_REASONS,
        "platforms": {pl.name: pl.title.split(" (")[0] for pl in config.platforms},
        "locked_by_other": lead.locked_by_other(p.actor.username, now),
        "mine": lead.claimed_by == p.actor.username and bool(lead.claim_expires_at and lead.claim_expires_at > now),
        "may_break": p.actor.may_break_locks,
        "default_minutes": sla.dispatch_minutes(config.implementation, category=lead.category, item=lead.item,
                                                urgent=lead.urgent),
        "default_hours": spec.resolution_hours if spec else None,
        "process": PROCESS_LABELS.get(spec.process) if spec else None,
        "map": district_map(config, lead.district, ((ep.enrichment.lat, ep.enrichment.lon) for ep in posts)),
        "waves": waves([ep.post.published_at for ep in posts],
                       timedelta(days=config.radar.clustering.quiet_days_to_close)),
        "spot": _spot(posts),
    }


def _spot(posts) -> str | None:
    """The place most posts name and the detail most of those name (伊景园滨河苑 · 3栋)."""
    names = Counter(ep.enrichment.place_name for ep in posts if ep.enrichment.place_name)
    if not names:
        return None
    name = names.most_common(1)[0][0]
    details = Counter(value for ep in posts if ep.enrichment.place_name == name
                      for _, value in ep.enrichment.place_detail)
    return " · ".join([name, *(v for v, _ in details.most_common(2))])


def _flash(request: Request) -> dict | None:
    q = request.query_params
    done = q.get("done")
    order = q.get("order") if ORDER_ID.match(q.get("order") or "") else None
    if done in ("dispatch", "verify_dispatch", "resend", "retry") and order:
        text = {"dispatch": f"已派单：工单 {order}", "verify_dispatch": f"已核实并派单：工单 {order}",
                "resend": f"已改派并重新派单：工单 {order}", "retry": f"已重新投递：工单 {order} 回到待投递"}[done]
        if done in ("dispatch", "verify_dispatch") and q.get("linked") == "1":
            text += "（同一地点同一事项已有未办结工单，本线索已并入）"
        return {"text": text, "link": None, "order": order}
    if done not in ACTIONS:
        return None
    flash = {"text": f"操作成功：{ACTION_LABELS[done]}", "link": None}
    other = q.get("other", "")
    if done == "merge" and LEAD_ID.match(other):
        flash = {"text": f"已合并：{other} 已并入本线索", "link": None}
    elif done == "split" and LEAD_ID.match(other):
        flash = {"text": "已拆分，所选帖子已移入新线索", "link": other}
    return flash


@router.get("/desk/leads/{lead_id}")
def lead_page(request: Request, lead_id: str):
    p = session_principal(request)
    if p is None:
        return to_login(request)
    if not LEAD_ID.match(lead_id):
        return not_found(request, p)
    try:
        lead = request.app.state.desk.lead(p.actor, lead_id)
    except LeadNotFound:
        return not_found(request, p)
    return render(request, "lead.html", lead_context(request, p, lead, flash=_flash(request)), p=p)


# --- acting ----------------------------------------------------------------------------------

def _int(form, field: str, *, low: int = 1, high: int = 1_000_000, required: bool = False) -> int | None:
    raw = str(form.get(field) or "").strip()
    if not raw:
        if required:
            raise BadValue(field, "required")
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadValue(field, f"must be a whole number from {low} to {high}")
    return int(raw)


def _correction(form, action: str, lead: Lead) -> Correction:
    fields = CORRECTS.get(action, ())
    values: dict = {}
    for f in fields:
        if f in ("dispatch_minutes", "resolution_hours"):
            values[f] = _int(form, f, high=100_000)
        else:
            values[f] = str(form.get(f) or "").strip()[:200] or None
    if action in ("recategorize", "reroute"):
        # only what the analyst changed (the category stays with a chosen item: they must agree)
        values = {k: v for k, v in values.items()
                  if v is not None and (v != getattr(lead, k) or (k == "category" and values.get("item")))}
    return Correction(**{k: v for k, v in values.items() if v is not None})


async def _apply(request: Request, p, lead_id: str, action: str) -> str:
    """Run the action; returns where to go next."""
    desk = request.app.state.desk
    form = await request.form()
    version = _int(form, "version", low=0, high=10**9, required=True)
    note = str(form.get("note") or "").strip()[:2000] or None
    if action == "merge":
        other = str(form.get("other_id") or "").strip()
        if not LEAD_ID.match(other):
            raise BadValue("other_id", "a lead id like L0123456789ab")
        try:
            kept = desk.merge(p.actor, lead_id, version, other, None, note=note)
        except LeadNotFound as exc:
            if str(exc.args[0] if exc.args else "") == lead_id:
                raise
            raise BadValue("other_id", f"no lead {other} in your districts") from None
        gone = other if kept.id == lead_id else lead_id
        return f"/desk/leads/{kept.id}?done=merge&other={gone}"
    if action == "split":
        post_ids = [str(v) for v in form.getlist("post_ids")][:1000]
        _, new = desk.split(p.actor, lead_id, version, post_ids, note=note)
        return f"/desk/leads/{lead_id}?done=split&other={new.id}"
    if action == "dispatch":
        _, order = desk.dispatch(p.actor, lead_id, version, note=note)
        return _dispatched(lead_id, "dispatch", order)
    if action == "resend":
        unit = (str(form.get("unit_other") or "").strip() or str(form.get("unit") or "").strip())[:200]
        if not unit:
            raise BadValue("unit", "choose a suggested unit or type one")
        _, order = desk.resend(p.actor, lead_id, version, unit, note=note)
        return f"/desk/leads/{lead_id}?done=resend&order={order.id}"
    lead = desk.lead(p.actor, lead_id)
    reason = str(form.get("reason") or "") or None
    if action == "reject" and reason not in REJECT_REASONS:
        raise BadValue("reason", "choose a reject reason")
    after = desk.act(p.actor, lead_id, version, action, note=note, correction=_correction(form, action, lead),
                     reason=reason, force=form.get("force") == "1" and p.actor.may_break_locks)
    if not p.actor.sees(after):  # re-routed to a district outside the analyst's
        return "/desk"
    if action == "verify" and form.get("then") == "dispatch":
        try:
            _, order = desk.dispatch(p.actor, lead_id, after.version)
        except StaleVersion as exc:
            raise PartlyDone(f"线索在核实后被他人更新（版本 {after.version} → {exc.current.version}），"
                             "请刷新后再点「派单」") from None
        except triage.LockHeld as exc:
            raise PartlyDone(f"线索已被 {exc.lead.claimed_by} 认领，请等待其释放后派单") from None
        except (triage.TriageError, StoreError, LookupError) as exc:
            raise PartlyDone(_dispatch_problem(exc)) from None
        return _dispatched(lead_id, "verify_dispatch", order)
    return f"/desk/leads/{lead_id}?done={action}"


def _dispatched(lead_id: str, done: str, order) -> str:
    linked = "&linked=1" if order.lead_id != lead_id else ""
    return f"/desk/leads/{lead_id}?done={done}&order={order.id}{linked}"


def _dispatch_problem(exc: Exception) -> str:
    if isinstance(exc, LookupError):
        return "没有可用的投递目标：config/delivery.yaml 缺失或没有 default"
    return str(exc)


@router.post("/desk/leads/{lead_id}/{action}")
async def act(request: Request, lead_id: str, action: str) -> Response:
    p = session_principal(request)
    if p is None:
        return to_login(request)
    if not LEAD_ID.match(lead_id):
        return not_found(request, p)
    if action not in ACTIONS:
        return render(request, "error.html", {"status": 404, "title": "未知操作", "message": "没有这个操作。"}, 404, p)
    desk = request.app.state.desk
    try:
        return RedirectResponse(await _apply(request, p, lead_id, action), status_code=303)
    except LeadNotFound:
        return not_found(request, p)
    except StaleVersion as exc:
        form = await request.form()
        seen = str(form.get("version") or "?")
        now = exc.current
        lines = [f"当前状态：{status_label(now.status)}",
                 f"认领人：{now.claimed_by or '—'}", f"分类：{now.category or '—'} {now.item or ''}".strip()]
        return _refused(request, p, now, 409, f"该线索已被他人更新（版本 {seen} → {now.version}），请刷新后重试",
                        lines, "stale")
    except triage.LockHeld as exc:
        holder = exc.lead
        return _refused(request, p, lead_id, 409,
                        f"已被 {holder.claimed_by} 认领至 {fmt_clock(holder.claim_expires_at)}",
                        ["该线索正由他人审核；请等待其释放或锁定到期。"], "locked")
    except PartlyDone as exc:
        return _refused(request, p, lead_id, 409, "已核实，但派单未完成", [exc.why], "partly")
    except triage.InvalidTransition as exc:
        try:
            lead = desk.lead(p.actor, lead_id)
        except LeadNotFound:
            return not_found(request, p)
        if action == "resend":
            return _refused(request, p, lead, 409, "工单当前状态不能改派重发", [str(exc)], "transition")
        return _refused(request, p, lead, 409,
                        f"当前状态「{status_label(lead.status)}」不能执行「{ACTION_LABELS[action]}」", [], "transition")
    except triage.Forbidden as exc:
        return _refused(request, p, lead_id, 403, "你的角色不能执行此操作", [str(exc)], "forbidden")
    except BadValue as exc:
        label = FIELD_LABELS.get(exc.field, exc.field)
        return _refused(request, p, lead_id, 422, f"字段「{label}」（{exc.field}）无效",
                        [exc.message], "invalid", field=exc.field)
    except triage.InvalidAction as exc:
        return _refused(request, p, lead_id, 422, f"无法{ACTION_LABELS[action]}：参数无效",
                        [str(exc)], "invalid")
    except LookupError as exc:
        return _refused(request, p, lead_id, 409, f"无法{ACTION_LABELS[action]}：没有可用的投递目标",
                        [_dispatch_problem(exc)], "no_target")
    except StoreError as exc:  # the order changed under us (a status came back), or a live order exists
        return _refused(request, p, lead_id, 409, f"无法{ACTION_LABELS[action]}：工单已被更新，请刷新后重试",
                        [str(exc)], "stale")


def _refused(request: Request, p, lead: Lead | str, status: int, title: str, lines: list[str], code: str,
             field: str | None = None) -> Response:
    """The lead page as it is now, with why the action was refused."""
    if isinstance(lead, str):
        try:
            lead = request.app.state.desk.lead(p.actor, lead)
        except LeadNotFound:
            return not_found(request, p)
    banner = {"kind": "error", "title": title, "lines": lines, "code": code, "field": field}
    return render(request, "lead.html", lead_context(request, p, lead, banner=banner), status, p)
