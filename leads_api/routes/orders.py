"""Work orders: dispatch and re-send from the desk, the order list and detail, the dead-letter
retry, the change feed for pull integrations, and status answers coming back."""
from __future__ import annotations

import base64
import os
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from core.models import utcnow
from core.orders import OrderStatus, StatusUpdate
from core.store.errors import StoreError
from core.store.orders import OrderNotFound
from core.triage import Role
from leads_api.auth import Principal, principal, require_roles, scope_of
from leads_api.deps import config_of, current, desk_of, store_of
from leads_api.desk import Desk
from leads_api.routes.leads import ACTION_ERRORS, ERRORS, LeadIdPath
from leads_api.schemas import (ChangesPage, DispatchRequest, DispatchResponse, ErrorBody, LeadPublic,
                               ResendRequest, StatusAck, StatusCallback, StatusUpdatePublic, WorkOrderDetail,
                               WorkOrderPage, WorkOrderPublic)

router = APIRouter(tags=["work orders"])
OrderIdPath = Annotated[str, Path(pattern=r"^WO[0-9A-F]{14}$")]
CURSOR_PREFIX = "wo1:"


def _error(status: int, error: str, code: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=ErrorBody(error=error, code=code).model_dump())


@router.post("/leads/{lead_id}/dispatch", response_model=DispatchResponse, responses=ACTION_ERRORS)
def dispatch(lead_id: LeadIdPath, body: DispatchRequest, p: Annotated[Principal, Depends(current)],
             desk: Desk = Depends(desk_of)):
    """Verified → dispatched: the work order is filed in the same transaction (or the lead joins an
    open order for the same place and item) and delivered by the delivery worker."""
    lead, order = desk.dispatch(p.actor, lead_id, body.version, note=body.note)
    return DispatchResponse(lead=LeadPublic.of(lead), order=WorkOrderPublic.of(order))


@router.post("/leads/{lead_id}/resend", response_model=DispatchResponse, responses=ACTION_ERRORS)
def resend(lead_id: LeadIdPath, body: ResendRequest, p: Annotated[Principal, Depends(current)],
           desk: Desk = Depends(desk_of)):
    """A returned order (退单) or a resolved one still reported goes out again to the unit confirmed."""
    lead, order = desk.resend(p.actor, lead_id, body.version, body.unit, note=body.note)
    return DispatchResponse(lead=LeadPublic.of(lead), order=WorkOrderPublic.of(order))


@router.get("/work-orders", response_model=WorkOrderPage, responses=ERRORS)
def list_orders(p: Annotated[Principal, Depends(current)], store=Depends(store_of),
                status: OrderStatus | None = None,
                delivery: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
                target: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0):
    """Orders within the caller's districts, newest first; `delivery=dead` is the dead-letter list."""
    total, orders = store.orders.list(status=status.value if status else None, delivery=delivery, target=target,
                                      scope=scope_of(p), limit=limit, offset=offset)
    return WorkOrderPage(total=total, limit=limit, offset=offset, items=[WorkOrderPublic.of(o) for o in orders])


@router.get("/work-orders/changes", response_model=ChangesPage, responses={**ERRORS, 403: {"model": ErrorBody}})
def changes(p: Annotated[Principal, Depends(current)], request: Request, store=Depends(store_of),
            cursor: Annotated[str | None, Query(max_length=100)] = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 100):
    """The pull feed (integration role): orders changed since `cursor`, oldest change first. At least
    once: an order may come again (it changed again, or the reader lost its cursor); orders are
    idempotent by id. Start without a cursor."""
    require_roles(p, Role.INTEGRATION, Role.ADMIN)
    after = _decode(cursor)
    if after is None:
        return _error(422, "cursor is not one this feed gave out", "invalid_request")
    pulls = [n for n, t in request.app.state.config.delivery.targets.items() if t.kind == "pull"]
    last, orders = store.orders.changes(after, limit, targets=pulls or None)
    return ChangesPage(cursor=_encode(last), items=[WorkOrderPublic.of(o) for o in orders])


