"""Open311 GeoReport v2 client: files work orders as service requests, reads their status back.

Contract (field names are the specification's, http://wiki.open311.org/GeoReport_v2):
- `send`: `POST requests.json`, form-encoded: `api_key`, `jurisdiction_id` (when configured),
  `service_code` = the order's catalogue item, `lat`/`long`, `address_string`, `description`
  (title, description, evidence links; at most 4,000 characters as the spec allows),
  `media_url` (the first evidence media link), `attribute[radar_order_id]` = the order id, and
  the header `Idempotency-Key` (see `base.send_key`). The answer names a `service_request_id`,
  or a `token` (batch services) that `resolve_token` (`GET tokens/{token}.json`) turns into one
  later, or neither (blackbox services).
- `services`: `GET services.json`; `requests`/`statuses`: `GET requests.json?service_request_id=a,b`.
- `updates`: FixMyStreet's extension `GET servicerequestupdates.json?start_date=&end_date=`,
  mapped to our statuses (`STATUSES`); updates of requests we did not file are skipped.

Answers are read as JSON or XML, whatever the server sends (XML is the spec's required format;
it is parsed with defusedxml). Error answers (`[{"code", "description"}]` or `<errors>`) are
read into the raised error's message.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from core.config import DeliveryTarget
from core.orders import OrderStatus, StatusUpdate, WorkOrder
from delivery.errors import BODY_LIMIT, DeliveryError, ProtocolError, Rejected
from delivery.targets.base import HttpTarget, RemoteToOrder, Sent, send_key

log = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 4000  # GeoReport v2: "free form text limited to 4,000 characters"
POST_ANSWER = {"service_request_id", "token", "service_notice", "account_id"}  # the spec's answer fields
IDS_PER_QUERY = 50        # service_request_id=a,b,...: keep the URL short

# FixMyStreet's statuses (Open311-FMS "Additional states"), lower case, to ours. The second
# value, when set, is the reason the update gives (kept with the receiver's own note).
STATUSES: dict[str, tuple[OrderStatus, str | None]] = {
    "open": (OrderStatus.ACCEPTED, None),
    "investigating": (OrderStatus.IN_PROGRESS, None),
    "action_scheduled": (OrderStatus.IN_PROGRESS, None),
    "in_progress": (OrderStatus.IN_PROGRESS, None),
    "fixed": (OrderStatus.RESOLVED, None),
    "closed": (OrderStatus.CLOSED, None),
    "not_councils_responsibility": (OrderStatus.RETURNED, "not councils responsibility"),
    "internal_referral": (OrderStatus.RETURNED, "internal referral"),
    "reopen": (OrderStatus.REOPENED, None),
    "reopened": (OrderStatus.REOPENED, None),
    "duplicate": (OrderStatus.CLOSED, "duplicate"),
    "no_further_action": (OrderStatus.CLOSED, "no further action"),
}


@dataclass(frozen=True)
class Service:
    """One entry of GET services: a request type the server takes (our catalogue item)."""

    code: str
    name: str | None
    description: str | None
    metadata: bool
    type: str | None
    keywords: str | None
    group: str | None


@dataclass(frozen=True)
class ServiceRequest:
    """One entry of GET requests: where a filed request stands (status: open or closed)."""

    service_request_id: str
    status: str | None
    status_notes: str | None
    service_code: str | None
    service_name: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_at: datetime | None
    updated_at: datetime | None
    expected_at: datetime | None
    address: str | None
    lat: float | None
    lon: float | None
    media_url: str | None
    raw: dict = field(default_factory=dict, compare=False)


class Open311Target(HttpTarget):
    kind = "open311"

    def __init__(self, name: str, config: DeliveryTarget, api_key: str,
                 transport: httpx.BaseTransport | None = None):
        super().__init__(name, config, transport)
        self._api_key = api_key

    # --- filing ---------------------------------------------------------------------------

    def send(self, order: WorkOrder) -> Sent:
        response = self.request("POST", "requests.json", content=urlencode(self.form(order)).encode(),
                                headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8",
                                         "idempotency-key": send_key(order)})
        first = self._first(response, "POST requests")
        if _is_error(first):  # some servers answer 200 with an errors body
            raise Rejected(f"{self.name}: POST requests: {_error_text(first)}", status=response.status_code,
                           body=response.text[:BODY_LIMIT], messages=(_error_text(first),))
        if not POST_ANSWER & first.keys():
            raise ProtocolError(f"{self.name}: POST requests: no {', '.join(sorted(POST_ANSWER))} in the answer",
                                status=response.status_code, body=response.text[:BODY_LIMIT])
        notice = _str(first.get("service_notice"))
        remote_id = _str(first.get("service_request_id"))
        token = _str(first.get("token"))
        if remote_id is not None:
            return Sent(remote_id, None, notice)
        if token is None:
            return Sent(None, None, notice)  # a blackbox service: filed, but it names no id
        try:
            # Often ready at once; if not (or the lookup fails) the worker polls the token.
            # The POST succeeded, so nothing here may raise and make the worker file it again.
            return Sent(self.resolve_token(token), token, notice)
        except DeliveryError as exc:
            log.info("%s: token %s not resolved yet: %s", self.name, token, exc)
            return Sent(None, token, notice)

    def form(self, order: WorkOrder) -> list[tuple[str, str]]:
        """The POST requests.json fields for an order, in the spec's names."""
        if not order.item:
            raise Rejected(f"{self.name}: order {order.id} has no catalogue item to send as service_code")
        place = order.place
        fields = [("api_key", self._api_key)]
        if self.config.jurisdiction_id:
            fields.append(("jurisdiction_id", self.config.jurisdiction_id))
        fields.append(("service_code", order.item))
        address = address_string(order)
        if (place.lat is None or place.lon is None) and not address:
            raise Rejected(f"{self.name}: order {order.id} has no location (lat/long or an address)")
        if place.lat is not None and place.lon is not None:
            fields += [("lat", repr(place.lat)), ("long", repr(place.lon))]
        if address:
            fields.append(("address_string", address))
        fields.append(("description", describe(order)))
        media = next((m for e in order.evidence for m in e.media), None)
        if media:
            fields.append(("media_url", media))
        fields.append(("attribute[radar_order_id]", order.id))
        return fields

    def resolve_token(self, token: str) -> str | None:
        response = self.request("GET", f"tokens/{quote(token, safe='')}.json", params=self._params())
        records = self._records(response, "GET tokens")
        return next((_str(r.get("service_request_id")) for r in records
                     if _str(r.get("service_request_id"))), None)

    # --- reading --------------------------------------------------------------------------

    def services(self) -> list[Service]:
        response = self.request("GET", "services.json", params=self._params())
        out = []
        for r in self._records(response, "GET services"):
            code = _str(r.get("service_code"))
            if code is None:
                raise ProtocolError(f"{self.name}: GET services: an entry without service_code")
            out.append(Service(code, _str(r.get("service_name")), _str(r.get("description")),
                               _str(r.get("metadata")) == "true" or r.get("metadata") is True,
                               _str(r.get("type")), _str(r.get("keywords")), _str(r.get("group"))))
        return out

    def requests(self, remote_ids: list[str]) -> list[ServiceRequest]:
        """Where the given requests stand (GET requests.json?service_request_id=a,b)."""
        out = []
        for i in range(0, len(remote_ids), IDS_PER_QUERY):
            chunk = ",".join(remote_ids[i:i + IDS_PER_QUERY])
            response = self.request("GET", "requests.json", params=self._params(service_request_id=chunk))
            out += [service_request(r) for r in self._records(response, "GET requests")
                    if _str(r.get("service_request_id"))]
        return out

    def statuses(self, remote_ids: list[str], remote_to_order: RemoteToOrder) -> list[StatusUpdate]:
        """GET requests as status updates: plain GeoReport v2 knows only open (accepted) and
        closed ("it has been resolved"); use `updates` where the server has the FMS extension."""
        out = []
        for req in self.requests(remote_ids):
            order_id = remote_to_order(req.service_request_id)
            if order_id is None or req.updated_at is None or req.status not in ("open", "closed"):
                continue
            status = OrderStatus.ACCEPTED if req.status == "open" else OrderStatus.RESOLVED
            out.append(StatusUpdate(order_id, status, req.updated_at,
                                    f"{self.name}:{req.service_request_id}@{req.updated_at.isoformat()}:{req.status}",
                                    "open311", req.status_notes, None,
                                    {"service_request_id": req.service_request_id, "remote_status": req.status}))
        return out

    def updates(self, since: datetime, until: datetime,
                remote_to_order: RemoteToOrder | None = None) -> list[StatusUpdate]:
        if remote_to_order is None:
            raise TypeError("Open311 updates need remote_to_order: the receiver names its own ids")
        # W3C times have whole seconds: round the end up, or an update in the window's last
        # second is left out (repeats from the overlap are deduplicated by update id)
        end = until if until.microsecond == 0 else until.replace(microsecond=0) + timedelta(seconds=1)
        response = self.request("GET", "servicerequestupdates.json",
                                params=self._params(start_date=_w3c(since), end_date=_w3c(end)))
        out = []
        for r in self._records(response, "GET servicerequestupdates"):
            update = self._update(r, remote_to_order)
            if update is not None:
                out.append(update)
        return out

    def _update(self, r: dict, remote_to_order: RemoteToOrder) -> StatusUpdate | None:
        remote_id = _str(r.get("service_request_id"))
        order_id = remote_to_order(remote_id) if remote_id else None
        if order_id is None:
            return None  # a request someone else filed with this server
        raw_status = _str(r.get("status")) or ""
        mapped = STATUSES.get(raw_status.lower().replace(" ", "_"))
        at = _when(r.get("updated_datetime"))
        if mapped is None or at is None:
            log.warning("%s: update %s of %s skipped: status %r, updated_datetime %r", self.name,
                        r.get("update_id"), remote_id, raw_status, r.get("updated_datetime"))
            return None
        status, label = mapped
        note = _str(r.get("description"))
        reason = "; ".join(x for x in (label, note) if x) or None
        code = _str(r.get("external_status_code"))
        update_id = _str(r.get("update_id")) or f"{remote_id}@{at.isoformat()}:{raw_status}"
        detail = {k: v for k, v in {"service_request_id": remote_id, "remote_status": raw_status,
                                    "external_status_code": code,
                                    "media_url": _str(r.get("media_url"))}.items() if v}
        # A returned request names, in external_status_code, the unit it says it belongs to.
        return StatusUpdate(order_id, status, at, f"{self.name}:{update_id}", "open311", reason,
                            code if status == OrderStatus.RETURNED else None, detail)

    # --- plumbing -------------------------------------------------------------------------

    def _params(self, **extra: str) -> dict[str, str]:
        # GETs need no api_key (GeoReport v2), and a key in a URL ends up in access logs.
        params = {"jurisdiction_id": self.config.jurisdiction_id} if self.config.jurisdiction_id else {}
        return {**params, **extra}

    def _records(self, response: httpx.Response, what: str) -> list[dict]:
        try:
            return parse_records(response.content)
        except ValueError as exc:
            raise ProtocolError(f"{self.name}: {what}: {exc}", status=response.status_code,
                                body=response.text[:BODY_LIMIT]) from None

    def _first(self, response: httpx.Response, what: str) -> dict:
        records = self._records(response, what)
        if not records:
            raise ProtocolError(f"{self.name}: {what}: an empty answer", status=response.status_code,
                                body=response.text[:BODY_LIMIT])
        return records[0]

    def error_messages(self, response: httpx.Response) -> tuple[str, ...]:
        try:
            records = parse_records(response.content)
        except ValueError:
            return ()
        return tuple(_error_text(r) for r in records if _is_error(r))


