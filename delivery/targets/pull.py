"""The pull target: nothing is pushed; the integration fetches orders itself.

Contract: `send` only reports the order queued for pull (`Sent(None, None)`); the order reaches
the receiver when the integration role reads it from `GET /work-orders/changes?cursor=…` (an
opaque, monotonic cursor; at-least-once, so the integration deduplicates by order id), and the
integration posts statuses back to us. So `delivers_on_read` is True, `updates` has nothing to
pull and there is no token to resolve.
"""
from __future__ import annotations

from core.orders import WorkOrder
from delivery.targets.base import Sent, Target


class PullTarget(Target):
    kind = "pull"
    delivers_on_read = True

    def send(self, order: WorkOrder) -> Sent:
        return Sent(None, None, "queued for pull")
