"""Secrets at rest: argon2 for passwords and API token secrets (argon2-cffi), SHA-256 for
256-bit session tokens, whose entropy makes a slow hash pointless."""
from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_PASSWORD = 10


class WeakPassword(ValueError):
    """A password too short or too plain to accept."""


def check_strength(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD} characters")
    if username and username.lower() in password.lower():
        raise WeakPassword("a password must not contain the username")
    if len(set(password)) < 5:
        raise WeakPassword("a password needs more different characters")


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def dummy_verify() -> None:
    """Spend a verification's time for an unknown user, so timing does not tell who exists."""
    verify_secret(_DUMMY, "not the password")


def new_session_token() -> tuple[str, str]:
    """(token for the cookie, its hash for the store)."""
    token = secrets.token_urlsafe(32)
    return token, session_hash(token)


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_token() -> tuple[str, str, str]:
    """(token id, full token `id.secret` shown once, argon2 hash of the secret)."""
    token_id = "rt_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{token_id}.{secret}", hash_secret(secret)


def new_password() -> str:
    return secrets.token_urlsafe(12)


_DUMMY = _hasher.hash("dummy password for timing")
