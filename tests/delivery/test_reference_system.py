"""The reference work-order system over real HTTP: Open311, the signed webhook, signed status
callbacks, the lifecycle, down/restart, and every fault mode."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from core.orders import OrderStatus
from delivery.reference import FROM_DETAILED, FaultPlan, ReferenceWorkOrderSystem, new_secret
from delivery.reference.lifecycle import parse_time

REPO = Path(__file__).resolve().parents[2]
KEY = "test-api-key"
SERVICES = [("JT001", "道路坑洼破损", "交通运输"), ("CG001", "生活垃圾堆积", "城市管理")]
S = OrderStatus


def form(order_id: str | None = "WO1", code: str = "JT001", **extra) -> dict:
    data = {"api_key": KEY, "service_code": code, "lat": "22.543", "long": "114.057",
            "address_string": "深圳市福田区深南大道1号", "description": "路面有个大坑",
            "media_url": "https://example.org/a.jpg"}
    if order_id:
        data["attribute[radar_order_id]"] = order_id
    return {**data, **extra}


def payload(order_id: str = "WO9", send: int = 1, unit: str | None = "福田区城管局") -> dict:
    return {"order_id": order_id, "lead_id": "L1", "send": send, "title": "井盖缺失", "description": "人行道井盖不见了",
            "category": "交通运输", "item": "JT001", "item_name": "道路坑洼破损", "unit": unit, "urgent": True,
            "dispatch_minutes": 30, "resolution_hours": 24, "due_at": None,
            "place": {"district": "福田区", "street": None, "community": None, "address": "深南大道1号",
                      "lat": 22.5, "lon": 114.0},
            "evidence": [{"post_id": "weibo:1", "media": ["https://example.org/m.jpg"], "text": "..."}],
            "evidence_hash": "abc", "created_at": "2026-12-01T08:00:00+00:00"}


def signed(secret: str, body: bytes, msg_id: str = "msg_1", at: datetime | None = None) -> dict:
    at = at or datetime.now(UTC)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body), "content-type": "application/json"}


def wait_for(predicate, timeout: float = 5.0, step: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := predicate()):
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


class Receiver:
    """Civic Radar's status endpoint, played by a tiny server that verifies every callback."""

    def __init__(self, secret: str, fail_first: int = 0):
        self.secret, self.fail_first = secret, fail_first
        self.got: list[dict] = []      # verified: path, webhook-id, body
        self.refused = 0
        self.hits = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    outer.hits += 1
                    fail = outer.hits <= outer.fail_first
                status = 500 if fail else 204
                if not fail:
                    try:
                        data = Webhook(outer.secret).verify(body, dict(self.headers.items()))
                        with lock:
                            outer.got.append({"path": self.path, "id": self.headers["webhook-id"], "body": data})
                    except WebhookVerificationError:
                        outer.refused += 1
                        status = 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def statuses(self, order_id: str) -> list[str]:
        return [g["body"]["status"] for g in self.got if g["body"]["order_id"] == order_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def secret():
    return new_secret()


@pytest.fixture
def receiver(secret):
    r = Receiver(secret)
    yield r
    r.close()


def system(**kw) -> ReferenceWorkOrderSystem:
    return ReferenceWorkOrderSystem(**{"api_key": KEY, "services": SERVICES, "speed": None, **kw})


# -- Open311 ------------------------------------------------------------------------------

def test_services_json_and_xml():
    with system() as s:
        services = httpx.get(s.open311_url + "services.json").json()
        assert [(x["service_code"], x["service_name"], x["group"]) for x in services] == SERVICES
        assert {"metadata", "type", "keywords", "description"} <= set(services[0])
        root = ET.fromstring(httpx.get(s.open311_url + "services.xml").content)
        assert root.tag == "services" and [e.findtext("service_code") for e in root] == ["JT001", "CG001"]
        definition = httpx.get(s.open311_url + "services/JT001.json").json()
        assert "radar_order_id" in [a["code"] for a in definition["attributes"]]
        assert s.open311_url.endswith("/open311/v2/") and s.url.startswith("http://127.0.0.1:")


def test_filing_with_key_and_errors_in_open311_bodies():
    with system() as s:
        r = httpx.post(s.open311_url + "requests.json", data=form("WO1"), headers={"Idempotency-Key": "WO1"})
        assert r.status_code == 200
        [answer] = r.json()
        assert answer["service_request_id"] and answer["service_notice"]
        wrong = httpx.post(s.open311_url + "requests.json", data=form("WO2", api_key="nope"))
        assert wrong.status_code == 403 and wrong.json()[0]["code"] == 403 and wrong.json()[0]["description"]
        unknown = httpx.post(s.open311_url + "requests.json", data=form("WO3", code="ZZ999"))
        assert unknown.status_code == 400 and unknown.json()[0]["code"] == 400 and "ZZ999" in unknown.json()[0]["description"]
        xml = httpx.post(s.open311_url + "requests.xml", data=form("WO2", api_key="nope"))
        assert xml.status_code == 403 and ET.fromstring(xml.content).find("error/code").text == "403"
        assert list(s.orders()) == ["WO1"] and s.received == 4

        rid = answer["service_request_id"]
        [req] = httpx.get(s.open311_url + f"requests/{rid}.json").json()
        assert req["service_request_id"] == rid and req["status"] == "open" and req["detailed_status"] == "OPEN"
        assert (req["service_code"], req["lat"], req["long"]) == ("JT001", 22.543, 114.057)
        assert req["address"] == "深圳市福田区深南大道1号" and req["media_url"] == "https://example.org/a.jpg"
        for field in ("status_notes", "service_name", "description", "agency_responsible", "requested_datetime",
                      "updated_datetime"):
            assert field in req
        assert httpx.get(s.open311_url + "requests/SR999999.json").status_code == 404


def test_same_order_filed_twice_is_one_request():
    with system() as s:
        first = httpx.post(s.open311_url + "requests.json", data=form("WO1"), headers={"Idempotency-Key": "WO1"})
        again = httpx.post(s.open311_url + "requests.json", data=form("WO1"), headers={"Idempotency-Key": "WO1"})
        by_header = httpx.post(s.open311_url + "requests.json", data=form(None), headers={"Idempotency-Key": "WO1"})
        ids = {r.json()[0]["service_request_id"] for r in (first, again, by_header)}
        assert len(ids) == 1 and len(s.requests()) == 1
        assert (s.received, s.duplicates) == (3, 2)
        assert s.orders()["WO1"].receipts == 3
        # a second send of the order (after a return) is a new request
        resend = httpx.post(s.open311_url + "requests.json", data=form("WO1", **{"attribute[radar_send]": "2"}))
        assert resend.json()[0]["service_request_id"] not in ids
        assert s.orders()["WO1"].send == 2 and len(s.requests()) == 2


def test_token_mode():
    with system(token_mode=True, token_delay=0.3) as s:
        [answer] = httpx.post(s.open311_url + "requests.json", data=form("WO1")).json()
        assert set(answer) == {"token"}
        token = answer["token"]
        assert httpx.get(s.open311_url + f"tokens/{token}.json").json() == [{"token": token}]
        assert httpx.get(s.open311_url + "tokens/nope.json").status_code == 404
        [ready] = wait_for(lambda: (r := httpx.get(s.open311_url + f"tokens/{token}.json").json())
                           and "service_request_id" in r[0] and r)
        assert ready["token"] == token
        assert httpx.get(s.open311_url + f"requests/{ready['service_request_id']}.json").status_code == 200
        # a repeat answers the same token
        assert httpx.post(s.open311_url + "requests.json", data=form("WO1")).json() == [{"token": token}]
    with system(token_mode=True, token_delay=5, token_pending_404=True) as s:
        [answer] = httpx.post(s.open311_url + "requests.json", data=form("WO1")).json()
        assert httpx.get(s.open311_url + f"tokens/{answer['token']}.json").status_code == 404


def test_lifecycle_and_updates_feed_in_a_time_range():
    with system(speed=0.03) as s:
        t0 = datetime.now(UTC)
        [answer] = httpx.post(s.open311_url + "requests.json", data=form("WO1")).json()
        rid = answer["service_request_id"]
        wait_for(lambda: s.orders()["WO1"].status == S.CLOSED)
        updates = httpx.get(s.open311_url + "servicerequestupdates.json",
                            params={"start_date": t0.isoformat(), "end_date": datetime.now(UTC).isoformat()}).json()
        rows = updates["service_request_updates"]
        assert [u["status"] for u in rows] == ["OPEN", "IN_PROGRESS", "FIXED", "CLOSED"]
        assert [FROM_DETAILED[u["status"]] for u in rows] == [S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED]
        assert all(u["service_request_id"] == rid and u["update_id"] and u["description"] for u in rows)
        times = [parse_time(u["updated_datetime"]) for u in rows]
        assert times == sorted(times) and len(set(times)) == 4 and all(t.tzinfo for t in times)
        # only the ones in the range
        part = httpx.get(s.open311_url + "servicerequestupdates.json",
                         params={"start_date": rows[1]["updated_datetime"], "end_date": rows[2]["updated_datetime"]})
        assert [u["status"] for u in part.json()["service_request_updates"]] == ["IN_PROGRESS", "FIXED"]
        later = httpx.get(s.open311_url + "servicerequestupdates.json",
                          params={"start_date": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()})
        assert later.json() == {"service_request_updates": []}
        xml = ET.fromstring(httpx.get(s.open311_url + "servicerequestupdates.xml").content)
        assert xml.tag == "service_request_updates" and len(xml.findall("request_update")) == 4
        [req] = httpx.get(s.open311_url + "requests.json", params={"service_request_id": f"{rid},SR999999"}).json()
        assert (req["status"], req["detailed_status"]) == ("closed", "CLOSED")
        assert [u.status for u in s.orders()["WO1"].updates] == [S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED]


def test_returned_orders_name_the_unit():
    with system(speed=0.02, return_units={"福田区城管局"}, return_to={"福田区城管局": "福田区水务局"}) as s:
        httpx.post(s.open311_url + "requests.json", data=form("WO1", **{"attribute[radar_unit]": "福田区城管局"}))
        httpx.post(s.open311_url + "requests.json", data=form("WO2"))
        wait_for(lambda: s.orders()["WO1"].status == S.RETURNED and s.orders()["WO2"].status == S.CLOSED)
        time.sleep(0.1)
        assert [u.status for u in s.orders()["WO1"].updates] == [S.RETURNED]   # and it stays returned
        rows = httpx.get(s.open311_url + "servicerequestupdates.json").json()["service_request_updates"]
        [ret] = [u for u in rows if u["status"] == "NOT_COUNCILS_RESPONSIBILITY"]
        assert ret["external_status_code"] == "福田区水务局" and "福田区城管局" in ret["description"]


# -- webhook ------------------------------------------------------------------------------

def test_webhook_push_signed_and_refused(secret):
    with system(webhook_secret=secret) as s:
        body = json.dumps(payload("WO9")).encode()
        first = httpx.post(s.webhook_url, content=body, headers=signed(secret, body))
        assert first.status_code == 201 and first.json()["id"]
        again = httpx.post(s.webhook_url, content=body, headers=signed(secret, body, "msg_2"))
        assert again.status_code == 200 and again.json() == first.json()
        tampered = httpx.post(s.webhook_url, content=body.replace(b"WO9", b"WO8"), headers=signed(secret, body))
        old = httpx.post(s.webhook_url, content=body,
                         headers=signed(secret, body, at=datetime.now(UTC) - timedelta(minutes=10)))
        wrong = httpx.post(s.webhook_url, content=body, headers=signed(new_secret(), body))
        unsigned = httpx.post(s.webhook_url, content=body, headers={"content-type": "application/json"})
        for refused in (tampered, old, wrong, unsigned):
            assert refused.status_code == 401 and "error" in refused.json()
        assert list(s.orders()) == ["WO9"] and (s.received, s.duplicates) == (6, 1)
        rec = s.orders()["WO9"]
        assert (rec.channel, rec.service_code, rec.unit, rec.lat) == ("webhook", "JT001", "福田区城管局", 22.5)
        assert rec.filed_at == datetime(2026, 12, 1, 8, tzinfo=UTC) and rec.media_url == "https://example.org/m.jpg"
        assert "evidence" not in rec.payload and rec.payload["evidence_count"] == 1
        # webhook orders show on the Open311 side too
        assert httpx.get(s.open311_url + f"requests/{first.json()['id']}.json").status_code == 200
        # a second send (after a return) files a new request
        body2 = json.dumps(payload("WO9", send=2, unit="福田区水务局")).encode()
        resend = httpx.post(s.webhook_url, content=body2, headers=signed(secret, body2, "msg_3"))
        assert resend.status_code == 201 and resend.json()["id"] != first.json()["id"]


# -- callbacks ----------------------------------------------------------------------------

def test_callbacks_arrive_signed(secret, receiver):
    with system(speed=0.02, callback_base=receiver.url, callback_secret=secret, webhook_secret=secret) as s:
        body = json.dumps(payload("WO9")).encode()
        rid = httpx.post(s.webhook_url, content=body, headers=signed(secret, body)).json()["id"]
        wait_for(lambda: len(receiver.got) == 4)
        assert receiver.statuses("WO9") == ["accepted", "in_progress", "resolved", "closed"]
        first = receiver.got[0]
        assert first["path"] == "/integrations/orders/WO9/status"
        assert set(first["body"]) == {"order_id", "remote_id", "status", "at", "update_id", "reason", "unit"}
        assert first["body"]["remote_id"] == rid and first["id"] == first["body"]["update_id"]
        assert parse_time(first["body"]["at"]).tzinfo is not None
        assert receiver.refused == 0
        wait_for(lambda: all(u.delivered for u in s.orders()["WO9"].updates))
        # manual statuses are called back too
        s.set_status("WO9", S.REOPENED)
        wait_for(lambda: "reopened" in receiver.statuses("WO9"))


def test_callbacks_are_retried(secret):
    receiver = Receiver(secret, fail_first=2)
    try:
        with system(callback_base=receiver.url, callback_secret=secret, callback_backoff=0.01) as s:
            httpx.post(s.open311_url + "requests.json", data=form("WO1"))
            s.set_status("WO1", S.RETURNED, reason="不属于本单位", unit="福田区水务局")
            wait_for(lambda: receiver.got)
            [got] = receiver.got
            assert (got["body"]["status"], got["body"]["reason"], got["body"]["unit"]) == (
                "returned", "不属于本单位", "福田区水务局")
            assert receiver.hits == 3 and s.callback_counts["failed_attempts"] == 2
            assert [e["attempt"] for e in s.callback_log] == [1, 2, 3]
    finally:
        receiver.close()


def test_duplicate_and_reordered_callbacks(secret, receiver):
    plan = FaultPlan(duplicate_callbacks=1.0)
    with system(speed=0.05, callback_base=receiver.url, callback_secret=secret, faults=plan) as s:
        httpx.post(s.open311_url + "requests.json", data=form("WO1"))
        wait_for(lambda: len(receiver.got) == 8)
        ids = [g["id"] for g in receiver.got]
        assert len(set(ids)) == 4 and all(ids.count(i) == 2 for i in ids)
        assert s.callback_counts["duplicated"] == 4
    receiver.got.clear()
    # reorder every callback it can: one held back per order, sent after the next one
    plan = FaultPlan(reorder_callbacks=1.0)
    with system(speed=0.05, callback_base=receiver.url, callback_secret=secret, faults=plan) as s:
        httpx.post(s.open311_url + "requests.json", data=form("WO2"))
        wait_for(lambda: len(receiver.got) == 4)
        assert receiver.statuses("WO2") == ["in_progress", "accepted", "closed", "resolved"]
        ats = [parse_time(g["body"]["at"]) for g in receiver.got]
        assert ats != sorted(ats)


# -- down and restart ---------------------------------------------------------------------

def test_down_refuses_connections_then_comes_back_on_the_same_port():
    with system() as s:
        httpx.post(s.open311_url + "requests.json", data=form("WO1"))
        port, url = s.port, s.open311_url
        s.down(0.5)
        assert s.is_down
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "services.json")
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
        wait_for(lambda: not s.is_down)
        assert s.port == port and httpx.get(url + "services.json").status_code == 200
        assert list(s.orders()) == ["WO1"]
        s.down()          # until up()
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "services.json")
        s.up()
        assert httpx.get(url + "services.json").status_code == 200


