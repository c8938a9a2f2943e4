"""A local HTTP server that plays weibo, a Discuz! forum and an RSS feed from a list of SimPosts.

Contract: only posts with `published_at <= now` are served (advance `now` with `set_now` and
new posts appear at the top, as in incremental crawling); lists are newest first, 20 per page;
past the last page weibo answers `ok: 0` and the forum and the feed answer 404. A `Fault` set
for a platform replaces that platform's answers (on the given list pages, or everywhere) with a
blocking or broken response. Stdlib only; logs nothing.

Routes: /healthz, /login, /weibo/api/container/getIndex?containerid=102803&page=N,
/jzsz/forum-1-N.html, /jzsz/thread-TID-1-1.html, /rss/szrss.xml?paged=N, /rss/item/SLUG.
"""
from __future__ import annotations

import bisect
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from crawlers.simulator import formats
from crawlers.simulator import platforms as more
from crawlers.simulator.corpus import SHANGHAI, SimPost

FAULT_MODES = frozenset({"malformed", "http500", "http429", "captcha", "login_wall", "http418", "empty",
                         "http461", "slow", "truncated", "layout_changed"})
PREFIXES = {"weibo": "/weibo", "jiazaishenzhen": "/jzsz", "szrss": "/rss",
            **{name: f"/p/{name}" for name in more.ALL}}
_MORE = re.compile(r"^/p/([a-z0-9_]+)(/.*)?$")
_FORUM_LIST = re.compile(r"^/jzsz/forum-(\d+)-(\d+)\.html$")
_FORUM_THREAD = re.compile(r"^/jzsz/thread-(\d+)-(\d+)-(\d+)\.html$")
_RSS_ITEM = re.compile(r"^/rss/item/([\w\-]+)$")

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
XML = "application/rss+xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@dataclass
class Fault:
    """How a platform misbehaves: `mode` on list pages `pages` (None = every request), for
    the first `times` matching requests (None = always; a burst of 500s is `times=3`).

    slow: answers after `delay` seconds (a timeout for a crawler that waits less);
    truncated: a real answer cut in half; layout_changed: HTML with every class renamed."""
    mode: str       # see FAULT_MODES
    pages: frozenset[int] | None = None
    times: int | None = None
    delay: float = 3.0
    retry_after: int = 1

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; expected one of {sorted(FAULT_MODES)}")

    def applies(self, page: int | None) -> bool:
        """page None = a detail page (thread, item): only faulted when every page is."""
        return self.pages is None or (page is not None and page in self.pages)


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()


class _Feed:
    """One platform's posts in time order, with an index by native id."""

    def __init__(self, posts: list[SimPost]) -> None:
        self.posts = sorted(posts, key=lambda p: p.published_at)
        self.times = [p.published_at.timestamp() for p in self.posts]
        self.by_id = {p.native_id: p for p in self.posts}

    def visible(self, now_ts: float) -> int:
        return bisect.bisect_right(self.times, now_ts)

    def page(self, now_ts: float, page: int) -> tuple[list[SimPost], int, bool] | None:
        """(posts newest first, total visible, has next page), or None past the last page."""
        k = self.visible(now_ts)
        hi = k - (page - 1) * formats.PAGE_SIZE
        if page < 1 or hi <= 0:
            return None
        lo = max(0, hi - formats.PAGE_SIZE)
        return self.posts[lo:hi][::-1], k, lo > 0

    def get(self, native_id: str, now_ts: float) -> SimPost | None:
        p = self.by_id.get(native_id)
        return p if p is not None and p.published_at.timestamp() <= now_ts else None


