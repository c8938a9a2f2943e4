"""A local stand-in for the city's 12345 work-order platform: Open311 GeoReport v2, a signed
webhook intake, signed status callbacks, an automatic order lifecycle and fault modes.

Contract (delivery/reference/__init__.py has the overview):
- `POST /open311/v2/requests.json|xml` (form-encoded; api_key, service_code, lat/long or
  address_string or address_id, description, media_url, attribute[radar_order_id],
  attribute[radar_send], attribute[radar_unit]); `GET services`, `services/{code}`,
  `requests`, `requests/{id}`, `tokens/{token}`, `servicerequestupdates` (.json or .xml).
- `POST /webhook/orders` (also `/webhooks/work-orders`): a Standard Webhooks signed
  `WorkOrder.payload()`; 201 `{"id"}` when new, 200 `{"id"}` for a repeat, 401 when refused.
- Idempotency: a filing's key is its `Idempotency-Key` header, else (Open311)
  `attribute[radar_order_id]` plus `:radar_send` when given, else (webhook) `order_id:send`.
  The same key always answers the same request and never files a second one.
- Every stored request is written to `data_dir/reference-orders.json` (atomically) before it
  is acknowledged; `restart()` reloads from there, or forgets everything without a data_dir.
Stdlib HTTP server, 127.0.0.1 only; logs nothing (read `received`, `fault_counts`, `callback_log`).
"""
from __future__ import annotations

import copy
import os
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from core.orders import OrderStatus
from delivery.reference import open311
from delivery.reference.callbacks import CallbackSender
from delivery.reference.faults import NONE, Decision, FaultDice, FaultPlan
from delivery.reference.handler import (WEBHOOK_PATHS, Abort, Response, Server, handler_for, json_response,
                                        o311_error, o311_response)
from delivery.reference.lifecycle import (DESCRIPTIONS, STEP, Ledger, OrderRecord, Scheduler, Update, iso,
                                          next_status, parse_time, utcnow, write_atomically)

HOST = "127.0.0.1"
DATA_FILE = "reference-orders.json"
DEFAULT_SERVICES: tuple[tuple[str, str, str], ...] = (
    ("JT001", "道路坑洼破损", "交通运输"),
    ("JT003", "井盖缺失破损", "交通运输"),
    ("ST001", "建筑施工噪声", "生态环境"),
    ("CG001", "生活垃圾堆积", "城市管理"),
    ("SW001", "停水", "水务"),
)
_OPEN311 = re.compile(r"^/open311/v2/(services|requests|tokens|servicerequestupdates)(?:/([^/]+?))?\.(json|xml)$")


