"""BackoffRetryMiddleware: retries 429, 5xx and timeouts with exponential backoff and jitter,
honouring `Retry-After` (seconds or an HTTP date), instead of Scrapy's immediate retry.

Settings: RADAR_RETRY_TIMES (default 4), RADAR_RETRY_HTTP_CODES, RADAR_BACKOFF_BASE (seconds,
default 1.0), RADAR_BACKOFF_MAX (default 60), RADAR_RETRY_AFTER_MAX (longest Retry-After we
wait; longer means the platform asks us to come back later: give up, default 120).
Stats: radar/retries/<reason> per retry, radar/retries_exhausted/<reason> when giving up.
The wait is an asyncio sleep: only this request waits, the reactor keeps running.
"""
from __future__ import annotations

import asyncio
import email.utils
import random
from datetime import datetime, timezone

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet.error import (ConnectError, ConnectionDone, ConnectionLost, DNSLookupError,
                                    TCPTimedOutError, TimeoutError as TwistedTimeoutError)
from twisted.web._newclient import ResponseFailed

RETRY_EXCEPTIONS = (TwistedTimeoutError, TCPTimedOutError, ConnectError, ConnectionDone,
                    ConnectionLost, DNSLookupError, ResponseFailed, asyncio.TimeoutError)


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """`Retry-After: 120` or `Retry-After: Fri, 21 Nov 2026 10:12:00 GMT` in seconds."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class BackoffRetryMiddleware:
    def __init__(self, crawler: Crawler):
        s = crawler.settings
        self.crawler = crawler
        self.times = s.getint("RADAR_RETRY_TIMES", 4)
        self.codes = set(s.getlist("RADAR_RETRY_HTTP_CODES", [429, 500, 502, 503, 504, 522, 524, 408]))
        self.base = s.getfloat("RADAR_BACKOFF_BASE", 1.0)
        self.cap = s.getfloat("RADAR_BACKOFF_MAX", 60.0)
        self.retry_after_max = s.getfloat("RADAR_RETRY_AFTER_MAX", 120.0)
        self.rng = random.Random()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "BackoffRetryMiddleware":
        if not crawler.settings.getbool("RADAR_RETRY_ENABLED", True):
            raise NotConfigured
        return cls(crawler)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (AWS style) on base * 2**attempt, never below what Retry-After asks."""
        backoff = self.rng.uniform(0, min(self.cap, self.base * (2 ** attempt)))
        return max(backoff, retry_after or 0.0)

    async def process_response(self, request, response, spider=None):
        if response.status not in self.codes or request.meta.get("dont_retry"):
            return response
        ra = retry_after_seconds(response.headers.get(b"Retry-After"))
        if ra is not None and ra > self.retry_after_max:
            self.crawler.stats.inc_value(f"radar/retries_exhausted/http_{response.status}")
            return response
        return await self._retry(request, f"http_{response.status}", ra) or response

    async def process_exception(self, request, exception, spider=None):
        # Scrapy >= 2.13 raises its own DownloadTimeoutError / DownloadConnectionRefusedError.
        name = type(exception).__name__
        retryable = isinstance(exception, RETRY_EXCEPTIONS) or "Timeout" in name or "Connection" in name
        if not retryable or request.meta.get("dont_retry"):
            return None
        reason = "timeout" if "Timeout" in type(exception).__name__ else type(exception).__name__
        return await self._retry(request, reason, None)

    async def _retry(self, request, reason: str, retry_after: float | None):
        attempt = request.meta.get("radar_retries", 0)
        stats = self.crawler.stats
        if attempt >= self.times:
            stats.inc_value(f"radar/retries_exhausted/{reason}")
            return None
        wait = self.delay(attempt, retry_after)
        stats.inc_value(f"radar/retries/{reason}")
        stats.inc_value("radar/backoff_seconds", round(wait, 3))
        await asyncio.sleep(wait)
        new = request.replace(dont_filter=True)
        new.meta["radar_retries"] = attempt + 1
        new.priority = request.priority + 1
        return new
