"""Logging in and out, users (admins), the audit log and the desk's figures (supervisors)."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from core.models import utcnow
from core.security import WeakPassword
from core.store.errors import StoreError
from core.store.users import LoginLocked, UserExists
from core.triage import Role
from leads_api.auth import SESSION_COOKIE, Principal, require_roles, scope_of
from leads_api.deps import config_of, current, store_of
from leads_api.schemas import (AuditPage, DeskStats, ErrorBody, LeadEventPublic, LoginRequest, UserCreate,
                               UserPublic)

router = APIRouter(tags=["account"])
ERRORS = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}}


def login_user(request: Request, username: str, password: str):
    """The user for these credentials, or an ErrorBody answer (401, 423 locked, 429 throttled)."""
    store, config, throttle = request.app.state.store, request.app.state.config, request.app.state.throttle
    client = request.client.host if request.client else "?"
    if throttle.blocked(client):
        return None, JSONResponse(status_code=429, content=ErrorBody(
            error="too many failed logins from this address; wait a few minutes", code="throttled").model_dump())
    cfg = config.radar.triage
    try:
        user = store.users.authenticate(username, password, max_failures=cfg.login_max_failures,
                                        lockout=timedelta(minutes=cfg.login_lockout_minutes))
    except LoginLocked as exc:
        throttle.failed(client)
        return None, JSONResponse(status_code=423, content=ErrorBody(error=str(exc), code="locked").model_dump())
    if user is None or user.role == Role.INTEGRATION.value:
        throttle.failed(client)
        return None, JSONResponse(status_code=401, content=ErrorBody(
            error="wrong username or password", code="unauthenticated").model_dump())
    return user, None


def set_session(request: Request, response: Response, user) -> None:
    hours = request.app.state.config.radar.triage.session_hours
    token = request.app.state.store.users.open_session(user, timedelta(hours=hours))
    response.set_cookie(SESSION_COOKIE, token, max_age=int(hours * 3600), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


@router.post("/auth/login", response_model=UserPublic, responses={**ERRORS, 423: {"model": ErrorBody},
                                                                   429: {"model": ErrorBody}})
def login(body: LoginRequest, request: Request):
    """Open a web session (cookie); unsafe requests with it then need the CSRF header."""
    user, refused = login_user(request, body.username, body.password)
    if refused is not None:
        return refused
    response = JSONResponse(UserPublic.of(user).model_dump())
    set_session(request, response, user)
    return response


@router.post("/auth/logout", status_code=204, responses=ERRORS)
def logout(request: Request, response: Response):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        request.app.state.store.users.close_session(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/auth/me", response_model=UserPublic, responses=ERRORS)
def me(p: Annotated[Principal, Depends(current)]):
    return UserPublic.of(p.user)


@router.get("/users", response_model=list[UserPublic], responses=ERRORS)
def list_users(p: Annotated[Principal, Depends(current)], store=Depends(store_of)):
    require_roles(p, Role.ADMIN, Role.SUPERVISOR)
    return [UserPublic.of(u) for u in store.users.list()]


@router.post("/users", response_model=UserPublic, status_code=201, responses={**ERRORS, 409: {"model": ErrorBody}})
def add_user(body: UserCreate, p: Annotated[Principal, Depends(current)], store=Depends(store_of),
             config=Depends(config_of)):
    require_roles(p, Role.ADMIN)
    known = {d.name for d in config.gazetteer.districts}
    unknown = [d for d in body.districts if d not in known]
    from leads_api.desk import BadValue
    if unknown:
        raise BadValue("districts", f"unknown districts: {', '.join(unknown)}")
    # The store's rules for a new user, named by field here (raised from the store they were 500s)
    if body.role == Role.ANALYST.value and not body.districts:
        raise BadValue("districts", "an analyst works for one or more districts: name them")
    if body.role != Role.INTEGRATION.value and body.password is None:
        raise BadValue("password", f"a {body.role} needs a password")
    try:
        user = store.users.add(body.username, body.role, password=body.password, display_name=body.display_name,
                               districts=tuple(body.districts))
    except UserExists as exc:
        return JSONResponse(status_code=409, content=ErrorBody(error=str(exc), code="exists").model_dump())
    except WeakPassword as exc:
        raise BadValue("password", str(exc)) from None
    except StoreError as exc:  # the one rule left is the username's (e.g. "..." has no letter or digit)
        raise BadValue("username", str(exc)) from None
    return UserPublic.of(user)


@router.get("/audit", response_model=AuditPage, responses=ERRORS)
def audit(p: Annotated[Principal, Depends(current)], store=Depends(store_of),
          actor: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
          lead_id: Annotated[str | None, Query(pattern=r"^L[0-9a-f]{12}$")] = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0, le=100_000)] = 0):
    """What people did, newest first, within the caller's districts."""
    scope = scope_of(p)
    events = store.triage.audit(scope=scope, actor=actor, lead_id=lead_id, limit=limit, offset=offset)
    return AuditPage(items=[LeadEventPublic.of(e) for e in events])


@router.get("/stats", response_model=DeskStats, responses=ERRORS)
def stats(p: Annotated[Principal, Depends(current)], store=Depends(store_of), config=Depends(config_of)):
    """Supervisors: the queue by status, today's SLA breaches, per-analyst throughput (7 days), spikes."""
    require_roles(p, Role.SUPERVISOR, Role.ADMIN)
    return desk_stats(store, p, config)


def desk_stats(store, p: Principal, config) -> DeskStats:
    now = utcnow()
    scope = () if p.actor.role == Role.ADMIN else p.actor.districts
    # "today" is the city's day, not UTC's
    local = now.astimezone(ZoneInfo(config.radar.timezone))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    breaches = [b for b in store.triage.breaches(day) if not scope or b.district in scope]
    spikes = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in w.items()}
              for w in store.reports.warnings(now - timedelta(days=7)) if not scope or w["district"] in scope]
    return DeskStats(statuses=store.triage.status_counts(scope), breaches_today=len(breaches),
                     throughput=store.triage.throughput(now - timedelta(days=7), scope), spikes=spikes[:50])