# --- the order as Open311 text ------------------------------------------------------------

def address_string(order: WorkOrder) -> str | None:
    """The place as one string, general to specific as Chinese addresses are written (the
    spec's "most specific first" is an English-language convention the receiver does not use)."""
    p = order.place
    parts = [x for x in (p.district, p.street, p.community) if x and not (p.address and x in p.address)]
    return "".join(parts + ([p.address] if p.address else [])) or None


def describe(order: WorkOrder, limit: int = DESCRIPTION_LIMIT) -> str:
    """Title, description and evidence links in at most `limit` characters: the evidence block
    keeps at most half of it, the description gives way first."""
    lines = []
    for e in order.evidence:
        lines.append(f"- {e.platform} {e.published_at[:16]} {e.url}")
        lines += [f"  {m}" for m in e.media]
    tail = ""
    if lines:
        tail, kept = "\n\n证据 Evidence:", 0
        for line in lines:
            if len(tail) + len(line) + 1 > limit // 2 - 20:
                break
            tail, kept = tail + "\n" + line, kept + 1
        if kept < len(lines):
            tail += f"\n- … {len(lines) - kept} more"
    head = f"{order.title}\n\n{order.description}".strip()
    room = limit - len(tail)
    if len(head) > room:
        head = head[: room - 1] + "…"
    return head + tail


