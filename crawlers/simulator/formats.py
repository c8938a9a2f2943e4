"""Render SimPosts in each platform's real wire format.

Contracts (what the crawler adapters parse):
- weibo: m.weibo.cn container API JSON (`ok`, `data.cardlistInfo`, `data.cards[].mblog`), HTML
  text with @mention links, #hashtag# links and `<br />`; `ok: 0` past the last page.
- jiazaishenzhen: Discuz! X3 board list (`normalthread_<tid>`, `class="nxt"` pager) and thread
  page (`thread_subject`, `postmessage_<pid>`, `authorposton<pid>`, `recommendv_add_<tid>`),
  Asia/Shanghai local times without offset.
- szrss: RSS 2.0, `<description>` holds HTML in CDATA, RFC 822 dates with +0800.
Every body is valid for its format: JSON via `json.dumps`, HTML/XML text escaped.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

from crawlers.simulator.corpus import SHANGHAI, SimPost

PAGE_SIZE = 20
WEIBO_CONTAINER = "102803"
FORUM_FID = 1

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MENTION = re.compile(r"@([\w\-]{1,30})")
_HASHTAG = re.compile(r"#([^#<>\s@]{1,40})#")
_B62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SOURCES = ("iPhone客户端", "Android", "微博 weibo.com", "HUAWEI Mate 60", "小米14 Pro", "iPad客户端")


def _local(dt: datetime) -> datetime:
    # Platforms show China time whatever zone the caller used.
    return dt.astimezone(SHANGHAI)


def _rfc822(dt: datetime) -> str:
    d = _local(dt)
    return (f"{_DAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]} {d.year} "
            f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} +0800")


# --- weibo ---------------------------------------------------------------------------------

def weibo_created_at(dt: datetime) -> str:
    """`Sat Nov 21 10:12:00 +0800 2026` (locale-independent)."""
    d = _local(dt)
    return (f"{_DAYS[d.weekday()]} {_MONTHS[d.month - 1]} {d.day:02d} "
            f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} +0800 {d.year}")


def mid_to_bid(mid: str) -> str:
    """Weibo's short id: the mid in groups of 7 decimal digits from the right, each in base 62."""
    out = []
    s = mid
    while s:
        chunk, s = s[-7:], s[:-7]
        n = int(chunk)
        enc = ""
        while n:
            n, r = divmod(n, 62)
            enc = _B62[r] + enc
        out.append(enc.rjust(4, "0") if s else enc or "0")
    return "".join(reversed(out))


def _hashtag_link(m: re.Match[str]) -> str:
    tag = m.group(0)
    q = quote(f"type=1&t=10&q={tag}", safe="")
    return (f'<a href="https://m.weibo.cn/search?containerid=231522{q}" data-hide="">'
            f'<span class="surl-text">{tag}</span></a>')


def weibo_text_html(text: str) -> str:
    """Plain text to weibo's mblog HTML: escaped, @mentions and #tags# linked, `<br />`."""
    out = html.escape(text, quote=False)
    out = _HASHTAG.sub(_hashtag_link, out)
    out = _MENTION.sub(lambda m: f"<a href='/n/{m.group(1)}'>@{m.group(1)}</a>", out)
    return out.replace("\n", "<br />")


def _count(n: int) -> int | str:
    # Like the real API: big counts come back as display strings.
    if n >= 1_000_000:
        return "100万+"
    if n >= 10_000:
        return f"{n / 10_000:.1f}万"
    return n


def weibo_mblog(post: SimPost, lookup: Callable[[str], SimPost | None] | None = None) -> dict:
    """The `mblog` object of one post; a repost embeds its original as `retweeted_status`."""
    mid = post.native_id
    uid = int(post.author_id) if post.author_id.isdigit() else abs(int.from_bytes(post.author_id.encode()[:6], "big"))
    m: dict = {
        "visible": {"type": 0, "list_id": 0},
        "created_at": weibo_created_at(post.published_at),
        "id": mid, "mid": mid, "bid": mid_to_bid(mid),
        "can_edit": False,
        "text": weibo_text_html(post.text),
        "textLength": len(post.text.encode("gbk", "replace")),
        "source": _SOURCES[int(mid[-3:]) % len(_SOURCES)],
        "favorited": False,
        "pic_num": len(post.media),
        "user": {"id": uid, "screen_name": post.author_name,
                 "profile_url": f"https://m.weibo.cn/u/{uid}?uid={uid}",
                 "verified": False, "follow_me": False, "following": False},
        "reposts_count": _count(post.shares),
        "comments_count": _count(post.comments),
        "attitudes_count": _count(post.likes),
        "isLongText": False,
    }
    if post.geotag:
        m["region_name"] = post.geotag
    if post.media:
        pics = []
        for url in post.media:
            pid = url.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            host = url.split("/")[2]
            pics.append({"pid": pid, "url": f"https://{host}/orj360/{pid}.jpg", "size": "orj360",
                         "large": {"size": "large", "url": url}})
        m["pics"] = pics
    if post.reposted_native_id:
        original = lookup(post.reposted_native_id) if lookup else None
        if original is not None:
            m["retweeted_status"] = weibo_mblog(original, None)
        else:
            # What the API shows for a deleted or hidden original: no user.
            m["retweeted_status"] = {"id": post.reposted_native_id, "mid": post.reposted_native_id,
                                     "created_at": m["created_at"], "user": None,
                                     "text": "抱歉，此微博已被作者删除。查看帮助：<a href=\"https://t.cn/Rfd3rQV\">网页链接</a>"}
    return m


