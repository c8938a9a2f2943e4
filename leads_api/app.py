"""The analyst desk's HTTP app (FastAPI): the JSON API and the server-rendered web desk over
one Store. `create_app(store, config)` builds it."""
from __future__ import annotations

import re
import secrets
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette_csrf import CSRFMiddleware

from core.config import Config
from core.search.errors import SearchUnavailable
from core.store import ConcurrencyError, LeadNotFound, Store
from core.store.orders import LiveOrderExists, OrderNotFound
from core import triage
from leads_api.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, LoginThrottle, TokenCache
from leads_api.desk import BadValue, Desk, StaleVersion
from leads_api.schemas import ErrorBody, Health, LeadPublic, Problem

STATIC = Path(__file__).resolve().parent / "static"

# Scripts and styles from our own origin only (no inline code, no eval): post text is hostile.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def _error(status: int, error: str, code: str, **extra) -> JSONResponse:
    return JSONResponse(status_code=status, content=ErrorBody(error=error, code=code, **extra).model_dump(mode="json"))


def create_app(store: Store, config: Config, *, secret: str | None = None) -> FastAPI:
    app = FastAPI(title="Civic Radar", version="0.2.0",
                  description="Leads: city problems found on the open internet, triaged at the analyst desk. "
                              "Authenticate with `Authorization: Bearer <token>` (radar users token) or a "
                              "session from POST /auth/login (then send the `csrftoken` cookie's value in the "
                              "`x-csrftoken` header on unsafe requests).")
    app.state.store = store
    app.state.config = config
    app.state.desk = Desk(store, config)
    app.state.tokens = TokenCache()
    app.state.throttle = LoginThrottle()

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith(("/desk", "/login", "/auth", "/leads", "/users", "/audit", "/stats")):
            response.headers.setdefault("cache-control", "no-store")
        return response

    # Double-submit CSRF on every unsafe request that carries the session cookie; token
    # callers (no cookie) are not exposed to CSRF.
    app.add_middleware(CSRFMiddleware, secret=secret or secrets.token_urlsafe(32),
                       sensitive_cookies={SESSION_COOKIE}, cookie_name=CSRF_COOKIE, header_name=CSRF_HEADER,
                       cookie_samesite="strict", exempt_urls=[re.compile(r"^/auth/login$"), re.compile(r"^/integrations/")])

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [Problem(param=".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                            message=err["msg"]) for err in exc.errors()]
        return JSONResponse(status_code=422, content=ErrorBody(
            error="invalid request parameters", code="invalid_request", problems=problems).model_dump())

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        codes = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        resp = _error(exc.status_code, str(exc.detail), codes.get(exc.status_code, "error"))
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp

    @app.exception_handler(LeadNotFound)
    async def not_found(_: Request, exc: LeadNotFound) -> JSONResponse:
        return _error(404, f"no lead with id {exc}", "not_found")

    @app.exception_handler(StaleVersion)
    async def stale(_: Request, exc: StaleVersion) -> JSONResponse:
        return _error(409, str(exc), "stale", current=LeadPublic.of(exc.current))

    @app.exception_handler(triage.LockHeld)
    async def locked(_: Request, exc: triage.LockHeld) -> JSONResponse:
        return _error(409, str(exc), "locked", current=LeadPublic.of(exc.lead))

    @app.exception_handler(triage.InvalidTransition)
    async def invalid_transition(_: Request, exc: triage.InvalidTransition) -> JSONResponse:
        return _error(409, str(exc), "invalid_transition")

    @app.exception_handler(triage.Forbidden)
    async def forbidden(_: Request, exc: triage.Forbidden) -> JSONResponse:
        return _error(403, str(exc), "forbidden")

    @app.exception_handler(triage.InvalidAction)
    async def invalid_action(_: Request, exc: triage.InvalidAction) -> JSONResponse:
        return _error(422, str(exc), "invalid_action")

    @app.exception_handler(LiveOrderExists)
    async def live_order(_: Request, exc: LiveOrderExists) -> JSONResponse:
        return _error(409, str(exc), "conflict")

    @app.exception_handler(ConcurrencyError)
    async def raced(_: Request, exc: ConcurrencyError) -> JSONResponse:
        return _error(409, f"{exc}; read it again and retry", "stale")

    @app.exception_handler(OrderNotFound)
    async def order_not_found(_: Request, exc: OrderNotFound) -> JSONResponse:
        return _error(404, f"no work order with id {exc}", "not_found")

    @app.exception_handler(BadValue)
    async def bad_value(_: Request, exc: BadValue) -> JSONResponse:
        return _error(422, "invalid request parameters", "invalid_request",
                      problems=[Problem(param=exc.field, message=exc.message)])

    @app.exception_handler(SearchUnavailable)
    async def search_down(_: Request, exc: SearchUnavailable) -> JSONResponse:
        # Raised where the index is opened (search_of), before a route's own handling.
        return _error(503, str(exc), "search_unavailable")

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        return Health(status="ok", database=store.backend, leads=store.reports.lead_count())

    from leads_api.routes import account, leads, orders, search
    app.include_router(leads.router)
    app.include_router(orders.router)
    app.include_router(account.router)
    app.include_router(search.router)
    from leads_api import web
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def from_settings() -> FastAPI:
    """uvicorn's factory for `radar serve --workers N`: each worker process opens its own store
    and config from the environment (RADAR_HOME, DATABASE_URL, RADAR_CONFIG_DIR, RADAR_SECRET_KEY)."""
    from core.config import load_config
    from core.settings import Settings
    settings = Settings()
    store = Store.open(settings.db_url)
    return create_app(store, load_config(settings.config_dir), secret=settings.web_secret())