class ReferenceWorkOrderSystem:
    """Use as a context manager (or start/stop). All arguments are keyword-only.

    speed: seconds per lifecycle step (× STEP); None = statuses move only by `set_status`.
    token_mode: True (every Open311 filing answers a token), a share 0..1, or False.
    return_units / return_items: requests for these units (Open311 attribute[radar_unit] or the
    webhook's unit) or items (service_code) are returned instead of accepted; `return_to` maps
    a unit or item to the unit it belongs to (the update's external_status_code / unit).
    """

    def __init__(self, *, port: int = 0, api_key: str = "reference-api-key", webhook_secret: str | None = None,
                 callback_base: str | None = None, callback_secret: str | None = None,
                 services: Sequence[tuple[str, str, str]] = DEFAULT_SERVICES, faults: FaultPlan | None = None,
                 speed: float | None = 1.0, data_dir: str | Path | None = None,
                 token_mode: bool | float = False, token_delay: float = 0.2, token_pending_404: bool = False,
                 return_units: Iterable[str] = (), return_items: Iterable[str] = (),
                 return_to: Mapping[str, str] | None = None, auto_close: bool = True,
                 agency: str = "12345 市民服务热线", callback_attempts: int = 5, callback_backoff: float = 0.2,
                 callback_timeout: float = 5.0, seed: int = 0) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self._webhook = Webhook(webhook_secret) if webhook_secret else None
        self.callback_base = callback_base
        self.callback_secret = callback_secret
        self.services = {code: (code, name, group) for code, name, group in services}
        self.speed = speed
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.token_share = 1.0 if token_mode is True else float(token_mode or 0.0)
        self.token_delay = token_delay
        self.token_pending_404 = token_pending_404
        self.return_units = frozenset(return_units)
        self.return_items = frozenset(return_items)
        self.return_to = dict(return_to or {})
        self.auto_close = auto_close
        self.agency = agency
        self._cb_attempts, self._cb_backoff, self._cb_timeout = callback_attempts, callback_backoff, callback_timeout
        self._port = port
        self._lock = threading.RLock()        # the ledger, counters, epoch
        self._write_lock = threading.Lock()   # the data file (taken before _lock)
        self._ctl = threading.RLock()         # start / stop / down / up / restart
        self._dice = FaultDice(faults or FaultPlan())
        self._tokens_rng = random.Random(f"tokens:{seed}")
        # Update ids are unique across instances and runs: one order returned by one system and
        # sent to another must not see its updates taken for repeats (Civic Radar keys them by
        # order and update id).
        self._tag = os.urandom(3).hex()
        self._ledger = self._load()
        self._changes = 0                     # ledger changes made ...
        self._written = 0                     # ... and on disk
        self._gens: dict[str, int] = {}       # remote id -> lifecycle generation (stale timers do nothing)
        self._epoch = 0
        self._wake = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: Server | None = None
        self._thread: threading.Thread | None = None
        self._down = False
        self._down_timer: threading.Timer | None = None
        self._started = False
        self._scheduler = Scheduler(self._fire)
        self._sender: CallbackSender | None = None
        self._callback_log: list[dict] = []
        self._callback_counts: Counter = Counter()
        self.received = 0          # filing POSTs that reached the handler (repeats and faulted ones included)
        self.duplicates = 0        # filings answered idempotently with an existing request
        self.fault_counts: Counter = Counter()   # drop, error, retry_after, timeout_before, timeout_after, slow
        self.requests_seen = 0     # every API request that reached the handler

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> "ReferenceWorkOrderSystem":
        with self._ctl:
            if self._started:
                return self
            self._start_workers()
            self._listen()
            self._started = True
            return self

    def stop(self) -> None:
        with self._ctl:
            if not self._started:
                return
            self._cancel_down_timer()
            self._unlisten()
            self._stop_workers()
            self.flush()
            self._started = self._down = False

    def __enter__(self) -> "ReferenceWorkOrderSystem":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def down(self, seconds: float | None = None) -> None:
        """Stop listening (connections are refused, open ones cut, in-flight requests get no
        answer) and listen again on the same port after `seconds` (None: until `up()`).
        Returns at once. Statuses keep moving meanwhile; callbacks wait until it is up."""
        with self._ctl:
            if not self._started:
                raise RuntimeError("the reference system is not started")
            self._cancel_down_timer()
            if not self._down:
                self._unlisten()
                self._down = True
            if seconds is not None:
                timer = threading.Timer(seconds, lambda: self._timer_up(timer))
                timer.daemon = True
                self._down_timer = timer
                timer.start()

    def up(self) -> None:
        """Listen again (after `down`) on the same port."""
        with self._ctl:
            self._cancel_down_timer()
            if self._started and self._down:
                self._listen()
                self._down = False

    def _timer_up(self, timer: threading.Timer) -> None:
        with self._ctl:
            if self._down_timer is timer:   # not cancelled or replaced meanwhile
                self._down_timer = None
                self.up()

    @property
    def is_down(self) -> bool:
        return self._down

    def restart(self) -> None:
        """Stop and start again on the same port. Requests in flight get no answer and are lost
        if not yet stored; queued callbacks and pending lifecycle steps are dropped. With a
        data_dir the stored requests and updates are reloaded from disk (and undelivered
        callbacks queued again); without one everything is forgotten."""
        with self._ctl:
            if not self._started:
                raise RuntimeError("the reference system is not started")
            self._cancel_down_timer()
            if not self._down:
                self._unlisten()
            self._stop_workers()
            with self._write_lock, self._lock:
                fresh = self._load()
                fresh.take_counters(self._ledger)
                self._ledger = fresh
                self._gens.clear()
                self._changes = self._written = 0
            self._start_workers()
            self._listen()
            self._down = False

    def set_faults(self, plan: FaultPlan | None) -> None:
        """Replace the fault plan (its seed restarts the dice)."""
        self._dice = FaultDice(plan or FaultPlan())

    @property
    def faults(self) -> FaultPlan:
        return self._dice.plan

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the reference system is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def open311_url(self) -> str:
        return f"{self.url}/open311/v2/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{WEBHOOK_PATHS[0]}"

    # -- test hooks -----------------------------------------------------------------------

    def orders(self) -> dict[str, OrderRecord]:
        """Order id -> a copy of its latest request (requests filed without an order id: by remote id)."""
        with self._lock:
            out = {oid: copy.deepcopy(self._ledger.latest(oid)) for oid in self._ledger.by_order}
            out.update({r.remote_id: copy.deepcopy(r) for r in self._ledger.records.values() if not r.order_id})
            return out

    def requests(self) -> dict[str, OrderRecord]:
        """Remote id -> a copy of every request (all sends of every order)."""
        with self._lock:
            return copy.deepcopy(self._ledger.records)

    def order(self, ref: str) -> OrderRecord | None:
        """A copy of a request by order id, remote id or idempotency key."""
        with self._lock:
            return copy.deepcopy(self._ledger.find(ref))

    def set_status(self, order_id: str, status: OrderStatus | str, reason: str | None = None,
                   unit: str | None = None, at: datetime | None = None) -> Update:
        """Move a request (by order id: its latest send; or by remote id) to `status` now (or
        at `at`), recorded as an update and called back. The automatic lifecycle, if any,
        goes on from there (returned and closed stop it)."""
        status = OrderStatus(status)
        with self._lock:
            rec = self._ledger.find(order_id)
            if rec is None:
                raise KeyError(f"no request for {order_id!r}")
            if status == OrderStatus.RETURNED:
                reason = reason or DESCRIPTIONS[status]
            upd = self._apply(rec, status, reason=reason, unit=unit, at=at)
            self._schedule_next(rec, 0.0)
        self._after_updates([(rec, upd)])
        return upd

    @property
    def callback_log(self) -> list[dict]:
        """Every callback attempt: update_id, order_id, attempt, outcome (HTTP status or error),
        duplicate, reordered, at."""
        sender = self._sender
        return list(self._callback_log) + (list(sender.log) if sender else [])

    @property
    def callback_counts(self) -> dict[str, int]:
        """sent, failed_attempts, given_up, duplicated, reordered (since construction)."""
        sender = self._sender
        total = Counter(self._callback_counts)
        if sender:
            total.update(sender.counts)
        return dict(total)

    def callbacks_pending(self) -> int:
        sender = self._sender
        return sender.pending() if sender else 0

    def flush(self) -> None:
        """Write every change to the data file now (no-op without a data_dir)."""
        with self._lock:
            target = self._changes
        self._flush(target)

    # -- workers --------------------------------------------------------------------------

    def _start_workers(self) -> None:
        self._scheduler = Scheduler(self._fire)
        self._scheduler.start()
        if self.callback_base and self.callback_secret:
            self._sender = CallbackSender(self.callback_base, self.callback_secret, lambda: self._dice,
                                          self._delivered, lambda: self._down, attempts=self._cb_attempts,
                                          backoff=self._cb_backoff, timeout=self._cb_timeout)
            self._sender.start()
        with self._lock:
            for rec in self._ledger.records.values():
                wait = max(0.0, (rec.visible_at - utcnow()).total_seconds())
                self._schedule_next(rec, wait)
                for upd in rec.updates:
                    if not upd.delivered:
                        self._callback(rec, upd)

    def _stop_workers(self) -> None:
        self._scheduler.stop()
        if self._sender is not None:
            self._sender.stop()
            self._callback_log.extend(self._sender.log)
            self._callback_counts.update(self._sender.counts)
            self._sender = None

    def _load(self) -> Ledger:
        return Ledger.load(self.data_dir / DATA_FILE) if self.data_dir is not None else Ledger()

    # -- listening ------------------------------------------------------------------------

    def _listen(self) -> None:
        handler = handler_for(self)
        last: OSError | None = None
        for _ in range(100):   # the same port again: it may take a moment to be free
            try:
                httpd = Server((HOST, self._port), handler)
                break
            except OSError as exc:
                last = exc
                time.sleep(0.05)
        else:
            raise RuntimeError(f"cannot listen on {HOST}:{self._port} again: {last}")
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="reference-work-orders", daemon=True)
        self._thread.start()

    def _unlisten(self) -> None:
        """Close the listening socket and cut every open connection; in-flight requests abort."""
        with self._lock:
            self._epoch += 1
            self._wake.set()
            self._wake = threading.Event()
            conns = list(self._conns)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def _cancel_down_timer(self) -> None:
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None

    # -- persistence ----------------------------------------------------------------------

    def _changed(self, rec: OrderRecord) -> int:
        """Mark a request changed (lock held); the change number to flush up to."""
        self._ledger.dirty.add(rec.remote_id)
        self._changes += 1
        return self._changes

    def _flush(self, upto: int) -> None:
        """Group commit: one write covers every change made before it."""
        if self.data_dir is None:
            return
        with self._write_lock:
            with self._lock:
                if self._written >= upto:
                    return
                text, at = self._ledger.to_text(), self._changes
            write_atomically(self.data_dir / DATA_FILE, text)
            with self._lock:
                self._written = max(self._written, at)

    # -- the lifecycle --------------------------------------------------------------------

    def _apply(self, rec: OrderRecord, status: OrderStatus, reason: str | None = None, unit: str | None = None,
               at: datetime | None = None) -> Update:
        """Record a status step (lock held); bumps the request's generation."""
        when = at or utcnow()
        if at is None and rec.updates and when <= rec.updates[-1].at:
            when = rec.updates[-1].at + timedelta(microseconds=1)
        upd = Update(f"U{self._ledger.next_update:07d}-{self._tag}", status, when, DESCRIPTIONS.get(status, status.value),
                     reason, unit, delivered=not (rec.order_id and self.callback_base and self.callback_secret))
        self._ledger.next_update += 1
        rec.updates.append(upd)
        rec.status = status
        self._gens[rec.remote_id] = self._gens.get(rec.remote_id, 0) + 1
        self._changed(rec)
        return upd

    def _schedule_next(self, rec: OrderRecord, wait: float) -> None:
        """Schedule the request's next automatic step after `wait` + its step time (lock held)."""
        if self.speed is None:
            return
        following = next_status(rec.status, self.auto_close)
        if following is None:
            return
        gen = self._gens.setdefault(rec.remote_id, 0)
        self._scheduler.at(wait + self.speed * STEP[following], (rec.remote_id, gen, following))

    def _fire(self, due: list[tuple[str, int, OrderStatus]]) -> None:
        done: list[tuple[OrderRecord, Update]] = []
        with self._lock:
            for remote_id, gen, status in due:
                rec = self._ledger.records.get(remote_id)
                if rec is None or self._gens.get(remote_id, 0) != gen:
                    continue
                reason = unit = None
                if status == OrderStatus.ACCEPTED and self._returned(rec):
                    status = OrderStatus.RETURNED
                    unit = self.return_to.get(rec.unit or "") or self.return_to.get(rec.service_code or "")
                    reason = (f"退单：{rec.unit or rec.service_code} 非本单位职责"
                              + (f"，应由 {unit} 办理" if unit else "")
                              + f" (returned: not the responsibility of {rec.unit or rec.service_code})")
                upd = self._apply(rec, status, reason=reason, unit=unit)
                self._schedule_next(rec, 0.0)
                done.append((rec, upd))
        self._after_updates(done)

    def _returned(self, rec: OrderRecord) -> bool:
        return (rec.unit is not None and rec.unit in self.return_units) or (
            rec.service_code is not None and rec.service_code in self.return_items)

    def _after_updates(self, done: list[tuple[OrderRecord, Update]]) -> None:
        """Updates are on disk before their callbacks go out."""
        if not done:
            return
        self.flush()
        with self._lock:
            for rec, upd in done:
                if self._ledger.records.get(rec.remote_id) is rec:
                    self._callback(rec, upd)

    def _callback(self, rec: OrderRecord, upd: Update) -> None:
        if self._sender is None or upd.delivered or not rec.order_id:
            return
        self._sender.enqueue(upd.update_id, rec.order_id, {
            "order_id": rec.order_id, "remote_id": rec.remote_id, "status": upd.status.value, "at": iso(upd.at),
            "update_id": upd.update_id, "reason": upd.reason, "unit": upd.unit})

    def _delivered(self, update_id: str, order_id: str, ok: bool) -> None:
        with self._lock:
            for remote_id in self._ledger.by_order.get(order_id, ()):
                rec = self._ledger.records[remote_id]
                for upd in rec.updates:
                    if upd.update_id == update_id:
                        upd.delivered = True
                        self._changed(rec)
                        return

    # -- filing ---------------------------------------------------------------------------

    def _file(self, epoch: int, key: str | None, fields: dict, token: bool) -> tuple[OrderRecord, bool]:
        """The request filed under `key` (new, or the one already there: False) — stored."""
        with self._lock:
            if epoch != self._epoch:
                raise Abort
            existing = self._ledger.records.get(self._ledger.by_key.get(key or "", ""))
            if existing is not None:
                existing.receipts += 1
                self.duplicates += 1
                change = self._changed(existing)
                rec, new = existing, False
            else:
                now = utcnow()
                remote_id = f"SR{self._ledger.next_remote:06d}"
                self._ledger.next_remote += 1
                tok = None
                if token:
                    tok = f"TK{self._ledger.next_token:06d}"
                    self._ledger.next_token += 1
                rec = OrderRecord(remote_id=remote_id, key=key or remote_id, token=tok, received_at=now,
                                  visible_at=now + timedelta(seconds=self.token_delay if tok else 0.0),
                                  filed_at=fields.pop("filed_at", None) or now, **fields)
                self._ledger.add(rec)
                self._gens[remote_id] = 0
                self._schedule_next(rec, (rec.visible_at - now).total_seconds())
                change = self._changed(rec)
                new = True
        self._flush(change)   # stored before it is acknowledged
        return rec, new

    # -- routing --------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict, body: bytes, headers: dict, epoch: int) -> Response:
        if path in WEBHOOK_PATHS:
            if method != "POST":
                return json_response(405, {"error": "POST a signed work order"})
            return self._webhook_post(body, headers, epoch)
        m = _OPEN311.match(path)
        if not m:
            fmt = "xml" if path.endswith(".xml") else "json"
            return o311_error(404, f"no such resource: {path}", fmt)
        resource, ident, fmt = m.groups()
        if resource == "services" and method == "GET":
            if ident is None:
                return o311_response(200, "services", [open311.service(*s) for s in self.services.values()], fmt)
            if ident not in self.services:
                return o311_error(404, f"service_code {ident} not found", fmt)
            return o311_response(200, "definition", open311.definition(ident), fmt)
        if resource == "requests" and method == "POST" and ident is None:
            return self._open311_post(body, headers, fmt, epoch)
        if resource == "requests" and method == "GET":
            return self._requests_get(query, ident, fmt)
        if resource == "tokens" and method == "GET" and ident is not None:
            return self._token_get(ident, fmt)
        if resource == "servicerequestupdates" and method == "GET" and ident is None:
            return self._updates_get(query, fmt)
        return o311_error(405 if ident is None else 404, f"{method} {path} is not supported", fmt)

    def _open311_post(self, body: bytes, headers: dict, fmt: str, epoch: int) -> Response:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return o311_error(400, "the body is not UTF-8", fmt)
        get = lambda name: (open311.first(form, name) or "").strip() or None  # noqa: E731
        if get("api_key") != self.api_key:
            return o311_error(403, "api_key is missing or not valid", fmt)
        code = get("service_code")
        if code is None:
            return o311_error(400, "service_code is required", fmt)
        if code not in self.services:
            return o311_error(400, f"service_code {code} not found", fmt)
        lat, lon = get("lat"), get("long")
        if not ((lat and lon) or get("address_string") or get("address_id")):
            return o311_error(400, "a location is required: lat and long, address_string or address_id", fmt)
        try:
            lat_f, lon_f = (float(lat) if lat else None), (float(lon) if lon else None)
        except ValueError:
            return o311_error(400, "lat and long must be numbers", fmt)
        order_id = get("attribute[radar_order_id]")
        send_raw = get("attribute[radar_send]")
        try:
            send = int(send_raw) if send_raw else 1
        except ValueError:
            return o311_error(400, "attribute[radar_send] must be a number", fmt)
        key = headers.get("idempotency-key") or (f"{order_id}:{send_raw}" if order_id and send_raw else order_id)
        with self._lock:
            token = self.token_share > 0 and self._tokens_rng.random() < self.token_share
        fields = dict(order_id=order_id, send=send, channel="open311", service_code=code,
                      service_name=self.services[code][1], title=None, description=get("description") or "",
                      unit=get("attribute[radar_unit]"), address=get("address_string"), lat=lat_f, long=lon_f,
                      media_url=get("media_url"))
        rec, _new = self._file(epoch, key, fields, token)
        if rec.token:
            return o311_response(200, "requests", [{"token": rec.token}], fmt)
        return o311_response(200, "requests", [{"service_request_id": rec.remote_id, "service_notice": self._notice(rec),
                                        "account_id": None}], fmt)

    def _notice(self, rec: OrderRecord) -> str:
        return f"已受理，工单号 {rec.remote_id}；将在 2 小时内派单 (received; dispatched within 2 hours)"

    def _webhook_post(self, body: bytes, headers: dict, epoch: int) -> Response:
        if self._webhook is None:
            return json_response(404, {"error": "the webhook intake is not configured"})
        try:
            data = self._webhook.verify(body, headers)
        except WebhookVerificationError as exc:
            return json_response(401, {"error": f"signature refused: {exc}"})
        except ValueError:
            return json_response(400, {"error": "the signed body is not JSON"})
        if not isinstance(data, dict) or not isinstance(data.get("order_id"), str) or not data["order_id"]:
            return json_response(400, {"error": "the body must be a work order with an order_id"})
        try:
            send = int(data.get("send") or 1)
        except (TypeError, ValueError):
            return json_response(400, {"error": "send must be a number"})
        place = data.get("place") if isinstance(data.get("place"), dict) else {}
        evidence = data.get("evidence") if isinstance(data.get("evidence"), list) else []
        media = next((m for e in evidence if isinstance(e, dict) for m in (e.get("media") or [])), None)
        try:
            filed_at = parse_time(data.get("created_at")) if isinstance(data.get("created_at"), str) else None
        except ValueError:
            filed_at = None
        item = data.get("item")
        key = headers.get("idempotency-key") or f"{data['order_id']}:{send}"
        stored = {k: v for k, v in data.items() if k != "evidence"}
        stored["evidence_count"] = len(evidence)
        fields = dict(order_id=data["order_id"], send=send, channel="webhook", service_code=item,
                      service_name=data.get("item_name") or (self.services.get(item or "", (None, None))[1]),
                      title=data.get("title"), description=str(data.get("description") or ""), unit=data.get("unit"),
                      address=place.get("address"), lat=place.get("lat"), long=place.get("lon"), media_url=media,
                      filed_at=filed_at, payload=stored)
        rec, new = self._file(epoch, key, fields, token=False)
        return json_response(201 if new else 200, {"id": rec.remote_id})

    def _visible(self, rec: OrderRecord) -> bool:
        return rec.visible_at <= utcnow()

    def _requests_get(self, query: dict, ident: str | None, fmt: str) -> Response:
        with self._lock:
            if ident is not None:
                rec = self._ledger.records.get(ident)
                if rec is None or not self._visible(rec):
                    return o311_error(404, f"service_request_id {ident} not found", fmt)
                return o311_response(200, "requests", [open311.request(rec, self.agency)], fmt)
            ids = open311.codes(open311.first(query, "service_request_id"))
            if ids:
                recs = [r for i in ids if (r := self._ledger.records.get(i)) is not None and self._visible(r)]
            else:
                try:
                    start = parse_time(open311.first(query, "start_date"))
                    end = parse_time(open311.first(query, "end_date"))
                except ValueError:
                    return o311_error(400, "start_date and end_date must be ISO 8601 times", fmt)
                end = end or utcnow()
                start = start or end - timedelta(days=90)
                wanted_codes = set(open311.codes(open311.first(query, "service_code")))
                wanted_status = set(open311.codes(open311.first(query, "status")))
                recs = [r for r in self._ledger.records.values() if self._visible(r)
                        and start <= r.received_at <= end
                        and (not wanted_codes or r.service_code in wanted_codes)]
                recs = sorted(recs, key=lambda r: r.received_at, reverse=True)
                rows = [open311.request(r, self.agency) for r in recs]
                rows = [row for row in rows if not wanted_status or row["status"] in wanted_status][:1000]
                return o311_response(200, "requests", rows, fmt)
            return o311_response(200, "requests", [open311.request(r, self.agency) for r in recs], fmt)

    def _token_get(self, token: str, fmt: str) -> Response:
        with self._lock:
            rec = self._ledger.records.get(self._ledger.tokens.get(token, ""))
            if rec is None:
                return o311_error(404, f"token {token} not found", fmt)
            if not self._visible(rec):
                if self.token_pending_404:
                    return o311_error(404, f"token {token} has no service_request_id yet", fmt)
                return o311_response(200, "requests", [{"token": token}], fmt)
            return o311_response(200, "requests", [{"service_request_id": rec.remote_id, "token": token}], fmt)

    def _updates_get(self, query: dict, fmt: str) -> Response:
        try:
            start = parse_time(open311.first(query, "start_date"))
            end = parse_time(open311.first(query, "end_date"))
        except ValueError:
            return o311_error(400, "start_date and end_date must be ISO 8601 times", fmt)
        with self._lock:
            rows = [(u.at, u.update_id, open311.update(r, u)) for r in self._ledger.records.values()
                    if self._visible(r) for u in r.updates
                    if (start is None or u.at >= start) and (end is None or u.at <= end)]
        rows.sort(key=lambda t: (t[0], t[1]))
        return o311_response(200, "updates", [row for _, _, row in rows], fmt)

    # -- one request ----------------------------------------------------------------------

    def _decide(self, method: str, path: str) -> Decision:
        if not (path.startswith("/open311/") or path in WEBHOOK_PATHS):
            return NONE
        decision = self._dice.request(method)
        with self._lock:
            self.requests_seen += 1
            if decision.kind:
                self.fault_counts[decision.kind] += 1
            if decision.slow:
                self.fault_counts["slow"] += 1
        return decision
