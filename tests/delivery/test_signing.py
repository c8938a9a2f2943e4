"""Standard Webhooks signatures in both directions: the orders we push verify with the
receiver's secret (and the library refuses them tampered, old or under another secret); the
status callbacks we take are refused tampered, old, early, unsigned or under another secret."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from core.config import DeliveryTarget
from delivery.errors import DeliveryConfigError, Unavailable
from delivery.signing import SignatureError, load_secret, sign, verify_callback
from delivery.targets.base import Sent, build_target
from delivery.targets.webhook import WebhookTarget, body_of
from tests.delivery.sample_order import sample_order

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
URL = "http://desk.test/hooks/work-orders"
CONFIG = DeliveryTarget(kind="webhook", url=URL, secret_env="RADAR_WO_WEBHOOK_SECRET")


def webhook(handler, clock=None) -> WebhookTarget:
    if clock is not None:
        return WebhookTarget("district_webhook", CONFIG, load_secret(SECRET, "X"), httpx.MockTransport(handler),
                             clock=clock)
    return build_target("district_webhook", CONFIG, {"RADAR_WO_WEBHOOK_SECRET": SECRET}, httpx.MockTransport(handler))


def capture(answer=None):
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return answer if answer is not None else httpx.Response(200, json={"id": "D-1"})
    return seen, handler


# --- our pushes ---------------------------------------------------------------------------

def test_a_push_verifies_with_the_receivers_secret():
    seen, handler = capture()
    order = sample_order()
    assert webhook(handler).send(order) == Sent("D-1")
    [request] = seen
    assert str(request.url) == URL  # exactly as configured, no slash added
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == f"{order.id}:1"
    payload = Webhook(SECRET).verify(request.content, dict(request.headers))
    assert payload == json.loads(json.dumps(order.payload())) and payload["order_id"] == order.id
    # our own checker reads the same format: one contract both ways
    assert verify_callback(SECRET, request.content, request.headers, 300) == payload


def test_webhook_id_is_stable_across_retries_of_one_send_and_new_for_a_resend():
    seen, handler = capture()
    target = webhook(handler)
    order = sample_order()
    target.send(order)
    target.send(order)
    target.send(sample_order(sends=2))
    ids = [r.headers["webhook-id"] for r in seen]
    assert ids[0] == ids[1] == f"{order.id}:1" and ids[2] == f"{order.id}:2"


@pytest.mark.parametrize("spoil", ["tampered", "old", "wrong_secret"])
def test_the_library_refuses_a_spoiled_push(spoil):
    clock = (lambda: datetime.now(UTC) - timedelta(minutes=10)) if spoil == "old" else (lambda: datetime.now(UTC))
    seen, handler = capture()
    webhook(handler, clock=clock).send(sample_order())
    body, headers = seen[0].content, dict(seen[0].headers)
    if spoil == "tampered":
        body = body.replace("福田区".encode(), "南山区".encode())
    secret = OTHER_SECRET if spoil == "wrong_secret" else SECRET
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_a_push_answer_is_read_and_failures_are_named():
    assert webhook(lambda r: httpx.Response(202)).send(sample_order()) == Sent(None)
    assert webhook(lambda r: httpx.Response(200, json={"id": 42})).send(sample_order()) == Sent("42")
    with pytest.raises(Unavailable):
        webhook(lambda r: httpx.Response(500)).send(sample_order())


def test_the_signed_body_is_the_order_payload_as_sent():
    seen, handler = capture()
    order = sample_order()
    webhook(handler).send(order)
    assert seen[0].content == body_of(order)
    assert "深南大道" in seen[0].content.decode()  # UTF-8, not \\u escapes


# --- callbacks to us ----------------------------------------------------------------------

CALLBACK = json.dumps({"order_id": "WO1", "status": "accepted", "at": "2026-11-20T12:00:00+08:00",
                       "update_id": "cb-1"}).encode()


def signed(body=CALLBACK, secret=SECRET, at=None, msg_id="cb-1"):
    return sign(Webhook(secret), msg_id, body, at or datetime.now(UTC))


def test_a_good_callback_is_accepted():
    assert verify_callback(SECRET, CALLBACK, signed(), 300)["status"] == "accepted"
    mixed_case = {k.title(): v for k, v in signed().items()}
    assert verify_callback(SECRET, CALLBACK, mixed_case, 300)["order_id"] == "WO1"


@pytest.mark.parametrize("case, reason", [
    ("tampered", "bad_signature"),
    ("wrong_secret", "bad_signature"),
    ("older_than_the_library_allows", "too_old"),
    ("older_than_our_window", "too_old"),
    ("from_the_future", "too_new"),
    ("ahead_of_our_window", "too_new"),
    ("missing_signature", "missing_headers"),
    ("bad_timestamp", "bad_timestamp"),
])
def test_a_bad_callback_is_refused_with_its_reason(case, reason):
    now = datetime.now(UTC)
    body, headers, window = CALLBACK, signed(), 300
    if case == "tampered":
        body = CALLBACK.replace(b"accepted", b"resolved")
    elif case == "wrong_secret":
        headers = signed(secret=OTHER_SECRET)
    elif case == "older_than_the_library_allows":
        headers = signed(at=now - timedelta(minutes=10))
    elif case == "older_than_our_window":  # the library's 5 minutes would pass it
        headers, window = signed(at=now - timedelta(seconds=120)), 60
    elif case == "from_the_future":
        headers = signed(at=now + timedelta(minutes=10))
    elif case == "ahead_of_our_window":
        headers, window = signed(at=now + timedelta(seconds=120)), 60
    elif case == "missing_signature":
        headers.pop("webhook-signature")
    elif case == "bad_timestamp":
        headers["webhook-timestamp"] = "yesterday"
    with pytest.raises(SignatureError) as exc:
        verify_callback(SECRET, body, headers, window)
    assert exc.value.reason == reason


def test_a_replayed_callback_outside_the_window_is_refused_even_when_signed_correctly():
    headers = signed(at=datetime.now(UTC) - timedelta(seconds=61))
    assert verify_callback(SECRET, CALLBACK, headers, 300)  # inside 300 s
    with pytest.raises(SignatureError, match="too_old"):
        verify_callback(SECRET, CALLBACK, headers, 60)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_a_signed_body_that_is_not_a_json_object_is_refused(body):
    with pytest.raises(SignatureError) as exc:
        verify_callback(SECRET, body, signed(body=body), 300)
    assert exc.value.reason == "not_json"


# --- secrets ------------------------------------------------------------------------------

def test_a_missing_or_weak_secret_is_a_config_error_naming_the_variable_not_the_value():
    with pytest.raises(DeliveryConfigError, match="RADAR_WO_WEBHOOK_SECRET is not set"):
        build_target("district_webhook", CONFIG, {})
    weak = "whsec_" + base64.b64encode(b"short").decode()
    for bad in (weak, "hunter2 is my password"):
        with pytest.raises(DeliveryConfigError, match="RADAR_WO_WEBHOOK_SECRET") as exc:
            build_target("district_webhook", CONFIG, {"RADAR_WO_WEBHOOK_SECRET": bad})
        assert bad not in str(exc.value)