def test_restart_keeps_orders_with_a_data_dir_and_forgets_them_without(tmp_path):
    with system(data_dir=tmp_path, speed=0.02) as s:
        [a] = httpx.post(s.open311_url + "requests.json", data=form("WO1")).json()
        wait_for(lambda: s.orders()["WO1"].status == S.CLOSED)
        port = s.port
        s.restart()
        assert s.port == port and (tmp_path / "reference-orders.json").exists()
        rec = s.orders()["WO1"]
        assert rec.remote_id == a["service_request_id"] and rec.status == S.CLOSED and len(rec.updates) == 4
        [again] = httpx.post(s.open311_url + "requests.json", data=form("WO1")).json()
        assert again["service_request_id"] == a["service_request_id"]
        [b] = httpx.post(s.open311_url + "requests.json", data=form("WO2")).json()
        assert b["service_request_id"] != a["service_request_id"]
    # a new process on the same data dir knows them too
    with system(data_dir=tmp_path) as s:
        assert set(s.orders()) == {"WO1", "WO2"}
    with system(speed=None) as s:
        [a] = httpx.post(s.open311_url + "requests.json", data=form("WO1")).json()
        s.restart()
        assert s.orders() == {}
        assert httpx.get(s.open311_url + f"requests/{a['service_request_id']}.json").status_code == 404
        [b] = httpx.post(s.open311_url + "requests.json", data=form("WO1")).json()
        assert b["service_request_id"] != a["service_request_id"]   # ids are never handed out twice


