"""Work orders on the desk: the order panel of a lead (status, delivery, evidence snapshot,
history, re-send of a returned order, retry of a dead one), the order list within the user's
districts with its dead-letter view, and an order's own page. An order outside the user's
districts does not exist for them (404), as for leads."""
from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core.models import Lead, LeadStatus, utcnow
from core.orders import DeliveryState, OrderStatus, WorkOrder
from core.store.errors import StoreError
from core.store.orders import OrderNotFound
from core.triage import Role
from leads_api.web.common import (DELIVERY_LABELS, ORDER_STATUS_LABELS, error_page, not_found, query_url, render,
                                  scope_of, session_principal, to_login)

router = APIRouter(include_in_schema=False)

ORDER_ID = re.compile(r"^WO[0-9A-F]{14}$")
LEAD_ID = re.compile(r"^L[0-9a-f]{12}$")
PAGE_SIZE = 50
FINISHED = frozenset({OrderStatus.RESOLVED, OrderStatus.CLOSED})
RETRIERS = (Role.ANALYST, Role.SUPERVISOR, Role.ADMIN)
BACK = re.compile(r"^/desk/(orders(/WO[0-9A-F]{14})?|leads/L[0-9a-f]{12})(\?[^\\#]*)?$")


def visible(request: Request, p, order_id: str) -> WorkOrder:
    """The order if it lies in the user's districts; OrderNotFound otherwise (as if absent)."""
    order = request.app.state.store.orders.get(order_id)
    scope = scope_of(p)
    if scope and order.place.district not in scope:
        raise OrderNotFound(order_id)
    return order


def overdue(order: WorkOrder, now: datetime) -> bool:
    """Past its resolution deadline and not resolved (督办)."""
    return bool(order.due_at and order.due_at < now and order.status not in FINISHED)


def needs_resend(order: WorkOrder, lead: Lead) -> bool:
    """The lead's own order came back: returned (退单), or resolved / reopened while the lead
    was flagged again (still reported)."""
    if order.lead_id != lead.id or lead.status == LeadStatus.MERGED:
        return False
    if order.status == OrderStatus.RETURNED:
        return True
    return order.status in (OrderStatus.RESOLVED, OrderStatus.REOPENED) and bool(lead.review_reason)


