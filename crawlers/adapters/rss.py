"""RSS 2.0 feeds with WordPress paging (`?paged=n`), and Atom feeds; query = feed path.

Page n: `{base}/{query}?paged=n`, items newest first, 404 past the end. Atom feeds page with
`<link rel="next">` (RFC 5005) when they page at all. native_id = guid (Atom: id).
"""
from __future__ import annotations

import email.utils
import re
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree

from core.config import PlatformConfig
from core.models import Post, hash_author

from crawlers.adapters.base import (CHINA_TZ, Listed, ParseContext, ParsedPage, ParseError,
                                    html_to_text)

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
_IMG = re.compile(r"<img\b[^>]*?\bsrc=[\"']([^\"']+)[\"']", re.I)
# Locked down: no network, no entity expansion (billion laughs), and no silent repair.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, recover=False, huge_tree=False)


class RssAdapter:
    name = "rss"
    content_markers = (b"<item", b"<entry")

    def start_url(self, platform: PlatformConfig, query: str, page: int = 1) -> str:
        base = platform.base_url.rstrip("/")
        return _with_paged(f"{base}/{query.lstrip('/')}", page)

    def page_after(self, url: str, platform: PlatformConfig | None = None) -> str | None:
        q = parse_qs(urlsplit(url).query)
        try:
            return _with_paged(url, int(q.get("paged", ["1"])[0]) + 1)
        except ValueError:
            return None

    def parse(self, body: bytes, url: str, platform: PlatformConfig, ctx: ParseContext) -> ParsedPage:
        try:
            root = etree.fromstring(body, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise ParseError(f"rss: malformed XML at {url}: {exc}") from None
        if root.tag == f"{ATOM}feed":
            return self._atom(root, url, platform, ctx)
        if root.tag != "rss" or root.find("channel") is None:
            raise ParseError(f"rss: expected <rss><channel> or an Atom <feed>, got <{root.tag}>")
        posts = []
        for i, item in enumerate(root.find("channel").iterfind("item")):
            where = f"item[{i}]"
            link = (item.findtext("link") or "").strip()
            native_id = (item.findtext("guid") or "").strip() or link
            if not native_id:
                raise ParseError(f"rss: {where} has neither guid nor link")
            pub = (item.findtext("pubDate") or "").strip()
            if not pub:
                raise ParseError(f"rss: {where} ({native_id}) has no pubDate")
            author = (item.findtext(DC_CREATOR) or item.findtext("author") or "").strip()
            body_html = item.findtext(CONTENT) or item.findtext("description") or ""
            media = _IMG.findall(body_html)
            media += [e.get("url") for e in item.iterfind("enclosure") if e.get("url")]
            posts.append(self._post(platform, ctx, native_id, urljoin(url, link) if link else url,
                                    item.findtext("title"), body_html, _rfc822(pub, where),
                                    author, media))
        # WordPress pages by ?paged=n and answers 404 past the end, so any page with items
        # may have a successor; an atom:link rel=next, when present, says so for sure.
        nxt = _atom_next(root.find("channel"), url)
        if nxt is None and posts:
            nxt = self.page_after(url)
        return ParsedPage(posts, nxt, [Listed(p.native_id, p.published_at) for p in posts])

    def _atom(self, root, url: str, platform: PlatformConfig, ctx: ParseContext) -> ParsedPage:
        posts = []
        for i, entry in enumerate(root.iterfind(f"{ATOM}entry")):
            where = f"entry[{i}]"
            native_id = (entry.findtext(f"{ATOM}id") or "").strip()
            if not native_id:
                raise ParseError(f"atom: {where} has no <id>")
            when = (entry.findtext(f"{ATOM}published") or entry.findtext(f"{ATOM}updated") or "").strip()
            if not when:
                raise ParseError(f"atom: {where} ({native_id}) has no <published>/<updated>")
            try:
                published = datetime.fromisoformat(when.replace("Z", "+00:00"))
            except ValueError:
                raise ParseError(f"atom: {where}: bad time {when!r}") from None
            if published.tzinfo is None:
                published = published.replace(tzinfo=CHINA_TZ)
            link = next((l.get("href") for l in entry.iterfind(f"{ATOM}link")
                         if l.get("rel", "alternate") == "alternate" and l.get("href")), None)
            content = entry.find(f"{ATOM}content")
            if content is None:
                content = entry.find(f"{ATOM}summary")
            body_html = _atom_text(content)
            author = (entry.findtext(f"{ATOM}author/{ATOM}name") or "").strip()
            title = entry.find(f"{ATOM}title")
            posts.append(self._post(platform, ctx, native_id, urljoin(url, link) if link else url,
                                    _atom_text(title) if title is not None else None, body_html,
                                    published, author, _IMG.findall(body_html)))
        return ParsedPage(posts, _atom_next(root, url) if posts else None,
                          [Listed(p.native_id, p.published_at) for p in posts])

    @staticmethod
    def _post(platform, ctx, native_id, url, title, body_html, published, author, media) -> Post:
        return Post(platform=platform.name, native_id=native_id, url=url,
                    author_hash=hash_author(author, ctx.salt), author_name=author,
                    title=html_to_text(title or "") or None, text=html_to_text(body_html),
                    published_at=published, crawled_at=ctx.crawled_at,
                    media=tuple(dict.fromkeys(media)))


def _rfc822(text: str, where: str) -> datetime:
    try:
        value = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise ParseError(f"rss: {where}: bad pubDate {text!r}") from None
    # "-0000" means "zone unknown"; the feeds we read are Chinese sites, so assume +08:00.
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA_TZ)


def _atom_text(el) -> str:
    if el is None:
        return ""
    if el.get("type") == "xhtml":
        return "".join(etree.tostring(c, encoding="unicode") for c in el)
    return el.text or ""


def _atom_next(parent, url: str) -> str | None:
    if parent is None:
        return None
    for link in parent.iterfind(f"{ATOM}link"):
        if link.get("rel") == "next" and link.get("href"):
            return urljoin(url, link.get("href"))
    return None


def _with_paged(url: str, page: int) -> str:
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    q["paged"] = str(page)
    return urlunsplit(parts._replace(query=urlencode(q)))