def test_restart_loses_the_request_in_flight():
    with system(faults=FaultPlan(timeout=1.0, hang_seconds=5)) as s:
        # the first timeout hangs after storing, the second before: restart during the second
        with pytest.raises(httpx.HTTPError):
            httpx.post(s.open311_url + "requests.json", data=form("WO1"), timeout=0.3)
        result: list = []
        t = threading.Thread(target=lambda: result.append(_try_post(s.open311_url, form("WO2"), timeout=3)))
        t.start()
        wait_for(lambda: s.fault_counts["timeout_before"] == 1)
        started = time.monotonic()
        s.restart()
        t.join()
        assert time.monotonic() - started < 2 and isinstance(result[0], httpx.HTTPError)
        assert set(s.orders()) == set()   # no data dir: WO1 forgotten; WO2 never stored


def _try_post(url, data, timeout):
    try:
        return httpx.post(url + "requests.json", data=data, timeout=timeout)
    except httpx.HTTPError as exc:
        return exc


# -- fault modes --------------------------------------------------------------------------

def test_drop_closes_the_connection_before_processing():
    with system(faults=FaultPlan(drop=1.0)) as s:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(s.open311_url + "requests.json", data=form("WO1"))
        assert s.orders() == {} and s.received == 1 and s.fault_counts["drop"] == 1