@router.get("/work-orders/{order_id}", response_model=WorkOrderDetail, responses=ERRORS)
def get_order(order_id: OrderIdPath, p: Annotated[Principal, Depends(current)], store=Depends(store_of)):
    order = _visible(store, p, order_id)
    return WorkOrderDetail(**WorkOrderPublic.of(order).model_dump(), leads=store.orders.leads_of(order_id),
                           updates=[StatusUpdatePublic(status=u.status.value, at=u.at, update_id=u.update_id,
                                                       source=u.source, reason=u.reason, unit=u.unit,
                                                       applied=bool(u.detail.get("applied")))
                                    for u in store.orders.updates(order_id)])


@router.post("/work-orders/{order_id}/retry", response_model=WorkOrderPublic,
             responses={**ERRORS, 403: {"model": ErrorBody}, 409: {"model": ErrorBody}})
def retry(order_id: OrderIdPath, p: Annotated[Principal, Depends(current)], store=Depends(store_of)):
    """A dead order back into the outbox."""
    require_roles(p, Role.ANALYST, Role.SUPERVISOR, Role.ADMIN)
    _visible(store, p, order_id)
    try:
        return WorkOrderPublic.of(store.orders.retry(order_id, utcnow()))
    except OrderNotFound:
        raise
    except StoreError as exc:
        return _error(409, str(exc), "invalid_transition")


@router.post("/integrations/orders/{order_id}/status", response_model=StatusAck,
             responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
async def status_callback(order_id: OrderIdPath, request: Request, store=Depends(store_of),
                          config=Depends(config_of)):
    """A status answer from the work-order system: signed per Standard Webhooks with the callback
    secret (push), or sent with an integration token (pull). Replays outside the window, bad
    signatures and unknown orders are refused; a repeat is acknowledged and changes nothing."""
    from delivery import lifecycle
    from delivery.signing import SignatureError, verify_callback
    raw = await request.body()
    if request.headers.get("webhook-signature"):
        secret = os.environ.get(config.delivery.callback_secret_env or "")
        if not secret:
            return _error(401, "status callbacks are not configured here (no callback secret)", "unauthenticated")
        try:
            verify_callback(secret, raw, dict(request.headers), config.delivery.callback_max_age_seconds)
        except SignatureError as exc:
            return _error(401, f"signature refused: {exc}", "unauthenticated")
        source = "webhook"
    else:
        p = principal(request, store, request.app.state.tokens)
        if p is None or p.via != "token" or p.actor.role not in (Role.INTEGRATION, Role.ADMIN):
            return _error(401, "sign the callback or send an integration token", "unauthenticated")
        source = "pull"
    try:
        body = StatusCallback.model_validate_json(raw)
    except ValueError as exc:
        from pydantic import ValidationError
        problems = ([{"param": ".".join(str(x) for x in e["loc"]), "message": e["msg"]} for e in exc.errors()]
                    if isinstance(exc, ValidationError) else [{"param": "body", "message": str(exc)[:200]}])
        return JSONResponse(status_code=422, content={"error": "invalid request parameters",
                                                      "code": "invalid_request", "problems": problems})
    if body.order_id is not None and body.order_id != order_id:
        return _error(422, f"body names order {body.order_id}, the path {order_id}", "invalid_request")
    update = StatusUpdate(order_id, OrderStatus(body.status), body.at, body.update_id, source, body.reason,
                          body.unit, {"remote_id": body.remote_id} if body.remote_id else {})
    applied = lifecycle.apply(store, update)
    return StatusAck(order_id=order_id, applied=applied, status=store.orders.get(order_id).status.value)


def _visible(store, p: Principal, order_id: str):
    order = store.orders.get(order_id)
    scope = scope_of(p)
    if scope and order.place.district not in scope:
        raise OrderNotFound(order_id)
    return order


def _encode(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not raw.startswith(CURSOR_PREFIX) or not raw[len(CURSOR_PREFIX):].isdigit():
        return None
    return int(raw[len(CURSOR_PREFIX):])
