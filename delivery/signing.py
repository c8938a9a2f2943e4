"""Standard Webhooks signatures, both ways: the orders we push and the status callbacks we take.

`sign` gives the three headers of a push (`webhook-id`, `webhook-timestamp`,
`webhook-signature`); `verify_callback` checks a callback to our status endpoint and returns
its JSON object or raises `SignatureError` with a reason. The crypto is the maintained
`standardwebhooks` library's; on top of it we enforce our own replay window, because the
library's tolerance is fixed at five minutes either way.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from math import floor

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from delivery.errors import DeliveryConfigError

MIN_SECRET_BYTES = 24  # the Standard Webhooks spec: secrets of 24 to 64 random bytes


class SignatureError(Exception):
    """A signed message was refused. `reason`: missing_headers, bad_timestamp, too_old,
    too_new, bad_signature (a tampered body and a wrong secret look the same: that is what an
    HMAC is for), or not_json (signed, but not a JSON object)."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def load_secret(value: str | None, variable: str) -> Webhook:
    """A signer for the secret held in environment variable `variable` (its value never shown)."""
    if not value:
        raise DeliveryConfigError(f"environment variable {variable} is not set (a Standard Webhooks "
                                  "secret: whsec_ followed by base64)")
    raw = value.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < MIN_SECRET_BYTES:
        raise DeliveryConfigError(
            f"environment variable {variable} is not a usable Standard Webhooks secret: whsec_ followed by "
            f"base64 of at least {MIN_SECRET_BYTES} random bytes, e.g. python -c \"import base64, os; "
            "print('whsec_' + base64.b64encode(os.urandom(32)).decode())\"")
    return Webhook(value)


def sign(webhook: Webhook, msg_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """The headers that make `body` a signed message `msg_id` sent at `at` (default: now)."""
    at = at or datetime.now(UTC)
    return {"webhook-id": msg_id, "webhook-timestamp": str(floor(at.timestamp())),
            "webhook-signature": webhook.sign(msg_id, at, body)}


def verify_callback(secret: str, body: bytes, headers: Mapping[str, str], max_age_seconds: float,
                    now: datetime | None = None) -> dict:
    """The JSON object of a status callback signed with `secret`, sent at most `max_age_seconds`
    ago (and not more than that ahead of our clock). Raises SignatureError otherwise."""
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not lower.get(h)]
    if missing:
        raise SignatureError("missing_headers", "missing " + ", ".join(missing))
    try:
        sent_at = datetime.fromtimestamp(int(lower["webhook-timestamp"]), UTC)
    except (ValueError, OverflowError, OSError):
        raise SignatureError("bad_timestamp", "webhook-timestamp is not a Unix time in seconds") from None
    webhook = Webhook(secret)  # a malformed secret is our configuration's fault: let it raise
    try:
        payload = webhook.verify(body, lower)
    except WebhookVerificationError as exc:
        text = str(exc).lower()
        reason = "too_old" if "too old" in text else "too_new" if "too new" in text else "bad_signature"
        raise SignatureError(reason, str(exc)) from None
    except ValueError:  # signed correctly, but not JSON
        raise SignatureError("not_json", "the signed body is not JSON") from None
    age = ((now or datetime.now(UTC)) - sent_at).total_seconds()
    if age > max_age_seconds:
        raise SignatureError("too_old", f"sent {age:.0f} s ago; the replay window is {max_age_seconds:.0f} s")
    if -age > max_age_seconds:
        raise SignatureError("too_new", f"dated {-age:.0f} s ahead of our clock")
    if not isinstance(payload, dict):
        raise SignatureError("not_json", "the signed body is not a JSON object")
    return payload