def test_error_answers_500_with_an_open311_body():
    with system(faults=FaultPlan(error=1.0)) as s:
        r = httpx.post(s.open311_url + "requests.json", data=form("WO1"))
        assert r.status_code == 500 and r.json()[0]["code"] == 500
        assert s.orders() == {}


def test_retry_after_answers_429_then_503():
    with system(faults=FaultPlan(retry_after=1.0, retry_after_seconds=7)) as s:
        answers = [httpx.post(s.open311_url + "requests.json", data=form("WO1")) for _ in range(2)]
        assert [r.status_code for r in answers] == [429, 503]
        assert all(r.headers["Retry-After"] == "7" and r.json()[0]["code"] == r.status_code for r in answers)
        assert s.orders() == {}


def test_timeouts_half_after_processing_half_before():
    with system(faults=FaultPlan(timeout=1.0, hang_seconds=0.4)) as s:
        for order_id in ("WO1", "WO2"):
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(s.open311_url + "requests.json", data=form(order_id), timeout=0.15)
            assert time.monotonic() - started < 1
        assert s.fault_counts["timeout_after"] == 1 and s.fault_counts["timeout_before"] == 1
        assert list(s.orders()) == ["WO1"]    # stored, though never answered
        # a client that waits longer than the hang gets no answer either
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(s.open311_url + "requests.json", data=form("WO3"), timeout=2)
        s.set_faults(None)
        [again] = httpx.post(s.open311_url + "requests.json", data=form("WO1")).json()
        assert again["service_request_id"] == s.orders()["WO1"].remote_id and s.duplicates == 1


