"""Signed webhook pushes (Standard Webhooks): an order is a JSON POST the receiver can verify.

Contract: the body is `order.payload()` as compact UTF-8 JSON, signed over those exact bytes
with the target's secret; headers `webhook-id` (= `base.send_key(order)`, "<order id>:<send>",
the same on every retry of one send, so the receiver deduplicates by it), `webhook-timestamp`
(the time of this attempt: a retry is signed afresh, so it stays inside the receiver's
replay window), `webhook-signature`, `content-type: application/json`. The receiver answers
2xx with `{"id": "<its id>"}` (an empty 2xx body is taken as filed without an id). Statuses
come back as signed callbacks to our endpoint (`delivery.signing.verify_callback`), so
`updates` has nothing to pull.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from core.config import DeliveryTarget
from core.orders import WorkOrder
from delivery.errors import BODY_LIMIT, ProtocolError
from delivery.signing import sign
from delivery.targets.base import HttpTarget, Sent, send_key


def body_of(order: WorkOrder) -> bytes:
    """The bytes pushed (and signed) for an order."""
    return json.dumps(order.payload(), ensure_ascii=False, separators=(",", ":")).encode()


class WebhookTarget(HttpTarget):
    kind = "webhook"

    def __init__(self, name: str, config: DeliveryTarget, webhook: Webhook,
                 transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        super().__init__(name, config, transport)
        self._webhook = webhook
        self._clock = clock

    def send(self, order: WorkOrder) -> Sent:
        body = body_of(order)
        headers = {**sign(self._webhook, send_key(order), body, self._clock()),
                   "content-type": "application/json"}
        # The configured URL as written: httpx would add a slash to it as a base_url.
        response = self.request("POST", self.config.url, content=body, headers=headers)
        if not response.content.strip():
            return Sent(None)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ProtocolError(f"{self.name}: POST: expected a JSON object like {{\"id\": ...}}",
                                status=response.status_code, body=response.text[:BODY_LIMIT])
        remote_id = answer.get("id")
        return Sent(str(remote_id) if remote_id not in (None, "") else None)