# --- answers, JSON or XML -----------------------------------------------------------------

def parse_records(content: bytes) -> list[dict]:
    """The records of an Open311 answer: a JSON array of objects, or the children of the XML
    root (`<service_requests><request>…`). ValueError when it is neither."""
    text = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise ValueError("an empty answer")
    if text.startswith(b"<"):
        return _xml_records(text)
    data = _json(text.decode("utf-8", errors="strict"))
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(data) == 1 and lists else [data]  # {"service_requests": [...]} or one object
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError("expected a JSON array of objects")
    return data


# The spec's own JSON examples write codes with leading zeros as numbers ("service_code":001),
# which is not JSON. Such a number can only be an identifier: read it as the string it was.
_LEADING_ZERO = re.compile(r"(?<=[:\[,])(\s*)(-?0\d+)(?=\s*[,\]}])")


def _json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        try:
            return json.loads(_LEADING_ZERO.sub(r'\1"\2"', text))
        except json.JSONDecodeError:
            raise ValueError(f"not JSON ({first.msg} at line {first.lineno} column {first.colno})") from None


def _xml_records(content: bytes) -> list[dict]:
    try:
        root = fromstring(content)
    except (ParseError, DefusedXmlException) as exc:
        raise ValueError(f"not XML we accept ({type(exc).__name__}: {exc})") from None
    records = [_element(child) for child in root]
    if not all(isinstance(r, dict) for r in records):
        raise ValueError(f"<{_tag(root)}> holds values, not records")
    return records


