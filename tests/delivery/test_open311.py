"""The Open311 client against the GeoReport v2 specification: what it sends (field names, form
encoding, idempotency key), what it reads (the spec's own example answers, JSON and XML, and
FixMyStreet's servicerequestupdates), and every failure as a named error."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from core.config import DeliveryTarget
from core.orders import OrderStatus, Place
from delivery.errors import DeliveryError, ProtocolError, RateLimited, Rejected, Unavailable
from delivery.targets.base import Sent, build_target
from delivery.targets.open311 import DESCRIPTION_LIMIT, describe
from tests.delivery.sample_order import sample_order

FIXTURES = Path(__file__).parent / "fixtures" / "open311"
BASE = "http://wo.test/open311/v2/"
API_KEY = "k-123-secret"

# GeoReport v2, POST Service Request: every argument the spec names (attribute[...] aside).
SPEC_POST_FIELDS = {"api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "address_id",
                    "email", "device_id", "account_id", "first_name", "last_name", "phone", "description",
                    "media_url"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def reply(name: str, status: int = 200, **headers) -> httpx.Response:
    kind = "text/xml" if name.endswith(".xml") else "application/json"
    return httpx.Response(status, content=fixture(name), headers={"content-type": f"{kind}; charset=utf-8", **headers})


def open311(handler, **settings):
    config = DeliveryTarget(kind="open311", url=BASE, api_key_env="RADAR_WO_API_KEY", **settings)
    return build_target("city12345", config, {"RADAR_WO_API_KEY": API_KEY}, httpx.MockTransport(handler))


# --- what we send -------------------------------------------------------------------------

def test_post_sends_georeport_v2_fields_form_encoded():
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return reply("post_requests.json")

    order = sample_order()
    open311(handler, jurisdiction_id="sz.gov.cn").send(order)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == BASE + "requests.json"  # no api_key in the URL
    assert request.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert request.headers["idempotency-key"] == f"{order.id}:1"
    form = parse_qsl(request.content.decode(), keep_blank_values=True, strict_parsing=True)
    names = [k for k, _ in form]
    assert len(names) == len(set(names))
    assert {k for k in names if not k.startswith("attribute[")} <= SPEC_POST_FIELDS
    fields = dict(form)
    assert fields["api_key"] == API_KEY
    assert fields["jurisdiction_id"] == "sz.gov.cn"
    assert fields["service_code"] == order.item == "SZ001"
    assert (float(fields["lat"]), float(fields["long"])) == (order.place.lat, order.place.lon)
    assert fields["address_string"] == "福田区华强北街道深南大道与华强路交叉口"
    assert fields["media_url"] == "https://wx1.sinaimg.cn/large/a.jpg"  # the first evidence media link
    assert fields["attribute[radar_order_id]"] == order.id
    text = fields["description"]
    assert text.startswith(order.title) and order.description in text
    assert all(e.url in text for e in order.evidence) and "https://wx1.sinaimg.cn/large/b.jpg" in text


def test_no_jurisdiction_id_unless_configured_and_a_resend_has_its_own_key():
    seen = []

    def handler(request):
        seen.append(request)
        return reply("post_requests.json")

    order = sample_order(sends=2)
    open311(handler).send(order)
    assert "jurisdiction_id" not in dict(parse_qsl(seen[0].content.decode()))
    assert seen[0].headers["idempotency-key"] == f"{order.id}:2"


def test_description_stays_within_the_spec_limit():
    first = sample_order().evidence[0]
    many = tuple(replace(first, post_id=f"weibo:{i}", url=f"https://weibo.com/1/{i:05d}") for i in range(400))
    order = sample_order(description="井盖" * 6000, evidence=many)
    text = describe(order)
    assert len(text) <= DESCRIPTION_LIMIT
    assert text.startswith(order.title) and "https://weibo.com/1/00000" in text and "more" in text


def test_an_order_without_item_or_place_is_refused_before_sending():
    def handler(request):
        raise AssertionError("nothing should be sent")

    with pytest.raises(Rejected, match="service_code"):
        open311(handler).send(sample_order(item=None))
    with pytest.raises(Rejected, match="location"):
        open311(handler).send(sample_order(place=Place()))


# --- the spec's example answers -----------------------------------------------------------

@pytest.mark.parametrize("ext", ["json", "xml"])
def test_post_answer_with_service_request_id(ext):
    sent = open311(lambda r: reply(f"post_requests.{ext}")).send(sample_order())
    assert sent.remote_id == "293944" and sent.token is None
    assert sent.notice.startswith("The City will inspect and require the responsible party")


@pytest.mark.parametrize("ext", ["json", "xml"])
def test_post_answer_with_token_then_token_lookup(ext):
    paths = []

    def handler(request):
        paths.append((request.method, request.url.path))
        return reply(f"post_requests_token.{ext}" if request.method == "POST" else f"tokens.{ext}")

    assert open311(handler).send(sample_order()) == Sent("638344", "12345")
    assert paths == [("POST", "/open311/v2/requests.json"), ("GET", "/open311/v2/tokens/12345.json")]


@pytest.mark.parametrize("token_answer", [httpx.Response(200, json=[]), httpx.Response(503),
                                          httpx.Response(200, json=[{"token": "12345"}])])
def test_a_token_not_resolved_yet_is_kept_and_the_post_not_repeated(token_answer):
    posts = []

    def handler(request):
        if request.method == "POST":
            posts.append(request)
            return reply("post_requests_token.json")
        return token_answer

    assert open311(handler).send(sample_order()) == Sent(None, "12345")
    assert len(posts) == 1


@pytest.mark.parametrize("ext", ["json", "xml"])
def test_resolve_token(ext):
    assert open311(lambda r: reply(f"tokens.{ext}")).resolve_token("12345") == "638344"


def test_get_requests_json_and_xml_read_the_same():
    queries = []

    def handler(ext):
        def answer(request):
            queries.append(dict(request.url.params))
            return reply(f"requests.{ext}")
        return answer

    from_json = open311(handler("json")).requests(["638344", "638349"])
    from_xml = open311(handler("xml")).requests(["638344", "638349"])
    assert queries[0] == {"service_request_id": "638344,638349"}
    assert from_json == from_xml
    first, second = from_json
    assert (first.service_request_id, first.status, first.status_notes) == ("638344", "closed", "Duplicate request.")
    assert first.service_code == "006"  # the spec's `006`, not 6
    assert first.updated_at == datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC)
    assert (first.lat, first.lon) == (37.762221815, -122.4651145)
    assert first.media_url == "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg"
    assert (second.status, second.status_notes) == ("open", None)


def test_statuses_from_get_requests():
    target = open311(lambda r: reply("requests.json"))
    [update] = target.statuses(["638344", "638349"], {"638344": "WO-1"}.get)
    assert (update.order_id, update.status, update.reason) == ("WO-1", OrderStatus.RESOLVED, "Duplicate request.")
    assert update.source == "open311"


@pytest.mark.parametrize("ext", ["json", "xml"])
def test_services(ext):
    services = open311(lambda r: reply(f"services.{ext}")).services()
    assert [s.code for s in services] == ["001", "002", "003"]
    assert services[0].name == "Cans left out 24x7" and services[0].metadata is True
    assert services[1].group == "street" and services[2].type == "realtime"


@pytest.mark.parametrize("ext", ["json", "xml"])
def test_open311_error_bodies_are_read_into_the_error(ext):
    with pytest.raises(Rejected) as exc:
        open311(lambda r: reply(f"errors.{ext}", status=403)).send(sample_order())
    error = exc.value
    assert error.status == 403 and not error.retryable
    assert error.messages == ("403: Invalid api_key received -- can't proceed with create_request.",)
    assert "Invalid api_key received" in str(error) and "POST /open311/v2/requests.json" in str(error)
    assert "<errors>" in error.body or '"code"' in error.body
    assert API_KEY not in str(error)


def test_an_errors_body_with_200_is_a_rejection():
    with pytest.raises(Rejected, match="Invalid api_key"):
        open311(lambda r: reply("errors.json")).send(sample_order())


# --- FixMyStreet's servicerequestupdates --------------------------------------------------

def test_servicerequestupdates_from_open311_adapter():
    seen = []

    def handler(request):
        seen.append(request)
        return reply("servicerequestupdates.xml")

    since = datetime(2018, 3, 1, 8, 0, tzinfo=UTC)
    updates = open311(handler).updates(since, since + timedelta(hours=12), {"2001": "WO-A", "2002": "WO-B"}.get)
    assert seen[0].url.path == "/open311/v2/servicerequestupdates.json"
    assert dict(seen[0].url.params) == {"start_date": "2018-03-01T08:00:00Z", "end_date": "2018-03-01T20:00:00Z"}
    a, b = updates
    assert (a.order_id, a.status, a.update_id, a.at) == ("WO-A", OrderStatus.IN_PROGRESS, "city12345:2001_3",
                                                         datetime(2018, 3, 1, 12, tzinfo=UTC))
    assert a.detail["external_status_code"] == "INP" and a.unit is None and a.source == "open311"
    assert (b.order_id, b.status, b.reason) == ("WO-B", OrderStatus.CLOSED, "duplicate")


def test_updates_of_requests_we_did_not_file_are_skipped():
    updates = open311(lambda r: reply("servicerequestupdates.xml")).updates(
        datetime(2018, 3, 1, tzinfo=UTC), datetime(2018, 3, 2, tzinfo=UTC), {"2002": "WO-B"}.get)
    assert [u.order_id for u in updates] == ["WO-B"]


def test_servicerequestupdates_as_fixmystreet_tests_write_them():
    xml = fixture("servicerequestupdates_fms_client.xml").replace(
        b"UPDATED_DATETIME", b"<updated_datetime>2026-11-20T20:00:00+08:00</updated_datetime>")
    [update] = open311(lambda r: httpx.Response(200, content=xml)).updates(
        datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC), {"1": "WO-1"}.get)
    assert (update.status, update.reason, update.update_id) == (OrderStatus.ACCEPTED, "This is a note",
                                                                "city12345:638344")
    assert update.at == datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize("remote, status, reason, unit", [
    ("OPEN", OrderStatus.ACCEPTED, "note", None),
    ("INVESTIGATING", OrderStatus.IN_PROGRESS, "note", None),
    ("ACTION_SCHEDULED", OrderStatus.IN_PROGRESS, "note", None),
    ("IN_PROGRESS", OrderStatus.IN_PROGRESS, "note", None),
    ("FIXED", OrderStatus.RESOLVED, "note", None),
    ("CLOSED", OrderStatus.CLOSED, "note", None),
    ("NOT_COUNCILS_RESPONSIBILITY", OrderStatus.RETURNED, "not councils responsibility; note", "交通运输局"),
    ("INTERNAL_REFERRAL", OrderStatus.RETURNED, "internal referral; note", "交通运输局"),
    ("REOPEN", OrderStatus.REOPENED, "note", None),
    ("DUPLICATE", OrderStatus.CLOSED, "duplicate; note", None),
    ("NO_FURTHER_ACTION", OrderStatus.CLOSED, "no further action; note", None),
    ("no_further_action", OrderStatus.CLOSED, "no further action; note", None),
])
def test_fixmystreet_statuses_map_to_ours(remote, status, reason, unit):
    answer = [{"update_id": "u1", "service_request_id": "7", "status": remote, "description": "note",
               "external_status_code": "交通运输局", "updated_datetime": "2026-11-20T12:00:00Z", "media_url": ""}]
    [update] = open311(lambda r: httpx.Response(200, json=answer)).updates(
        datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC), {"7": "WO-7"}.get)
    assert (update.status, update.reason, update.unit) == (status, reason, unit)


def test_an_update_with_an_unknown_status_or_no_time_is_skipped_not_fatal():
    answer = [{"update_id": "u1", "service_request_id": "7", "status": "ON_HOLD",
               "updated_datetime": "2026-11-20T12:00:00Z"},
              {"update_id": "u2", "service_request_id": "7", "status": "FIXED", "updated_datetime": ""},
              {"update_id": "u3", "service_request_id": "7", "status": "FIXED",
               "updated_datetime": "2026-11-20T13:00:00Z"}]
    updates = open311(lambda r: httpx.Response(200, json=answer)).updates(
        datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC), {"7": "WO-7"}.get)
    assert [u.update_id for u in updates] == ["city12345:u3"]


# --- every failure, named -----------------------------------------------------------------

def _raise(exc_type, message="boom"):
    def handler(request):
        raise exc_type(message, request=request)
    return handler


def _status(status, content=b"", **headers):
    return lambda request: httpx.Response(status, content=content, headers=headers)


def _soon(request):
    # the HTTP-date is made when the request is answered, not at import: the suite may run
    # for minutes between the two
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    return httpx.Response(429, headers={"retry-after": soon})


ENTITY_BOMB = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
               b"<service_requests><request><service_request_id>&b;</service_request_id></request></service_requests>")


@pytest.mark.parametrize("handler, error, retry_after", [
    (_raise(httpx.ConnectError, "[Errno 111] Connection refused"), Unavailable, None),
    (_raise(httpx.ConnectTimeout), Unavailable, None),
    (_raise(httpx.ReadTimeout), Unavailable, None),
    (_raise(httpx.RemoteProtocolError, "Server disconnected without sending a response."), Unavailable, None),
    (_raise(httpx.ReadError), Unavailable, None),
    (_status(500, b"Internal Server Error"), Unavailable, None),
    (_status(502), Unavailable, None),
    (_status(503), Unavailable, None),
    (_status(408), Unavailable, None),
    (_status(409), Unavailable, None),  # Idempotency-Key: the first attempt is still in progress
    (_status(429, **{"retry-after": "7"}), RateLimited, 7.0),
    (_soon, RateLimited, 120.0),
    (_status(429), RateLimited, None),
    (_status(503, **{"retry-after": "30"}), RateLimited, 30.0),
    (_status(400, b'[{"code":400,"description":"service_code SZ001 was not found"}]'), Rejected, None),
    (_status(404, fixture("errors.xml")), Rejected, None),
    (_status(401), Rejected, None),
    (_status(302, location="http://elsewhere.test/"), ProtocolError, None),
    (_status(200, b"<html><body>Maintenance</body>"), ProtocolError, None),
    (_status(200, b"not json at all"), ProtocolError, None),
    (_status(200, b"[]"), ProtocolError, None),
    (_status(200, b'{"unexpected": true}'), ProtocolError, None),
    (_status(200, b'"293944"'), ProtocolError, None),
    (_status(200, ENTITY_BOMB), ProtocolError, None),
])
def test_every_failure_is_a_named_error(handler, error, retry_after):
    with pytest.raises(DeliveryError) as exc:
        open311(handler).send(sample_order())
    assert type(exc.value) is error
    assert error is Rejected or exc.value.retryable
    if error is RateLimited:
        assert (exc.value.retry_after is None) == (retry_after is None)
        if retry_after is not None:
            assert exc.value.retry_after == pytest.approx(retry_after, abs=5)
    assert str(exc.value).startswith("city12345")
    assert API_KEY not in str(exc.value)


def test_a_400_names_the_servers_reason():
    with pytest.raises(Rejected, match="400 Bad Request: 400: service_code SZ001 was not found"):
        open311(_status(400, b'[{"code":400,"description":"service_code SZ001 was not found"}]')).send(sample_order())


def test_reads_fail_the_same_way():
    target = open311(_raise(httpx.ConnectError))
    for call in (lambda: target.services(), lambda: target.requests(["1"]), lambda: target.resolve_token("t"),
                 lambda: target.updates(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
                                        lambda _: None)):
        with pytest.raises(Unavailable):
            call()
