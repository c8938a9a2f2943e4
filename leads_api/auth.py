"""Who is asking: an API token (`Authorization: Bearer <id>.<secret>`) or a web session
cookie. Pages and the JSON API share these dependencies; the CSRF middleware guards every
unsafe request that carries the session cookie.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass

from fastapi import HTTPException, Request

from core.models import User
from core.store import Store
from core.triage import Actor, Role

SESSION_COOKIE = "radar_session"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
TOKEN_CACHE_SECONDS = 60.0  # argon2 costs ~50 ms: a verified token is trusted this long


class Unauthenticated(HTTPException):
    def __init__(self, detail: str = "log in or send an API token"):
        super().__init__(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(HTTPException):
    def __init__(self, detail: str):
        super().__init__(status_code=403, detail=detail)


@dataclass(frozen=True)
class Principal:
    user: User
    actor: Actor
    via: str  # token | session


def actor_of(user: User) -> Actor:
    return Actor(user.username, Role(user.role), tuple(user.districts))


def scope_of(p: Principal) -> tuple[str, ...]:
    """The districts whose leads and posts the caller sees (empty: all). Admins and integrations
    see every district; the JSON API and the desk pages scope by this one rule."""
    return () if p.actor.role in (Role.ADMIN, Role.INTEGRATION) else tuple(p.actor.districts)


class TokenCache:
    """Verified API tokens (by SHA-256) -> user id, for a minute; the user is still re-read
    each request, so disabling a user takes effect at once."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS, size: int = 1024):
        self.ttl, self.size = ttl, size
        self._items: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> int | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            hit = self._items.get(key)
            if hit and hit[1] > time.monotonic():
                return hit[0]
            self._items.pop(key, None)
        return None

    def put(self, token: str, user_id: int) -> None:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (user_id, time.monotonic() + self.ttl)


class LoginThrottle:
    """Failed logins per client address in a sliding window (the store also locks an account
    after repeated failures, whatever the address)."""

    def __init__(self, limit: int = 20, window: float = 300.0):
        self.limit, self.window = limit, window
        self._seen: dict[str, deque] = {}
        self._lock = threading.Lock()

    def blocked(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._seen.get(client)
            while q and q[0] < now - self.window:
                q.popleft()
            return bool(q) and len(q) >= self.limit

    def failed(self, client: str) -> None:
        with self._lock:
            self._seen.setdefault(client, deque()).append(time.monotonic())


def principal(request: Request, store: Store, tokens: TokenCache) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        token = token.strip()
        user_id = tokens.get(token)
        user = store.users.by_id(user_id) if user_id is not None else store.users.token_user(token)
        if user is None or user.disabled:
            raise Unauthenticated("invalid or revoked API token")
        tokens.put(token, user.id)
        return Principal(user, actor_of(user), "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user = store.users.session_user(cookie)
        if user is not None:
            return Principal(user, actor_of(user), "session")
    return None


def require_roles(p: Principal, *roles: Role) -> None:
    if p.actor.role not in roles:
        raise Forbidden(f"the {p.actor.role.value} role cannot do this")
