"""Request-scoped dependencies shared by the routers and the web pages."""
from __future__ import annotations

from fastapi import Request

from core.config import Config
from core.store import Store
from leads_api.auth import Principal, Unauthenticated, principal
from leads_api.desk import Desk


def store_of(request: Request) -> Store:
    return request.app.state.store


def desk_of(request: Request) -> Desk:
    return request.app.state.desk


def config_of(request: Request) -> Config:
    return request.app.state.config


def current(request: Request) -> Principal:
    """The authenticated caller (401 otherwise)."""
    p = principal(request, request.app.state.store, request.app.state.tokens)
    if p is None:
        raise Unauthenticated()
    return p


def search_of(request: Request):
    """The search index (Elasticsearch when ELASTICSEARCH_URL is set, else the embedded index),
    opened on first use and kept for the app's life."""
    from core.search import open_search
    from core.settings import Settings
    if getattr(request.app.state, "search", None) is None:
        request.app.state.search = open_search(Settings(), request.app.state.store, interactive=True)
    return request.app.state.search
