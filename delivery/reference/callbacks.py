"""Status callbacks from the reference system to Civic Radar, signed per Standard Webhooks.

One background thread sends them in order of due time: a JSON POST to
`{base}/integrations/orders/{order_id}/status`, `webhook-id` = the update id, signed (again at
every attempt, so a late retry is not refused as old) with the callback secret by the
`standardwebhooks` library. A non-2xx answer or a connection error is retried `attempts` times
in all, `backoff × 2^n` seconds apart (capped at 2 s); then the callback is given up and logged.
The fault plan's `duplicate_callbacks` and `reorder_callbacks` apply here (see faults.py).
"""
from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from math import floor
from urllib.parse import quote

import httpx
from standardwebhooks import Webhook

from delivery.reference.faults import FaultDice


@dataclass(frozen=True)
class Callback:
    update_id: str
    order_id: str
    body: bytes
    attempt: int = 0
    duplicate: bool = False   # the fault's second copy
    reordered: bool = False   # was held back by the fault


class CallbackSender:
    """Queue and send callbacks; `done(update_id, order_id, ok)` is called once per update when its
    callback was acknowledged (ok) or given up."""

    def __init__(self, base: str, secret: str, dice: Callable[[], FaultDice], done: Callable[[str, str, bool], None],
                 paused: Callable[[], bool], attempts: int = 5, backoff: float = 0.2, timeout: float = 5.0) -> None:
        self._base = base.rstrip("/")
        self._webhook = Webhook(secret)
        self._dice = dice
        self._done = done
        self._paused = paused
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._timeout = timeout
        self._cond = threading.Condition()
        self._heap: list = []
        self._held: dict[str, tuple[Callback, float]] = {}   # order id -> (held callback, release by)
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._running = False
        self.log: list[dict] = []   # every attempt: update_id, order_id, attempt, outcome, duplicate, reordered
        self.counts = {"sent": 0, "failed_attempts": 0, "given_up": 0, "duplicated": 0, "reordered": 0}

    def url_for(self, order_id: str) -> str:
        return f"{self._base}/integrations/orders/{quote(order_id, safe='')}/status"

    def enqueue(self, update_id: str, order_id: str, body: dict) -> None:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        self._push(Callback(update_id, order_id, raw), 0.0)

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + len(self._held)

    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name="reference-callbacks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending; what was queued is forgotten (the system re-queues from its records)."""
        with self._cond:
            self._running = False
            self._heap.clear()
            self._held.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._timeout + 2)
        self._thread = None

    # -- the sending thread ---------------------------------------------------------------

    def _push(self, cb: Callback, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), cb))
            self._cond.notify()

    def _next(self) -> Callback | None:
        """The next callback due (None: stopped); releases held ones whose time is up."""
        with self._cond:
            while self._running:
                now = time.monotonic()
                for order_id, (cb, until) in list(self._held.items()):
                    if until <= now:
                        del self._held[order_id]
                        heapq.heappush(self._heap, (now, next(self._seq), cb))
                if self._heap and self._heap[0][0] <= now and not self._paused():
                    return heapq.heappop(self._heap)[2]
                waits = [0.05] if self._paused() else []
                if self._heap:
                    waits.append(self._heap[0][0] - now)
                waits += [until - now for _, until in self._held.values()]
                self._cond.wait(max(0.001, min(waits)) if waits else None)
            return None

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout, headers={"user-agent": "reference-work-order-system/1"}) as client:
            while (cb := self._next()) is not None:
                dice = self._dice()
                if (cb.attempt == 0 and not cb.duplicate and not cb.reordered
                        and dice.reorder_callback()):
                    with self._cond:
                        if cb.order_id not in self._held:
                            self._held[cb.order_id] = (replace(cb, reordered=True),
                                                       time.monotonic() + dice.plan.reorder_hold_seconds)
                            self.counts["reordered"] += 1
                            continue
                ok = self._send(client, cb)
                if ok or cb.attempt + 1 >= self._attempts:
                    if not ok:
                        self.counts["given_up"] += 1
                    if not cb.duplicate:
                        self._done(cb.update_id, cb.order_id, ok)
                    self._release(cb.order_id, cb)
                    if ok and not cb.duplicate and dice.duplicate_callback():
                        self.counts["duplicated"] += 1
                        self._push(replace(cb, attempt=0, duplicate=True), 0.0)
                else:
                    self._push(replace(cb, attempt=cb.attempt + 1), min(2.0, self._backoff * 2 ** cb.attempt))

    def _release(self, order_id: str, after: Callback) -> None:
        """The held callback of this order goes now, after `after` (which was the next one)."""
        with self._cond:
            held = self._held.get(order_id)
            if held is not None and held[0].update_id != after.update_id:
                del self._held[order_id]
                heapq.heappush(self._heap, (time.monotonic(), next(self._seq), held[0]))
                self._cond.notify()

    def _send(self, client: httpx.Client, cb: Callback) -> bool:
        now = datetime.now(UTC)
        headers = {"content-type": "application/json", "webhook-id": cb.update_id,
                   "webhook-timestamp": str(floor(now.timestamp())),
                   "webhook-signature": self._webhook.sign(cb.update_id, now, cb.body)}
        try:
            response = client.post(self.url_for(cb.order_id), content=cb.body, headers=headers)
            outcome: int | str = response.status_code
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            outcome, ok = f"{type(exc).__name__}: {exc}", False
        with self._cond:
            self.counts["sent" if ok else "failed_attempts"] += 1
            self.log.append({"update_id": cb.update_id, "order_id": cb.order_id, "attempt": cb.attempt + 1,
                             "outcome": outcome, "duplicate": cb.duplicate, "reordered": cb.reordered,
                             "at": now.isoformat()})
        return ok
