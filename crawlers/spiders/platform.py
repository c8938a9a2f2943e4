"""PlatformSpider: one generic spider for any (platform, query), driven by its adapter.

Contracts: the adapter (crawlers.adapters.base) parses; crawlers.pipelines.StorePipeline stores
each PageItem's posts and then its checkpoint (core.models.Checkpoint):
- `high_water`: newest item key (`item_key`) of the last finished run; a page whose listed
  items are all at or below it ends the run.
- `cursor`: next page of the run in progress; a restarted crawl resumes there.
- `pending_high_water`: newest key seen by the run in progress, adopted as `high_water` when
  the run finishes. Prefixed with TAINT when the run skipped a page (malformed, or a detail
  page that failed): such a run does not advance `high_water`, so the next run re-reads the
  skipped items. The prefix lives in the checkpoint so a killed run does not forget it.

Pages are fetched one after another (the next list page is requested only after the current
page's posts are handed to the pipeline): the cursor then always means "everything before
it is stored". Stats: radar/parse_errors, radar/http_errors/<status>,
radar/download_errors/<exception>, radar/blocked_reason, radar/stop_reason, radar/interrupted.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from scrapy_playwright.page import PageMethod
from twisted.python.failure import Failure

from core.config import PlatformConfig
from core.models import Checkpoint, Post, utcnow
from core.store import Store

from crawlers.adapters import DetailAdapter, Listed, ParseContext, ParseError, get_adapter
from crawlers.items import PageItem

TAINT = "!"  # sorts before digits; only ever stripped, never compared
BLOCK_STATUSES = {418, 461}  # 418: Weibo's "I'm a teapot" ban; 461: its rate-limit ban
BLOCK_MARKERS = ("滑块".encode(), "验证码".encode(), b"captcha", "安全验证".encode(),
                 "访问异常".encode(), b"unusual traffic", b"Access Denied")
LOGIN_MARKERS = ('id="loginform"'.encode(), "登录后查看".encode(), "请先登录".encode(),
                 b"Log in to continue")
LOGIN_URL = re.compile(r"login|logging|passport|signin|visitor", re.I)
MAX_REDIRECTS = 5


@dataclass
class _DetailGroup:
    """A list page waiting for its detail pages before its checkpoint may be saved."""

    url: str
    listed: list[Listed]
    next_url: str | None
    remaining: int
    posts: list[Post] = field(default_factory=list)


def _block_marker(body: bytes) -> bytes | None:
    low = body.lower()
    return next((m for m in BLOCK_MARKERS if m in low), None)


class PlatformSpider(scrapy.Spider):
    name = "platform"

    def __init__(self, platform: PlatformConfig, query: str, store_url: str, salt: str,
                 window_start: datetime | None = None, **kwargs):
        super().__init__(name=f"radar.{platform.name}", **kwargs)
        self.platform = platform
        self.query = query
        self.store_url = store_url
        self.salt = salt
        self.window_start = window_start
        self.adapter = get_adapter(platform.adapter)
        self.high_water: str | None = None
        self.pending: str | None = None
        self.tainted = False
        self.pages_done = 0

    # --- start -------------------------------------------------------------------------------

    async def start(self):
        store = Store.open(self.store_url, migrate=False)
        try:
            cp = store.crawl.checkpoint(self.platform.name, self.query)
        finally:
            store.close()
        self.high_water = cp.high_water
        if cp.cursor:
            pending = cp.pending_high_water or ""
            self.tainted = pending.startswith(TAINT)
            self.pending = pending.removeprefix(TAINT) or None
            self.crawler.stats.set_value("radar/resumed_from", cp.cursor)
        yield self._request(cp.cursor or self._first_url(), self.parse_page)

    def _first_url(self) -> str:
        return self.adapter.start_url(self.platform, self.query, 1)

    def _headers(self) -> dict[str, str]:
        if self.platform.auth == "none":
            return {}
        secret = os.environ.get(self.platform.auth_env or "")
        if not secret:
            # Crawl anyway: public pages often work without; the coverage record shows it.
            self.crawler.stats.set_value("radar/auth_missing", self.platform.auth_env)
            return {}
        if self.platform.auth == "cookie":
            return {"Cookie": secret}
        if self.platform.auth == "cookie_file":
            # The env var names a file (a logged-in browser's exported cookie header), so the
            # secret never sits in the environment listing or the repo.
            try:
                cookie = open(secret, encoding="utf-8").read().strip()
            except OSError as exc:
                self.crawler.stats.set_value("radar/auth_missing", f"{self.platform.auth_env}: {exc.strerror}")
                return {}
            return {"Cookie": cookie} if cookie else {}
        return {"Authorization": f"Bearer {secret}"}

    def _request(self, url: str, callback, errback=None, **meta) -> scrapy.Request:
        # handle_httpstatus_all: block pages, 404 ends and redirects to login are ours to judge
        # (retries of 429/5xx still happen first in RetryMiddleware).
        if self.platform.kind == "browser":
            # Rendered by Chromium through scrapy-playwright: the page builds its posts with
            # JavaScript, so wait until the list element exists (or the page says "none").
            meta = {"playwright": True, "playwright_page_methods": [
                PageMethod("wait_for_load_state", "networkidle")], **meta}
        return scrapy.Request(url, callback=callback, errback=errback or self.on_page_error,
                              headers=self._headers(), dont_filter=True,
                              meta={"handle_httpstatus_all": True, "radar_platform": self.platform.name, **meta})

    # --- list pages --------------------------------------------------------------------------

    def parse_page(self, response: Response):
        follow = self._screen(response, self.parse_page)
        if follow is not None:
            yield follow
            return
        if response.status == 404 and response.url != self._first_url():
            yield from self._finish(response.url, "past_last_page")  # paging ran past the end
            return
        if response.status != 200:
            self._http_error(response.status, response.url)
            return
        ctx = ParseContext(self.salt, utcnow())
        try:
            page = self.adapter.parse(response.body, response.url, self.platform, ctx)
        except ParseError as exc:
            self._block_if_marked(response)
            self.crawler.stats.inc_value("radar/parse_errors")
            self.logger.warning("skipping malformed page %s: %s", response.url, exc)
            self.tainted = True
            yield from self._advance(response.url, [], [], self.adapter.page_after(response.url, self.platform),
                                     parsed=False)
            return
        if page.skipped:
            self.crawler.stats.inc_value("radar/posts_skipped", page.skipped)
        if not page.listed:
            self._block_if_marked(response)
            if page.suspect_empty:
                self._alarm("parser_broken", page.suspect_empty)
                self.tainted = True  # hold high_water: once fixed, the next run re-reads
            elif self.pages_done == 0 and self.high_water and response.url == self._first_url():
                # A newest-first feed that had posts never empties: suspect the parser.
                self._alarm("parser_broken", f"first page {response.url} parsed to zero posts; "
                                             f"earlier runs found posts")
        if isinstance(self.adapter, DetailAdapter) and page.listed:
            wanted = [item for item in self.adapter.detail_requests(page) if self._wanted(item)]
            if wanted:
                group = _DetailGroup(response.url, page.listed, page.next_url, len(wanted))
                for item in wanted:
                    yield self._request(item.detail_url, self.parse_detail, self.on_detail_error,
                                        radar_group=group, radar_listed=item)
                return
        yield from self._advance(response.url, page.posts, page.listed, page.next_url)

    def _wanted(self, item: Listed) -> bool:
        if self.high_water and item.key <= self.high_water:
            return False
        return not (self.window_start and item.published_at < self.window_start)

    def _advance(self, url: str, posts: list[Post], listed: list[Listed], next_url: str | None,
                 parsed: bool = True):
        """Hand the page to the pipeline with the checkpoint to save after it, then go on."""
        self.pages_done += 1
        keys = [item.key for item in listed]
        if keys:
            self.pending = max(self.pending or "", max(keys))
        stop = None
        if parsed and not listed:
            stop = "empty_page"
        elif parsed and self.high_water and all(k <= self.high_water for k in keys):
            stop = "reached_high_water"
        elif parsed and self.window_start and all(i.published_at < self.window_start for i in listed):
            stop = "before_window"
        elif next_url is None:
            stop = "last_page"
        elif self.pages_done >= self.platform.max_pages:
            stop = "max_pages"  # a depth cap, not a failure: the run still finishes
        if stop:
            yield from self._finish(url, stop, posts, parsed)
            return
        pending = (TAINT if self.tainted else "") + (self.pending or "")
        cp = Checkpoint(self.platform.name, self.query, self.high_water, next_url, pending or None)
        yield PageItem(url, cp, posts, parsed)
        yield self._request(next_url, self.parse_page)

    def _finish(self, url: str, reason: str, posts: list[Post] = (), parsed: bool = False):
        high = self.high_water
        if self.tainted:
            self.crawler.stats.set_value("radar/high_water_held", 1)
        elif self.pending and (high is None or self.pending > high):
            high = self.pending
        self.crawler.stats.set_value("radar/stop_reason", reason)
        yield PageItem(url, Checkpoint(self.platform.name, self.query, high, None, None),
                       list(posts), parsed)

    # --- detail pages ------------------------------------------------------------------------

    def parse_detail(self, response: Response):
        follow = self._screen(response, self.parse_detail)
        if follow is not None:
            yield follow
            return
        group: _DetailGroup = response.meta["radar_group"]
        listed: Listed = response.meta["radar_listed"]
        if response.status == 404:
            self._count_http(404)  # thread deleted since listed: nothing to re-read later
        elif response.status != 200:
            self._count_http(response.status)
            self.tainted = True
        else:
            try:
                group.posts.append(self.adapter.parse_detail(
                    response.body, response.url, self.platform, ParseContext(self.salt, utcnow()), listed))
            except ParseError as exc:
                self._block_if_marked(response)
                self.crawler.stats.inc_value("radar/parse_errors")
                self.logger.warning("skipping malformed thread %s: %s", response.url, exc)
                self.tainted = True
        yield from self._detail_done(group)

    def on_detail_error(self, failure: Failure):
        self._download_error(failure)
        self.tainted = True
        yield from self._detail_done(failure.request.meta["radar_group"])

    def _detail_done(self, group: _DetailGroup):
        group.remaining -= 1
        if group.remaining == 0:
            yield from self._advance(group.url, group.posts, group.listed, group.next_url)

    # --- errors and blocks -------------------------------------------------------------------

    def _screen(self, response: Response, callback) -> scrapy.Request | None:
        """Stop on a block; follow an ordinary redirect (handle_httpstatus_all turned
        RedirectMiddleware off so that a redirect to a login page can be seen)."""
        if response.status in BLOCK_STATUSES:
            self._block(f"HTTP {response.status} at {response.url}")
        if 300 <= response.status < 400 and b"Location" in response.headers:
            target = response.urljoin(response.headers[b"Location"].decode("latin-1"))
            if LOGIN_URL.search(target):
                self._block(f"redirected to a login page {target} from {response.url}")
            hops = response.meta.get("radar_hops", 0) + 1
            if hops > MAX_REDIRECTS:
                self._http_error(response.status, response.url)
                return None
            meta = {k: v for k, v in response.meta.items() if k.startswith("radar_")}
            return self._request(target, callback, response.request.errback,
                                 **{**meta, "radar_hops": hops})
        return None

    def _block_if_marked(self, response: Response) -> None:
        marker = _block_marker(response.body)
        if marker is not None and not any(m in response.body for m in self.adapter.content_markers):
            self._block(f"captcha/slider page at {response.url} (marker {marker.decode()!r})")
        login = next((m for m in LOGIN_MARKERS if m in response.body), None)
        if login is not None and not any(m in response.body for m in self.adapter.content_markers):
            self._block(f"login wall at {response.url} (marker {login.decode()!r})")

    def _alarm(self, kind: str, message: str) -> None:
        """An alarm goes to the coverage record (radar/alarms/<kind>), not only to the log."""
        self.crawler.stats.set_value(f"radar/alarms/{kind}", message)
        self.logger.error("%s alarm %s: %s", self.platform.name, kind, message)

    def _block(self, reason: str):
        self.crawler.stats.set_value("radar/blocked_reason", reason)
        self.logger.warning("%s blocked: %s", self.platform.name, reason)
        raise CloseSpider("blocked")

    def _count_http(self, status: int) -> None:
        self.crawler.stats.inc_value(f"radar/http_errors/{status}")

    def _http_error(self, status: int, url: str) -> None:
        # Stop rather than skip: the saved cursor still points at this page, so the next run
        # starts from it and nothing is lost.
        self._count_http(status)
        self.crawler.stats.set_value("radar/interrupted", f"HTTP {status} at {url}")

    def _download_error(self, failure: Failure) -> None:
        name = failure.type.__name__ if failure.type else "Unknown"
        self.crawler.stats.inc_value(f"radar/download_errors/{name}")
        self.logger.warning("download failed %s: %s", failure.request.url, failure.getErrorMessage())

    def on_page_error(self, failure: Failure):
        self._download_error(failure)
        self.crawler.stats.set_value("radar/interrupted", f"{failure.type.__name__} at {failure.request.url}")
        return None