def _dumps(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def weibo_page(posts: Sequence[SimPost], page: int, total: int, has_next: bool,
               lookup: Callable[[str], SimPost | None] | None = None,
               containerid: str = WEIBO_CONTAINER) -> bytes:
    """One page of the container feed; `cardlistInfo.page` is the next page or null."""
    cards = [{"card_type": 9, "itemid": f"{containerid}_-_{p.native_id}", "scheme":
              f"https://m.weibo.cn/status/{p.native_id}", "mblog": weibo_mblog(p, lookup)} for p in posts]
    return _dumps({"ok": 1, "data": {
        "cardlistInfo": {"containerid": containerid, "v_p": 42, "show_style": 1, "total": total,
                         "page": page + 1 if has_next else None},
        "cards": cards, "scheme": ""}})


def weibo_end() -> bytes:
    return _dumps({"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}})


# --- Discuz! (jiazaishenzhen) --------------------------------------------------------------

def _forum_time(dt: datetime) -> tuple[str, str]:
    d = _local(dt)
    day = f"{d.year}-{d.month:02d}-{d.day:02d}"
    return day, f"{day} {d.hour:02d}:{d.minute:02d}"


def forum_pid(tid: str) -> str:
    """The first post's pid: Discuz numbers posts separately from threads."""
    return str(int(tid) * 3 + 100_000_000) if tid.isdigit() else tid


def _forum_body(text: str) -> str:
    out = html.escape(text, quote=False).replace("  ", "&nbsp; ")
    return out.replace("\n", "<br />\n")


_FORUM_HEAD = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
               '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
               '<html xmlns="http://www.w3.org/1999/xhtml"><head>\n'
               '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'
               '<title>{title} - 家在深圳 - Powered by Discuz!</title>\n</head><body id="nv_forum">\n')


def forum_list_page(posts: Sequence[SimPost], page: int, has_next: bool, fid: int = FORUM_FID) -> bytes:
    """A board list page, threads newest first; the `nxt` link only when a next page exists."""
    parts = [_FORUM_HEAD.format(title="民生投诉"),
             f'<div id="threadlist" class="tl bm bmw"><div class="bm_c">\n'
             f'<table summary="forum_{fid}" cellspacing="0" cellpadding="0" id="threadlisttable">\n']
    if page == 1:
        parts.append('<tbody id="stickthread_1"><tr><th class="common">'
                     '<a href="thread-1-1-1.html" class="s xst">【版规】民生投诉版发帖须知</a></th></tr></tbody>\n'
                     '<tbody id="separatorline"><tr class="ts"><td>&nbsp;</td><th>版块主题</th></tr></tbody>\n')
    for p in posts:
        tid = p.native_id
        day, minute = _forum_time(p.published_at)
        title = html.escape(p.title or p.text[:30])
        name = html.escape(p.author_name)
        parts.append(
            f'<tbody id="normalthread_{tid}"><tr>'
            f'<th class="new"><a href="thread-{tid}-1-1.html" class="s xst">{title}</a></th>'
            f'<td class="by"><cite><a href="space-uid-{p.author_id}.html">{name}</a></cite>'
            f'<em><span title="{day}">{minute}</span></em></td>'
            f'<td class="num"><a href="thread-{tid}-1-1.html" class="xi2">{p.comments}</a><em>{p.views}</em></td>'
            f'</tr></tbody>\n')
    parts.append("</table></div></div>\n")
    pager = f'<div class="pg">'
    if page > 1:
        pager += f'<a href="forum-{fid}-{page - 1}.html" class="prev">上一页</a>'
    pager += f"<strong>{page}</strong>"
    if has_next:
        pager += f'<a href="forum-{fid}-{page + 1}.html" class="nxt">下一页</a>'
    parts.append(pager + "</div>\n</body></html>\n")
    return "".join(parts).encode("utf-8")


def forum_thread_page(post: SimPost) -> bytes:
    """A thread's first page with its opening post."""
    tid = post.native_id
    pid = forum_pid(tid)
    _, minute = _forum_time(post.published_at)
    title = html.escape(post.title or post.text[:30])
    imgs = "".join(f'<br />\n<img id="aimg_{pid}{k}" aid="{pid}{k}" zoomfile="{html.escape(url)}" '
                   f'file="{html.escape(url)}" class="zoom" alt="" />' for k, url in enumerate(post.media))
    page = (
        _FORUM_HEAD.format(title=title)
        + f'<div id="pt" class="bm cl"><a href="forum-{FORUM_FID}-1.html">民生投诉</a></div>\n'
        f'<h1 class="ts"><span id="thread_subject">{title}</span></h1>\n'
        f'<div id="postlist" class="pl bm">\n<div id="post_{pid}"><table id="pid{pid}" class="plhin">'
        f'<tr><td class="pls" rowspan="2"><div class="pi"><div class="authi">'
        f'<a href="space-uid-{post.author_id}.html" target="_blank" class="xw1">{html.escape(post.author_name)}</a>'
        f'</div></div></td>\n<td class="plc"><div class="pi"><div class="pti"><div class="authi">'
        f'<em id="authorposton{pid}">发表于 {minute}</em></div></div></div>\n'
        f'<div class="pct"><div class="pcb"><div class="t_fsz"><table cellspacing="0" cellpadding="0"><tr>'
        f'<td class="t_f" id="postmessage_{pid}">\n{_forum_body(post.text)}{imgs}\n</td></tr></table></div></div></div>\n'
        f'<div id="p_btn" class="mtw mbm hm cl"><a id="recommend_add" href="#">'
        f'<i>支持 <span id="recommendv_add_{tid}">{post.likes}</span></i></a></div>\n'
        f'</td></tr></table></div>\n</div>\n</body></html>\n')
    return page.encode("utf-8")


# --- RSS (szrss) ---------------------------------------------------------------------------

def _cdata(s: str) -> str:
    return "<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def rss_item(post: SimPost, base_url: str) -> str:
    """One `<item>`; the body is HTML (paragraphs, `<br />`, images) inside CDATA."""
    body = html.escape(post.text, quote=False).replace("\n", "<br />")
    imgs = "".join(f'<img src="{html.escape(u)}" />' for u in post.media)
    slug = post.native_id
    return (f"<item><title>{xml_escape(post.title or post.text[:30])}</title>"
            f"<link>{xml_escape(base_url)}/rss/item/{xml_escape(slug)}</link>"
            f'<guid isPermaLink="false">{xml_escape(slug)}</guid>'
            f"<pubDate>{_rfc822(post.published_at)}</pubDate>"
            f"<author>{xml_escape(post.author_name)}</author>"
            f"<description>{_cdata(f'<p>{body}</p>' + (f'<p>{imgs}</p>' if imgs else ''))}</description></item>\n")


def rss_page(posts: Sequence[SimPost], base_url: str, built: datetime) -> bytes:
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>\n'
            f"<title>深圳民生</title><link>{xml_escape(base_url)}/rss/</link>"
            "<description>深圳民生投诉与新闻</description><language>zh-CN</language>"
            f"<lastBuildDate>{_rfc822(built)}</lastBuildDate>\n")
    return (head + "".join(rss_item(p, base_url) for p in posts) + "</channel></rss>\n").encode("utf-8")


def rss_item_page(post: SimPost) -> bytes:
    body = html.escape(post.text, quote=False).replace("\n", "<br />")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(post.title or "")}</title>'
            f'</head><body><h1>{html.escape(post.title or "")}</h1><p>{body}</p></body></html>\n').encode("utf-8")


# --- blocking pages ------------------------------------------------------------------------

def captcha_page() -> bytes:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>安全验证</title></head><body>'
            '<div id="captcha" class="geetest_captcha"><div class="geetest_slider">'
            '<p>请完成下方滑块验证后继续访问</p><div class="geetest_slider_button">拖动滑块</div>'
            '</div><noscript>captcha required</noscript></div></body></html>\n').encode("utf-8")


def login_page() -> bytes:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>登录</title></head><body>'
            '<form id="loginform" action="/login" method="post"><h2>登录后查看更多内容</h2>'
            '<input name="username" placeholder="手机号/邮箱" /><input type="password" name="password" />'
            '<button type="submit">登录</button></form></body></html>\n').encode("utf-8")