def _element(e: Element):
    children = list(e)
    if not children:
        return (e.text or "").strip()
    out: dict = {}
    for child in children:
        tag, value = _tag(child), _element(child)
        if tag in out:
            out[tag] = (out[tag] if isinstance(out[tag], list) else [out[tag]]) + [value]
        else:
            out[tag] = value
    return out


def _tag(e: Element) -> str:
    return e.tag.rsplit("}", 1)[-1]  # the spec allows its URL as a default namespace


def service_request(r: dict) -> ServiceRequest:
    return ServiceRequest(_str(r.get("service_request_id")), _str(r.get("status")), _str(r.get("status_notes")),
                          _str(r.get("service_code")), _str(r.get("service_name")),
                          _str(r.get("agency_responsible")), _str(r.get("service_notice")),
                          _when(r.get("requested_datetime")), _when(r.get("updated_datetime")),
                          _when(r.get("expected_datetime")), _str(r.get("address")), _float(r.get("lat")),
                          _float(r.get("long")), _str(r.get("media_url")), r)


def _is_error(r: dict) -> bool:
    return "description" in r and "code" in r and not ({"service_request_id", "token"} & r.keys())


def _error_text(r: dict) -> str:
    return ": ".join(x for x in (_str(r.get("code")), _str(r.get("description"))) if x)


def _str(value) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _when(value) -> datetime | None:
    """A w3c datetime; one without a zone (against the spec) is taken as UTC."""
    text = _str(value)
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _w3c(at: datetime) -> str:
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
