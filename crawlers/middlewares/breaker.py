"""CircuitBreakerMiddleware: one breaker per platform. After RADAR_BREAKER_THRESHOLD
consecutive failed requests (retries exhausted on 5xx/429/timeouts) the platform's circuit
opens: its further requests are dropped for RADAR_BREAKER_COOLDOWN seconds instead of
hammering a struggling site, and the run records the `circuit_open` alarm. A success closes it.

Settings: RADAR_BREAKER_THRESHOLD (default 5), RADAR_BREAKER_COOLDOWN (default 300).
State is per process and keyed by platform, so every query of one platform shares it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured


class CircuitOpen(IgnoreRequest):
    """The platform's circuit is open: the request was not sent."""


@dataclass
class _State:
    failures: int = 0
    opened_at: float | None = None


_STATES: dict[str, _State] = {}
FAIL_STATUSES = {429, 500, 502, 503, 504, 522, 524, 408}


class CircuitBreakerMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.threshold = crawler.settings.getint("RADAR_BREAKER_THRESHOLD", 5)
        self.cooldown = crawler.settings.getfloat("RADAR_BREAKER_COOLDOWN", 300.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "CircuitBreakerMiddleware":
        if not crawler.settings.getbool("RADAR_BREAKER_ENABLED", True):
            raise NotConfigured
        return cls(crawler)

    def _state(self, request) -> _State:
        return _STATES.setdefault(request.meta.get("radar_platform", "?"), _State())

    def process_request(self, request, spider=None):
        st = self._state(request)
        if st.opened_at is not None:
            if time.monotonic() - st.opened_at < self.cooldown:
                self.crawler.stats.inc_value("radar/breaker_dropped")
                self.crawler.stats.set_value("radar/alarms/circuit_open",
                                             f"{st.failures} consecutive failures; requests dropped")
                raise CircuitOpen(f"circuit open for {request.meta.get('radar_platform')}")
            st.opened_at = None  # half-open: let this one through
        return None

    def process_response(self, request, response, spider=None):
        st = self._state(request)
        if response.status in FAIL_STATUSES:
            self._fail(st)
        else:
            st.failures, st.opened_at = 0, None
        return response

    def process_exception(self, request, exception, spider=None):
        if not isinstance(exception, IgnoreRequest):
            self._fail(self._state(request))
        return None

    def _fail(self, st: _State) -> None:
        st.failures += 1
        if st.failures >= self.threshold and st.opened_at is None:
            st.opened_at = time.monotonic()
            self.crawler.stats.set_value("radar/alarms/circuit_open",
                                         f"{st.failures} consecutive failures; circuit opened")
