"""Users, their API tokens and web sessions. Password, token and session hashes stay in here:
what leaves is a `User`."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from core import security
from core.models import User, utcnow
from core.store import tables as t
from core.store.db import Repository
from core.store.errors import StoreError

ROLES = ("analyst", "supervisor", "admin", "integration")
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class UserExists(StoreError):
    """A user with that name already exists."""


class UserNotFound(StoreError):
    """No user with that name."""


class LoginLocked(StoreError):
    """Too many failed logins: the account is locked until `until`."""

    def __init__(self, until: datetime):
        self.until = until
        super().__init__(f"too many failed logins; try again after {until.isoformat()}")


def _user(r) -> User:
    return User(id=r.id, username=r.username, display_name=r.display_name, role=r.role,
                districts=tuple(r.districts or ()), disabled=r.disabled, created_at=r.created_at,
                last_login_at=r.last_login_at)


class UserRepository(Repository):

    def add(self, username: str, role: str, *, password: str | None = None, display_name: str | None = None,
            districts: tuple[str, ...] = ()) -> User:
        if role not in ROLES:
            raise StoreError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if not USERNAME.fullmatch(username or ""):
            raise StoreError("a username is 1-64 ASCII letters, digits, '.', '-' or '_', starting with a letter or digit")
        if role == "analyst" and not districts:
            raise StoreError("an analyst works for one or more districts: name them")
        if password is not None:
            security.check_strength(password, username)
        elif role != "integration":
            raise StoreError(f"a {role} needs a password")
        with self.db.begin() as conn:
            if conn.execute(select(t.users.c.id).where(t.users.c.username == username)).first():
                raise UserExists(f"user {username!r} exists")
            conn.execute(t.users.insert().values(
                username=username, display_name=display_name or username, role=role, districts=list(districts),
                password_hash=security.hash_secret(password) if password else None, disabled=False,
                failed_logins=0, created_at=utcnow()))
        return self.get(username)

    def get(self, username: str) -> User:
        with self.db.connect() as conn:
            r = conn.execute(select(t.users).where(t.users.c.username == username)).first()
        if r is None:
            raise UserNotFound(f"no user {username!r}")
        return _user(r)

    def by_id(self, user_id: int) -> User | None:
        with self.db.connect() as conn:
            r = conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
        return None if r is None else _user(r)

    def list(self) -> list[User]:
        with self.db.connect() as conn:
            return [_user(r) for r in conn.execute(select(t.users).order_by(t.users.c.username))]

    def set_disabled(self, username: str, disabled: bool = True) -> User:
        user = self.get(username)
        with self.db.begin() as conn:
            conn.execute(update(t.users).where(t.users.c.id == user.id).values(disabled=disabled))
            if disabled:  # a disabled user's sessions and tokens stop working at once
                conn.execute(delete(t.web_sessions).where(t.web_sessions.c.user_id == user.id))
                conn.execute(update(t.api_tokens).where(t.api_tokens.c.user_id == user.id).values(revoked=True))
        return self.get(username)

    def set_password(self, username: str, password: str) -> None:
        """A new password; the user's open web sessions end (whoever knew the old one is out)."""
        security.check_strength(password, username)
        user = self.get(username)
        with self.db.begin() as conn:
            conn.execute(update(t.users).where(t.users.c.id == user.id).values(
                password_hash=security.hash_secret(password), failed_logins=0, locked_until=None))
            conn.execute(delete(t.web_sessions).where(t.web_sessions.c.user_id == user.id))

    def authenticate(self, username: str, password: str, *, max_failures: int, lockout: timedelta,
                     now: datetime | None = None) -> User | None:
        """The user when the password is right; None otherwise. After `max_failures` failures in a
        row the account is locked for `lockout` (LoginLocked), right password or not."""
        now = now or utcnow()
        with self.db.connect() as conn:
            r = conn.execute(select(t.users).where(t.users.c.username == username)).first()
        if r is None or r.disabled:
            security.dummy_verify()
            return None
        if r.locked_until is not None and r.locked_until > now:
            raise LoginLocked(r.locked_until)
        ok = security.verify_secret(r.password_hash, password)
        with self.db.begin() as conn:
            if ok:
                conn.execute(update(t.users).where(t.users.c.id == r.id).values(
                    failed_logins=0, locked_until=None, last_login_at=now))
            else:
                failures = r.failed_logins + 1
                locked = now + lockout if failures >= max_failures else None
                conn.execute(update(t.users).where(t.users.c.id == r.id).values(
                    failed_logins=0 if locked else failures, locked_until=locked))
        return _user(r) if ok else None

    # --- web sessions ----------------------------------------------------------------------

    def open_session(self, user: User, lifetime: timedelta) -> str:
        token, token_hash = security.new_session_token()
        now = utcnow()
        with self.db.begin() as conn:
            conn.execute(delete(t.web_sessions).where(t.web_sessions.c.expires_at < now))
            conn.execute(t.web_sessions.insert().values(token_hash=token_hash, user_id=user.id, created_at=now,
                                                        expires_at=now + lifetime))
        return token

    def session_user(self, token: str) -> User | None:
        q = (select(t.users).join(t.web_sessions, t.web_sessions.c.user_id == t.users.c.id)
             .where(t.web_sessions.c.token_hash == security.session_hash(token),
                    t.web_sessions.c.expires_at > utcnow(), t.users.c.disabled.is_(False)))
        with self.db.connect() as conn:
            r = conn.execute(q).first()
        return None if r is None else _user(r)

    def close_session(self, token: str) -> None:
        with self.db.begin() as conn:
            conn.execute(delete(t.web_sessions).where(t.web_sessions.c.token_hash == security.session_hash(token)))

    # --- API tokens ------------------------------------------------------------------------

    def add_token(self, username: str, name: str) -> str:
        """A new API token for the user; the full token is returned once and never stored."""
        user = self.get(username)
        token_id, token, secret_hash = security.new_api_token()
        with self.db.begin() as conn:
            conn.execute(t.api_tokens.insert().values(id=token_id, user_id=user.id, name=name[:100],
                                                      token_hash=secret_hash, created_at=utcnow(), revoked=False))
        return token

    def token_user(self, token: str) -> User | None:
        token_id, _, secret = token.partition(".")
        if not token_id or not secret or len(token_id) > 32:
            return None
        q = (select(t.users, t.api_tokens.c.token_hash).join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
             .where(t.api_tokens.c.id == token_id, t.api_tokens.c.revoked.is_(False), t.users.c.disabled.is_(False)))
        with self.db.connect() as conn:
            r = conn.execute(q).first()
        if r is None:
            security.dummy_verify()
            return None
        return _user(r) if security.verify_secret(r.token_hash, secret) else None