class SimulatorServer:
    """Serve `posts` as the three platforms at `now`; use as a context manager or start/stop."""

    def __init__(self, posts: Sequence[SimPost], now: datetime, host: str = "127.0.0.1", port: int = 0,
                 faults: dict[str, Fault] | None = None, spread: bool = False) -> None:
        """`spread`: deal the corpus's posts over all platforms (crawlers.simulator.platforms)."""
        by_platform: dict[str, list[SimPost]] = {name: [] for name in PREFIXES}
        pinned = frozenset(p.reposted_native_id for p in posts if p.reposted_native_id)
        for p in posts:
            by_platform.setdefault(more.assign(p, pinned) if spread else p.platform, []).append(p)
        self._feeds = {name: _Feed(ps) for name, ps in by_platform.items()}
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._now = self._aware(now)
        self._faults: dict[str, Fault] = {}
        for name, fault in (faults or {}).items():
            self.set_fault(name, fault)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.request_log: list[tuple[str, int]] = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> "SimulatorServer":
        if self._httpd is not None:
            return self
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"   # keep-alive with Content-Length, as crawlers expect

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                try:
                    resp = sim._route(self.path)
                except Exception as exc:  # a bug here must show up as a 500, not a hung client
                    resp = _Response(500, f"simulator error: {exc!r}".encode())
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                for k, v in resp.headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(resp.body)
                with sim._lock:
                    sim.request_log.append((self.path, resp.status))

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass   # tests and the demo read request_log; stdout stays clean

        self._httpd = ThreadingHTTPServer((self._host, self._port), Handler)
        self._httpd.daemon_threads = True
        # A short poll keeps stop() (and every test fixture teardown) fast.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("SimulatorServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def platform_base_url(self, platform: str) -> str:
        """Where the platform's adapter should point its base_url."""
        return self.base_url + PREFIXES[platform]

    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set_now(self, now: datetime) -> None:
        with self._lock:
            self._now = self._aware(now)

    def set_fault(self, platform: str, fault: Fault | None) -> None:
        if platform not in PREFIXES:
            raise KeyError(f"unknown platform {platform!r}; expected one of {sorted(PREFIXES)}")
        with self._lock:
            if fault is None:
                self._faults.pop(platform, None)
            else:
                self._faults[platform] = fault

    @staticmethod
    def _aware(now: datetime) -> datetime:
        return now.replace(tzinfo=SHANGHAI) if now.tzinfo is None else now

    # -- routing --------------------------------------------------------------------------

    def _route(self, raw_path: str) -> _Response:
        url = urlsplit(raw_path)
        path, query = url.path, parse_qs(url.query)
        with self._lock:
            now = self._now
            faults = dict(self._faults)
        now_ts = now.timestamp()
        if path == "/healthz":
            return _Response(200, b"ok")
        if path == "/login":
            return _Response(200, formats.login_page(), HTML)

        if path == "/weibo/api/container/getIndex":
            page = _int(query.get("page", ["1"])[0])
            return self._faulted("weibo", page, faults, JSON,
                                 lambda: self._weibo(query.get("containerid", [""])[0], page, now_ts))
        if m := _FORUM_LIST.match(path):
            fid, page = int(m.group(1)), int(m.group(2))
            return self._faulted("jiazaishenzhen", page, faults, HTML, lambda: self._forum_list(fid, page, now_ts))
        if m := _FORUM_THREAD.match(path):
            tid = m.group(1)
            return self._faulted("jiazaishenzhen", None, faults, HTML, lambda: self._forum_thread(tid, now_ts))
        if path == "/rss/szrss.xml":
            page = _int(query.get("paged", ["1"])[0])
            return self._faulted("szrss", page, faults, XML, lambda: self._rss(page, now))
        if m := _RSS_ITEM.match(path):
            slug = m.group(1)
            return self._faulted("szrss", None, faults, HTML, lambda: self._rss_item(slug, now_ts))
        if (m := _MORE.match(path)) and m.group(1) in more.SOURCE:
            return self._more(m.group(1), m.group(2) or "/", raw_path, query, now, faults)
        return _not_found()

    def _more(self, name: str, sub: str, raw_path: str, query: dict, now: datetime,
              faults: dict[str, Fault]) -> _Response:
        """The 39 platforms of crawlers.simulator.platforms (one feed each)."""
        feed = self._feeds[name]
        now_ts = now.timestamp()
        base = self.base_url + PREFIXES[name]
        if name in more.WEIBO_LIKE:
            page = _int(query.get("page", ["1"])[0])
            got = feed.page(now_ts, page)
            return self._faulted(name, page, faults, JSON, lambda: _Response(200, formats.weibo_end(), JSON)
                                 if got is None else _Response(200, formats.weibo_page(
                                     got[0], page, got[1], got[2], lambda i: feed.get(i, now_ts),
                                     query.get("containerid", [""])[0]), JSON))
        if name in more.DISCUZ_LIKE:
            if m := re.match(r"^/forum-(\d+)-(\d+)\.html$", sub):
                page = int(m.group(2))
                got = feed.page(now_ts, page)
                if got is None:
                    return self._faulted(name, page, faults, HTML, lambda: _Response(
                        200, formats.forum_list_page([], 1, False, int(m.group(1))), HTML) if page == 1 else _not_found())
                return self._faulted(name, page, faults, HTML, lambda: _Response(
                    200, formats.forum_list_page(got[0], page, got[2], int(m.group(1))), HTML))
            if m := re.match(r"^/thread-(\d+)-", sub):
                post = feed.get(m.group(1), now_ts)
                return self._faulted(name, None, faults, HTML, lambda: _Response(
                    200, formats.forum_thread_page(post), HTML) if post else _not_found())
            return _not_found()
        if name in more.FEEDS or name in more.ATOM:
            page = _int(query.get("paged", ["1"])[0])
            got = feed.page(now_ts, page)
            if got is None and page > 1:
                return self._faulted(name, page, faults, XML, _not_found)
            posts, _, has_next = got or ([], 0, False)
            if name in more.ATOM:
                nxt = f"{base}{sub}?paged={page + 1}" if has_next else None
                return self._faulted(name, page, faults, XML, lambda: _Response(
                    200, more.atom_page(posts, base, nxt, now), "application/atom+xml; charset=utf-8"))
            return self._faulted(name, page, faults, XML, lambda: _Response(
                200, formats.rss_page(posts, self.base_url, now), XML))
        # generic platforms: offset from the platform's own paging parameter
        k = feed.visible(now_ts)
        newest_first = feed.posts[:k][::-1]

        def position(native_id: str) -> int | None:
            p = feed.by_id.get(native_id)
            if p is None or p.published_at.timestamp() > now_ts:
                return None
            return k - 1 - feed.posts.index(p)
        offset = more.offset_of(name, query, position)
        posts = newest_first[offset: offset + more.PAGE_SIZE]
        has_next = offset + more.PAGE_SIZE < len(newest_first)
        kind, param, start = more.PAGING[name]
        nxt = more.next_param(name, offset, posts) if has_next and posts else None
        page = offset // more.PAGE_SIZE + start
        page_no = offset // more.PAGE_SIZE + 1
        fault = faults.get(name)
        layout_changed = fault is not None and fault.mode == "layout_changed" and fault.applies(page_no)
        if name in more.JSON_PLATFORMS:
            return self._faulted(name, page_no, faults, JSON, lambda: _Response(
                200, more._json_page(name, posts, nxt, page), JSON))
        href = None
        if nxt is not None:
            from urllib.parse import urlencode as _enc
            q = {k2: v[0] for k2, v in query.items()}
            q[param] = nxt
            href = f"{PREFIXES[name]}{sub}?{_enc(q)}"
        if name == "dianping":
            return self._faulted(name, page_no, faults, HTML, lambda: _Response(
                200, more.dianping_shell(posts, href), HTML))
        return self._faulted(name, page_no, faults, HTML, lambda: _Response(
            200, more.html_page(name, posts, href, nxt, layout_changed), HTML))

    def _faulted(self, platform: str, page: int | None, faults: dict[str, Fault], content_type: str,
                 serve) -> _Response:
        fault = faults.get(platform)
        if fault is None or not fault.applies(page):
            return serve()
        if fault.times is not None:
            with self._lock:
                if fault.times <= 0:
                    return serve()
                fault.times -= 1
        mode = fault.mode
        if mode == "slow":
            time.sleep(fault.delay)
            return serve()
        if mode == "truncated":
            good = serve()
            return _Response(good.status, good.body[: max(1, len(good.body) // 2)], good.content_type)
        if mode == "layout_changed":
            return serve()  # the HTML renderer renames its classes itself
        if mode == "http461":
            return _Response(461, b'{"ok":0,"msg":"request too frequent"}', JSON)
        if mode == "http500":
            return _Response(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", HTML)
        if mode == "http429":
            return _Response(429, b"Too Many Requests", TEXT, (("Retry-After", str(fault.retry_after)),))
        if mode == "http418":
            return _Response(418, b"I'm a teapot", TEXT)
        if mode == "captcha":
            return _Response(200, formats.captcha_page(), HTML)
        if mode == "login_wall":
            return _Response(302, b"", HTML, (("Location", f"{self.base_url}/login?platform={platform}"),))
        if mode == "empty":
            return self._empty(platform, page, content_type)
        # malformed: a real answer cut mid-way with junk after it, still HTTP 200
        good = serve()
        body = good.body or b"<html>"
        return _Response(200, body[: max(1, len(body) // 2)] + b"\x00\xff<<<\xe5\x9d", good.content_type)

    def _empty(self, platform: str, page: int | None, content_type: str) -> _Response:
        if page is None:
            return _not_found()
        if platform == "weibo":
            return _Response(200, formats.weibo_page([], page, 0, False), JSON)
        if platform == "jiazaishenzhen":
            return _Response(200, formats.forum_list_page([], page, False), HTML)
        return _Response(200, formats.rss_page([], self.base_url, self.now), XML)

    # -- platforms ------------------------------------------------------------------------

    def _weibo(self, containerid: str, page: int, now_ts: float) -> _Response:
        feed = self._feeds["weibo"]
        got = feed.page(now_ts, page) if containerid == formats.WEIBO_CONTAINER else None
        if got is None:
            return _Response(200, formats.weibo_end(), JSON)
        posts, total, has_next = got
        return _Response(200, formats.weibo_page(posts, page, total, has_next, lambda i: feed.get(i, now_ts)), JSON)

    def _forum_list(self, fid: int, page: int, now_ts: float) -> _Response:
        if fid != formats.FORUM_FID:
            return _not_found()
        feed = self._feeds["jiazaishenzhen"]
        got = feed.page(now_ts, page)
        if got is None:
            if page == 1:   # an empty board still has a first page
                return _Response(200, formats.forum_list_page([], 1, False), HTML)
            return _not_found()
        posts, _, has_next = got
        return _Response(200, formats.forum_list_page(posts, page, has_next), HTML)

    def _forum_thread(self, tid: str, now_ts: float) -> _Response:
        post = self._feeds["jiazaishenzhen"].get(tid, now_ts)
        return _Response(200, formats.forum_thread_page(post), HTML) if post else _not_found()

    def _rss(self, page: int, now: datetime) -> _Response:
        got = self._feeds["szrss"].page(now.timestamp(), page)
        if got is None:
            if page == 1:
                return _Response(200, formats.rss_page([], self.base_url, now), XML)
            return _not_found()
        posts, _, _ = got
        return _Response(200, formats.rss_page(posts, self.base_url, now), XML)

    def _rss_item(self, slug: str, now_ts: float) -> _Response:
        post = self._feeds["szrss"].get(slug, now_ts)
        return _Response(200, formats.rss_item_page(post), HTML) if post else _not_found()


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return 1


def _not_found() -> _Response:
    return _Response(404, b"<html><body><h1>404 Not Found</h1></body></html>", HTML)
