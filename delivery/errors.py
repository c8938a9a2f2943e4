"""What can go wrong when a target talks to a receiver, as a few named errors.

Every httpx exception and every non-2xx answer becomes one of them (`from_transport_error`,
`from_response`), so the worker decides on the class alone: retry (`Unavailable`,
`RateLimited`, `ProtocolError`), or stop and show a person (`Rejected`). A retried send is safe
because every send carries its idempotency key.
"""
from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar

import httpx

BODY_LIMIT = 2000  # characters of a receiver's answer kept on an error (and on the order)


class DeliveryConfigError(Exception):
    """A target cannot be built: a missing environment variable, an unusable secret."""


class DeliveryError(Exception):
    """A delivery attempt failed; `retryable` says whether trying again can help."""

    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None,
                 messages: tuple[str, ...] = ()):
        super().__init__(message)
        self.status = status          # the HTTP status, when there was an answer
        self.body = body              # the answer's text, cut to BODY_LIMIT
        self.messages = messages      # the receiver's own error messages (Open311 errors body)


class Unavailable(DeliveryError):
    """The receiver could not be reached or failed (refused, timeout, 5xx, 408): retry later."""


class RateLimited(DeliveryError):
    """The receiver asked us to slow down (429, or 503 with Retry-After): retry after `retry_after`."""

    def __init__(self, message: str, *, retry_after: float | None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after  # seconds, None when the receiver did not say


class Rejected(DeliveryError):
    """The receiver refused the order for good (4xx): it needs a person, not a retry."""

    retryable: ClassVar[bool] = False


class ProtocolError(DeliveryError):
    """An answer we cannot parse or did not expect; retried, as the receiver may recover."""


def from_transport_error(exc: httpx.HTTPError, target: str) -> DeliveryError:
    """The named error for an httpx exception raised before any answer arrived."""
    where = _where(target, exc)
    if isinstance(exc, httpx.TimeoutException):
        return Unavailable(f"{where}: timed out ({type(exc).__name__})")
    # A connection refused or reset, a proxy failing, or a server closing mid-answer (a
    # restart): the receiver is away, not wrong.
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        return Unavailable(f"{where}: {type(exc).__name__}: {exc}")
    # The rest (bad URL, unsupported scheme, undecodable content, redirects, a local protocol
    # error) are ours or the answer's to fix: retried but reported as a protocol problem.
    return ProtocolError(f"{where}: {type(exc).__name__}: {exc}")


def from_response(response: httpx.Response, target: str, messages: tuple[str, ...] = (),
                  now: datetime | None = None) -> DeliveryError | None:
    """The named error for a non-2xx answer (None for 2xx). `messages` are the receiver's own
    error messages (an Open311 errors body), shown in the error's text."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    body = _text(response)
    said = "; ".join(messages) if messages else _excerpt(body)
    message = f"{_where(target, response)}: {status} {response.reason_phrase}" + (f": {said}" if said else "")
    kw = dict(status=status, body=body, messages=messages)
    retry_after = retry_after_seconds(response.headers.get("retry-after"), now)
    if status == 429 or (status == 503 and retry_after is not None):
        wait = f" (retry after {retry_after:.0f} s)" if retry_after is not None else ""
        return RateLimited(message + wait, retry_after=retry_after, **kw)
    # 409: with an Idempotency-Key it means "the first request with this key is still being
    # processed" (IETF httpapi idempotency-key draft): the answer is coming, try again.
    if status >= 500 or status in (408, 409):
        return Unavailable(message, **kw)
    if 400 <= status < 500:
        return Rejected(message, **kw)
    return ProtocolError(message, **kw)  # 1xx/3xx: we follow no redirect with an order in hand


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _where(target: str, source: httpx.HTTPError | httpx.Response) -> str:
    # Method and path only: a query or form body may carry the api_key.
    try:
        request = source.request
    except RuntimeError:  # an exception or response made without a request
        return target
    return f"{target}: {request.method} {request.url.path}"


def _text(response: httpx.Response) -> str:
    try:
        return response.text[:BODY_LIMIT]
    except (UnicodeDecodeError, LookupError):
        return response.content[:BODY_LIMIT].decode("utf-8", "replace")


def _excerpt(body: str, limit: int = 200) -> str:
    one_line = " ".join(body.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