def test_slow_adds_latency():
    with system(faults=FaultPlan(slow=1.0, slow_seconds=0.3)) as s:
        started = time.monotonic()
        assert httpx.get(s.open311_url + "services.json").status_code == 200
        assert time.monotonic() - started >= 0.3 and s.fault_counts["slow"] == 1


def test_faults_are_seeded_and_can_spare_reads():
    def outcomes(plan):
        out = []
        with system(faults=plan) as s, httpx.Client(base_url=s.open311_url, timeout=0.1) as client:
            for i in range(30):
                try:
                    out.append(client.post("requests.json", data=form(f"WO{i}")).status_code)
                except httpx.HTTPError as exc:
                    out.append(type(exc).__name__)
            reads = {client.get("services.json").status_code for _ in range(10)}
        return out, reads

    plan = FaultPlan(drop=0.2, error=0.2, retry_after=0.1, timeout=0.1, hang_seconds=0.2, seed=3, writes_only=True)
    first, reads = outcomes(plan)
    assert outcomes(plan)[0] == first and reads == {200}
    assert {200, 500, "RemoteProtocolError"} <= set(first) and ({429, 503} & set(first))
    assert outcomes(plan.with_(seed=4))[0] != first
    assert FaultPlan.parse("drop=0.1,error=0.05,hang_seconds=3,seed=7,writes_only=true") == FaultPlan(
        drop=0.1, error=0.05, hang_seconds=3, seed=7, writes_only=True)
    with pytest.raises(ValueError):
        FaultPlan(drop=0.7, error=0.5)


# -- running it ---------------------------------------------------------------------------

def test_command_line_runs_in_the_foreground_and_stops_on_sigint(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RADAR_WO_API_KEY": KEY, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "delivery.reference", "--port", str(port), "--data-dir",
                             str(tmp_path), "--faults", "error=0", "--speed", "0.01"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        r = httpx.post(f"http://127.0.0.1:{port}/open311/v2/requests.json", data=form("WO1"))
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "WO1" in (tmp_path / "reference-orders.json").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
