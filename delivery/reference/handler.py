"""The HTTP side of the reference work-order system: one handler class per system, which
reads a request, rolls the fault dice, hands the request to the system's router, and answers,
hangs or cuts the connection as the dice said. Answers go out in one write; logs nothing."""
from __future__ import annotations

import json
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from delivery.reference import open311

WEBHOOK_PATHS = ("/webhook/orders", "/webhooks/work-orders")
_FILING = re.compile(r"^/open311/v2/requests\.(json|xml)$")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = open311.JSON
    headers: tuple[tuple[str, str], ...] = ()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address) -> None:
        pass   # a client gone mid-answer (or a cut connection) is part of the game here


class Abort(Exception):
    """The system restarted or went down while this request was in flight: no answer."""


def handler_for(system) -> type[BaseHTTPRequestHandler]:

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60   # an idle keep-alive connection is closed after this long

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with system._lock:
                system._conns.add(self.connection)

        def finish(self) -> None:
            with system._lock:
                system._conns.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._serve("PUT")

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            with system._lock:
                epoch, wake = system._epoch, system._wake
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            url = urlsplit(self.path)
            path = url.path
            if path == "/healthz":
                return self._answer(Response(200, b"ok", "text/plain; charset=utf-8"), epoch)
            filing = method == "POST" and (path in WEBHOOK_PATHS or bool(_FILING.match(path)))
            if filing:
                with system._lock:
                    system.received += 1
            decision = system._decide(method, path)
            fmt = "xml" if path.endswith(".xml") else "json"
            try:
                if decision.slow:
                    self._wait(wake, system.faults.slow_seconds, epoch)
                if decision.kind == "drop":
                    return self._drop()
                if decision.kind == "error":
                    return self._answer(error_response(500, "internal error (injected fault)", path, fmt), epoch)
                if decision.kind == "retry_after":
                    resp = error_response(decision.status, "busy, retry later (injected fault)", path, fmt)
                    headers = (("Retry-After", str(system.faults.retry_after_seconds)),)
                    return self._answer(Response(resp.status, resp.body, resp.content_type, headers), epoch)
                if decision.kind == "timeout_before":
                    self._wait(wake, system.faults.hang_seconds, epoch)
                    return self._drop()
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    resp = system._route(method, path, parse_qs(url.query, keep_blank_values=True), body, headers,
                                         epoch)
                except Abort:
                    raise
                except Exception as exc:  # a bug here must show up as a 500, not a hung client
                    resp = error_response(500, f"reference system error: {exc!r}", path, fmt)
                if decision.kind == "timeout_after":
                    self._wait(wake, system.faults.hang_seconds, epoch)
                    return self._drop()
                self._answer(resp, epoch)
            except Abort:
                self._drop()

        def _wait(self, wake: threading.Event, seconds: float, epoch: int) -> None:
            wake.wait(seconds)
            if epoch != system._epoch:
                raise Abort

        def _answer(self, resp: Response, epoch: int) -> None:
            if epoch != system._epoch:
                return self._drop()
            try:
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                for k, v in resp.headers:
                    self.send_header(k, v)
                # headers and body in one write: two small writes on a keep-alive connection
                # would wait out the client's delayed ACK (40 ms a request)
                self._headers_buffer.append(b"\r\n" + resp.body)
                self.flush_headers()
            except OSError:
                self.close_connection = True

        def _drop(self) -> None:
            """Close the connection with no answer at all."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def json_response(status: int, data: dict) -> Response:
    return Response(status, json.dumps(data, ensure_ascii=False).encode(), open311.JSON)


def o311_response(status: int, kind: str, rows, fmt: str) -> Response:
    body, content_type = open311.render(kind, rows, fmt)
    return Response(status, body, content_type)


def o311_error(status: int, description: str, fmt: str) -> Response:
    return o311_response(status, "errors", open311.error(status, description), fmt)


def error_response(status: int, description: str, path: str, fmt: str) -> Response:
    """An injected or internal error: an Open311 errors body, or JSON on the webhook."""
    if path in WEBHOOK_PATHS:
        return json_response(status, {"error": description, "code": status})
    return o311_error(status, description, fmt)