def _evidence_at(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def order_view(request: Request, p, order: WorkOrder, *, lead: Lead | None = None,
               now: datetime | None = None, back: str = "") -> dict:
    """What the order panel shows (the lead page and the order's page share it)."""
    store, desk = request.app.state.store, request.app.state.desk
    now = now or utcnow()
    updates = store.orders.updates(order.id)
    history = [{"status": u.status.value, "at": u.at, "source": u.source, "reason": u.reason, "unit": u.unit,
                "applied": bool(u.detail.get("applied"))} for u in updates]
    resend = lead is not None and needs_resend(order, lead)
    hint = next((u.unit for u in reversed(updates) if u.status == OrderStatus.RETURNED and u.unit), None)
    return {
        "order": order, "overdue": overdue(order, now), "history": history,
        "leads": store.orders.leads_of(order.id),
        "linked": lead is not None and order.lead_id != lead.id,
        "resend": resend, "suggestions": desk.reroute_suggestions(lead, order) if resend else [],
        "hint": hint if order.status == OrderStatus.RETURNED else None,
        "flag": lead.review_reason if lead is not None and order.status != OrderStatus.RETURNED else None,
        "retry": order.delivery == DeliveryState.DEAD and p.actor.role in RETRIERS,
        "back": back,
        "evidence": [{"e": e, "at": _evidence_at(e.published_at)} for e in order.evidence],
    }


def _flash(request: Request) -> dict | None:
    q = request.query_params
    order = q.get("order") if ORDER_ID.match(q.get("order") or "") else None
    if q.get("done") == "retry" and order:
        return {"text": f"已重新投递：工单 {order} 回到待投递", "order": order}
    return None


def _back_url(back: str, order_id: str) -> str:
    """Where a retry returns to: the desk page it was asked from (never another site)."""
    if not back or not BACK.match(back) or "//" in back:
        back = f"/desk/orders/{order_id}"
    parts = urlsplit(back)
    params = dict(parse_qsl(parts.query))
    params.pop("done", None)
    params.pop("order", None)
    return query_url(parts.path, params, done="retry", order=order_id)


# --- the list -------------------------------------------------------------------------------

def _filters(request: Request, targets: list[str]) -> dict:
    q = request.query_params
    pick = lambda key, allowed: q.get(key) if q.get(key) in allowed else ""  # noqa: E731
    try:
        page = max(1, min(int(q.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    return {"status": pick("status", ORDER_STATUS_LABELS), "delivery": pick("delivery", DELIVERY_LABELS),
            "target": pick("target", targets), "page": page}


@router.get("/desk/orders")
def order_list(request: Request):
    p = session_principal(request)
    if p is None:
        return to_login(request)
    store, config = request.app.state.store, request.app.state.config
    targets = sorted(config.delivery.targets)
    f = _filters(request, targets)
    total, orders = store.orders.list(status=f["status"] or None, delivery=f["delivery"] or None,
                                      target=f["target"] or None, scope=scope_of(p), limit=PAGE_SIZE,
                                      offset=(f["page"] - 1) * PAGE_SIZE)
    now = utcnow()
    params = {k: v for k, v in f.items() if k != "page"}
    here = query_url("/desk/orders", params, page=f["page"] if f["page"] > 1 else "")
    return render(request, "orders.html", {
        "rows": [{"o": o, "overdue": overdue(o, now)} for o in orders], "total": total, "filters": f,
        "params": params, "targets": targets, "pages": max(1, -(-total // PAGE_SIZE)), "here": here,
        "may_retry": p.actor.role in RETRIERS, "flash": _flash(request),
    }, p=p)


# --- one order ------------------------------------------------------------------------------

def _order_page(request: Request, p, order: WorkOrder, *, banner: dict | None = None, status: int = 200) -> Response:
    view = order_view(request, p, order, back=f"/desk/orders/{order.id}")
    platforms = {pl.name: pl.title.split(" (")[0] for pl in request.app.state.config.platforms}
    return render(request, "order.html", {"ov": view, "banner": banner, "flash": _flash(request),
                                          "platforms": platforms}, status, p)


@router.get("/desk/orders/{order_id}")
def order_page(request: Request, order_id: str):
    p = session_principal(request)
    if p is None:
        return to_login(request)
    if not ORDER_ID.match(order_id):
        return not_found(request, p, "工单")
    try:
        order = visible(request, p, order_id)
    except OrderNotFound:
        return not_found(request, p, "工单")
    return _order_page(request, p, order)


@router.post("/desk/orders/{order_id}/retry")
async def retry(request: Request, order_id: str) -> Response:
    """A dead order back into the outbox (`store.orders.retry`)."""
    p = session_principal(request)
    if p is None:
        return to_login(request)
    if not ORDER_ID.match(order_id):
        return not_found(request, p, "工单")
    try:
        visible(request, p, order_id)
    except OrderNotFound:
        return not_found(request, p, "工单")
    if p.actor.role not in RETRIERS:
        return error_page(request, 403, "无权操作", "只有分析员、主管和管理员可以重新投递工单。", p)
    form = await request.form()
    try:
        request.app.state.store.orders.retry(order_id, utcnow())
    except OrderNotFound:
        return not_found(request, p, "工单")
    except StoreError as exc:
        now = request.app.state.store.orders.get(order_id)
        banner = {"kind": "error", "code": "transition", "lines": [str(exc)],
                  "title": f"工单当前为「{DELIVERY_LABELS.get(now.delivery.value)}」，不是投递失败，无需重新投递"
                  if now.delivery != DeliveryState.DEAD else "工单已被更新，请刷新后重试"}
        return _order_page(request, p, now, banner=banner, status=409)
    return RedirectResponse(_back_url(str(form.get("back") or ""), order_id), status_code=303)
