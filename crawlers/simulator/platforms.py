"""The simulator's other 39 platforms: each one's real wire format, rendered from corpus posts.

The corpus (corpus.py) writes posts for three source platforms (weibo, jiazaishenzhen,
szrss). Every other platform plays one of them (`SOURCE`): in `spread` mode each post of a
source platform is served by exactly one platform of its family, chosen by a stable hash of
its id (reposts and the originals they point at stay on weibo, whose format embeds them), so
the union of all platforms is the corpus with no post twice. Without `spread`, the three
source platforms keep all their posts and the others serve empty lists.

Paging is read from the request the way each real API pages (`PAGING`: page number, offset,
opaque cursor, last id, or a next URL) and mapped to an offset into the newest-first list.
Keywords in search URLs are ignored: the simulator's search returns the platform's whole feed.
"""
from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from urllib.parse import urlencode

from crawlers.simulator.corpus import SHANGHAI, SimPost

PAGE_SIZE = 20

SOURCE: dict[str, str] = {
    # short posts (no title) play weibo
    **{n: "weibo" for n in (
        "weibo_search", "weibo_topic", "douyin", "kuaishou", "xiaohongshu", "wechat_channels",
        "bilibili", "x", "mastodon", "bluesky", "youtube", "facebook", "instagram", "tiktok",
        "telegram", "threads", "xigua", "vk", "dianping")},
    # titled threads play the forum
    **{n: "jiazaishenzhen" for n in (
        "szforum", "tieba", "douban_group", "zhihu", "people_liuyan", "aoyi", "heimao", "reddit",
        "discourse", "hackernews", "hupu", "mayor_mailbox", "lemmy")},
    # articles play the feed
    **{n: "szrss" for n in (
        "sznews_rss", "szgov_atom", "google_news_rss", "weixin_rss", "sogou_weixin", "toutiao",
        "baidu_news")},
}

# platform -> (kind, query parameter, first page number)
PAGING: dict[str, tuple[str, str, int]] = {
    "douyin": ("cursor", "offset", 0), "kuaishou": ("cursor", "pcursor", 0),
    "xiaohongshu": ("page", "page", 1), "wechat_channels": ("cursor", "lastBuffer", 0),
    "bilibili": ("page", "page", 1), "x": ("cursor", "pagination_token", 0),
    "mastodon": ("last_id", "max_id", 0), "bluesky": ("cursor", "cursor", 0),
    "youtube": ("cursor", "pageToken", 0), "facebook": ("next_url", "after", 0),
    "instagram": ("next_url", "after", 0), "tiktok": ("cursor", "cursor", 0),
    "telegram": ("last_id", "before", 0), "threads": ("cursor", "after", 0),
    "xigua": ("offset", "offset", 0), "vk": ("offset", "offset", 0), "dianping": ("page", "page", 1),
    "zhihu": ("next_url", "offset", 0), "people_liuyan": ("page", "page", 1),
    "aoyi": ("page", "page", 1), "heimao": ("page", "page", 1), "reddit": ("cursor", "after", 0),
    "discourse": ("last_id", "before", 0), "hackernews": ("page", "page", 0),
    "hupu": ("page", "page", 1), "mayor_mailbox": ("page", "pageNo", 1), "lemmy": ("page", "page", 1),
    "tieba": ("page", "pn", 1), "douban_group": ("offset", "start", 0),
    "sogou_weixin": ("page", "page", 1), "toutiao": ("offset", "offset", 0),
    "baidu_news": ("offset", "pn", 0),
}
WEIBO_LIKE = ("weibo_search", "weibo_topic")
DISCUZ_LIKE = ("szforum",)
FEEDS = ("sznews_rss", "google_news_rss", "weixin_rss")
ATOM = ("szgov_atom",)


def assign(post: SimPost, pinned: frozenset[str]) -> str:
    """The platform that serves this corpus post in spread mode (stable across runs)."""
    if post.platform == "weibo" and (post.reposted_native_id or post.native_id in pinned):
        return "weibo"
    family = [post.platform] + sorted(n for n, s in SOURCE.items() if s == post.platform)
    h = int.from_bytes(hashlib.sha1(f"{post.platform}:{post.native_id}".encode()).digest()[:4], "big")
    return family[h % len(family)]


def offset_of(platform: str, query: dict[str, list[str]], ids_newest_first: Callable[[str], int | None]) -> int:
    """Where in the newest-first list this request starts."""
    kind, name, start = PAGING[platform]
    raw = (query.get(name) or [""])[0]
    if kind == "page":
        return (int(raw) - start) * PAGE_SIZE if raw.lstrip("-").isdigit() else 0
    if kind == "last_id":
        if not raw:
            return 0
        pos = ids_newest_first(raw)
        return pos + 1 if pos is not None else 10**9
    if not raw:
        return 0
    try:
        return int(raw.removeprefix("c").removeprefix("t3_x"))
    except ValueError:
        return 10**9  # an unknown cursor: past the end


def next_param(platform: str, offset: int, posts: Sequence[SimPost]) -> str:
    kind, _, start = PAGING[platform]
    if kind == "page":
        return str(offset // PAGE_SIZE + start + 1)
    if kind == "last_id":
        return posts[-1].native_id
    if kind == "offset":
        return str(offset + len(posts))
    return f"c{offset + len(posts)}"


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def _iso_z(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _iso_plus0000(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _cn(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _wan(n: int) -> str | int:
    # Chinese apps print big counts as display strings.
    return f"{n / 10_000:.1f}万" if n >= 10_000 else n


def _esc(s: str) -> str:
    return html.escape(s, quote=False).replace("\n", "<br/>")


def _title(p: SimPost) -> str:
    return p.title or p.text[:30]


def _uid(p: SimPost) -> int:
    return int(p.author_id) if p.author_id.isdigit() else int(hashlib.sha1(p.author_id.encode()).hexdigest()[:10], 16)


def _geo(p: SimPost) -> str | None:
    return p.geotag


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- JSON platforms: item renderers and envelopes ----------------------------------------

def _douyin(p: SimPost) -> dict:
    return {"type": 1, "aweme_info": {
        "aweme_id": p.native_id, "desc": p.text, "create_time": _ts(p.published_at),
        "author": {"uid": str(_uid(p)), "nickname": p.author_name, "sec_uid": f"MS4w{_uid(p)}"},
        "statistics": {"digg_count": p.likes, "comment_count": p.comments, "share_count": p.shares,
                       "play_count": p.views},
        "video": {"cover": {"url_list": list(p.media[:1])}}, "ip_label": _geo(p) or ""}}


def _kuaishou(p: SimPost) -> dict:
    return {"type": 1, "author": {"id": f"3x{_uid(p)}", "name": p.author_name},
            "photo": {"id": p.native_id, "caption": p.text, "timestamp": _ts(p.published_at) * 1000,
                      "likeCount": str(_wan(p.likes)), "realLikeCount": p.likes,
                      "viewCount": str(_wan(p.views)), "coverUrl": p.media[0] if p.media else ""}}


def _xhs(p: SimPost) -> dict:
    return {"id": p.native_id, "model_type": "note", "xsec_token": "ABx",
            "note_card": {"type": "normal", "display_title": p.text[:20], "desc": p.text,
                          "time": _ts(p.published_at) * 1000, "ip_location": _geo(p) or "",
                          "user": {"user_id": f"5f{_uid(p):x}", "nickname": p.author_name},
                          "interact_info": {"liked_count": str(_wan(p.likes)), "comment_count": str(p.comments),
                                            "share_count": str(p.shares), "collected_count": "3"},
                          "image_list": [{"url_default": u} for u in p.media]}}


def _channels(p: SimPost) -> dict:
    return {"id": p.native_id, "createtime": _ts(p.published_at), "likeCount": p.likes,
            "commentCount": p.comments, "forwardCount": p.shares, "readCount": p.views,
            "contact": {"username": f"v2_{_uid(p)}@finder", "nickname": p.author_name},
            "objectDesc": {"description": p.text, "media": [{"url": u} for u in p.media]},
            "ipRegionInfo": {"regionText": _geo(p) or ""}}


def _bilibili(p: SimPost) -> dict:
    return {"type": "video", "bvid": f"BV{p.native_id}", "aid": int(p.native_id) % 10**9,
            "title": f'<em class="keyword">深圳</em>{html.escape(p.text[:20])}',
            "description": p.text, "author": p.author_name, "mid": _uid(p),
            "pubdate": _ts(p.published_at), "play": p.views, "like": p.likes, "review": p.comments,
            "favorites": 1, "pic": p.media[0] if p.media else "", "arcurl": f"http://www.bilibili.com/video/BV{p.native_id}"}


def _x(p: SimPost) -> dict:
    return {"id": p.native_id, "text": p.text, "created_at": _iso_z(p.published_at), "author_id": str(_uid(p)),
            "lang": "zh", "public_metrics": {"like_count": p.likes, "reply_count": p.comments,
                                             "retweet_count": p.shares, "quote_count": 0,
                                             "impression_count": p.views}}


def _mastodon(p: SimPost) -> dict:
    return {"id": p.native_id, "created_at": _iso_z(p.published_at), "language": "zh",
            "url": f"https://mastodon.social/@u{_uid(p)}/{p.native_id}",
            "content": f"<p>{_esc(p.text)}</p>", "reblog": None,
            "account": {"id": str(_uid(p)), "acct": f"u{_uid(p)}", "display_name": p.author_name},
            "favourites_count": p.likes, "replies_count": p.comments, "reblogs_count": p.shares,
            "media_attachments": [{"type": "image", "url": u} for u in p.media]}


def _bluesky(p: SimPost) -> dict:
    did = f"did:plc:{_uid(p):x}"
    return {"uri": f"at://{did}/app.bsky.feed.post/{p.native_id}", "cid": f"bafyrei{p.native_id}",
            "author": {"did": did, "handle": f"u{_uid(p)}.bsky.social", "displayName": p.author_name},
            "record": {"$type": "app.bsky.feed.post", "text": p.text, "createdAt": _iso_z(p.published_at),
                       "langs": ["zh"]},
            "likeCount": p.likes, "replyCount": p.comments, "repostCount": p.shares, "quoteCount": 0,
            "indexedAt": _iso_z(p.published_at)}


def _youtube(p: SimPost) -> dict:
    return {"kind": "youtube#commentThread", "id": p.native_id, "snippet": {
        "videoId": "dQw4w9WgXcQ", "totalReplyCount": p.comments, "topLevelComment": {
            "kind": "youtube#comment", "id": p.native_id, "snippet": {
                "textDisplay": _esc(p.text), "textOriginal": p.text, "authorDisplayName": f"@{p.author_name}",
                "authorChannelId": {"value": f"UC{_uid(p)}"}, "likeCount": p.likes,
                "publishedAt": _iso_z(p.published_at), "updatedAt": _iso_z(p.published_at)}}}}


def _facebook(p: SimPost) -> dict:
    return {"id": f"1029384756_{p.native_id}", "message": p.text, "created_time": _iso_plus0000(p.published_at),
            "permalink_url": f"https://www.facebook.com/1029384756/posts/{p.native_id}",
            "from": {"id": str(_uid(p)), "name": p.author_name},
            "reactions": {"summary": {"total_count": p.likes}}, "comments": {"summary": {"total_count": p.comments}},
            "shares": {"count": p.shares}}


def _instagram(p: SimPost) -> dict:
    return {"id": p.native_id, "caption": p.text, "timestamp": _iso_plus0000(p.published_at),
            "permalink": f"https://www.instagram.com/p/{p.native_id}/", "media_type": "IMAGE",
            "media_url": p.media[0] if p.media else None, "like_count": p.likes, "comments_count": p.comments,
            "username": p.author_name}


def _tiktok(p: SimPost) -> dict:
    return {"id": int(p.native_id), "video_description": p.text, "create_time": _ts(p.published_at),
            "username": p.author_name, "region_code": "CN", "like_count": p.likes, "comment_count": p.comments,
            "share_count": p.shares, "view_count": p.views}


def _threads(p: SimPost) -> dict:
    return {"id": p.native_id, "text": p.text, "timestamp": _iso_plus0000(p.published_at), "username": p.author_name,
            "permalink": f"https://www.threads.net/@{p.author_name}/post/{p.native_id}", "media_type": "TEXT_POST"}


def _xigua(p: SimPost) -> dict:
    return {"group_id": p.native_id, "title": p.text[:30], "abstract": p.text, "publish_time": _ts(p.published_at),
            "user_info": {"user_id": _uid(p), "name": p.author_name}, "video_watch_count": p.views,
            "digg_count": p.likes, "comment_count": p.comments}


def _vk(p: SimPost) -> dict:
    return {"id": int(p.native_id), "owner_id": -12345, "from_id": _uid(p), "date": _ts(p.published_at),
            "text": p.text, "likes": {"count": p.likes}, "comments": {"count": p.comments},
            "reposts": {"count": p.shares}, "views": {"count": p.views}, "post_type": "post"}


def _zhihu(p: SimPost) -> dict:
    return {"type": "search_result", "object": {
        "type": "answer", "id": p.native_id, "excerpt": f"<em>深圳</em>{html.escape(p.text[:40])}",
        "content": f"<p>{_esc(p.text)}</p>", "created_time": _ts(p.published_at),
        "author": {"id": f"{_uid(p):x}", "name": p.author_name}, "voteup_count": p.likes,
        "comment_count": p.comments, "question": {"id": p.native_id, "name": _title(p)}}}


def _people(p: SimPost) -> dict:
    return {"tid": p.native_id, "title": _title(p), "content": p.text, "dateline": str(_ts(p.published_at)),
            "fidName": "深圳市委书记", "typeName": "投诉", "stateInfo": "已回复", "domainName": "城建"}


def _heimao(p: SimPost) -> dict:
    return {"main": {"sn": p.native_id, "title": _title(p), "summary": p.text, "timestamp": str(_ts(p.published_at)),
                     "u_name": p.author_name, "uid": str(_uid(p)), "status": "已完成",
                     "url": f"//tousu.sina.com.cn/complaint/view/{p.native_id}/"}}


def _reddit(p: SimPost) -> dict:
    return {"kind": "t3", "data": {
        "id": p.native_id, "name": f"t3_{p.native_id}", "title": _title(p), "selftext": p.text,
        "selftext_html": f'<!-- SC_OFF --><div class="md"><p>{_esc(p.text)}</p></div><!-- SC_ON -->',
        "created_utc": float(_ts(p.published_at)), "author": p.author_name, "score": p.likes,
        "num_comments": p.comments, "permalink": f"/r/shenzhen/comments/{p.native_id}/slug/", "subreddit": "shenzhen"}}


def _discourse(p: SimPost) -> dict:
    return {"id": int(p.native_id), "username": p.author_name, "created_at": _iso_z(p.published_at),
            "cooked": f"<p>{_esc(p.text)}</p>", "topic_id": int(p.native_id), "topic_title": _title(p),
            "topic_slug": "t", "post_number": 1, "reply_count": p.comments, "reads": p.views, "like_count": p.likes}


def _hn(p: SimPost) -> dict:
    return {"objectID": p.native_id, "title": _title(p), "story_text": _esc(p.text), "author": p.author_name,
            "created_at": _iso_z(p.published_at), "created_at_i": _ts(p.published_at), "points": p.likes,
            "num_comments": p.comments, "url": None, "_tags": ["story", f"author_{p.author_name}"]}


def _lemmy(p: SimPost) -> dict:
    return {"post": {"id": int(p.native_id), "name": _title(p), "body": p.text,
                     "published": _iso_z(p.published_at).replace(".000Z", ".000000Z"),
                     "ap_id": f"https://lemmy.ml/post/{p.native_id}"},
            "creator": {"id": _uid(p), "name": p.author_name},
            "counts": {"score": p.likes, "comments": p.comments, "upvotes": p.likes}}


def _toutiao(p: SimPost) -> dict:
    return {"id": p.native_id, "group_id": p.native_id, "title": _title(p), "abstract": p.text,
            "publish_time": _ts(p.published_at), "media_name": p.author_name, "comment_count": p.comments,
            "digg_count": p.likes, "read_count": p.views,
            "share_url": f"https://m.toutiao.com/group/{p.native_id}/"}


def _json_page(platform: str, posts: Sequence[SimPost], nxt: str | None, page: int) -> bytes:
    """The platform's whole response document around its items."""
    more = nxt is not None
    if platform == "douyin":
        return _dumps({"status_code": 0, "data": [_douyin(p) for p in posts], "cursor": int(nxt[1:]) if nxt else 0,
                       "has_more": 1 if more else 0, "extra": {"now": 0}})
    if platform == "kuaishou":
        return _dumps({"data": {"visionSearchPhoto": {"result": 1, "feeds": [_kuaishou(p) for p in posts],
                                                      "pcursor": nxt or "no_more"}}})
    if platform == "xiaohongshu":
        return _dumps({"code": 0, "success": True, "msg": "成功", "data": {"has_more": more,
                                                                        "items": [_xhs(p) for p in posts]}})
    if platform == "wechat_channels":
        return _dumps({"errCode": 0, "errMsg": "", "data": {"objectList": [_channels(p) for p in posts],
                                                           "lastBuffer": nxt or "", "continueFlag": int(more)}})
    if platform == "bilibili":
        return _dumps({"code": 0, "message": "0", "data": {"page": page, "pagesize": PAGE_SIZE,
                                                          "numPages": page + 1 if more else page,
                                                          "result": [_bilibili(p) for p in posts]}})
    if platform == "x":
        users = [{"id": str(_uid(p)), "username": p.author_name, "name": p.author_name} for p in posts]
        meta = {"result_count": len(posts), **({"next_token": nxt} if more else {})}
        return _dumps({"data": [_x(p) for p in posts], "includes": {"users": users}, "meta": meta})
    if platform == "mastodon":
        return _dumps([_mastodon(p) for p in posts])
    if platform == "bluesky":
        return _dumps({"posts": [_bluesky(p) for p in posts], **({"cursor": nxt} if more else {})})
    if platform == "youtube":
        return _dumps({"kind": "youtube#commentThreadListResponse", **({"nextPageToken": nxt} if more else {}),
                       "pageInfo": {"totalResults": len(posts), "resultsPerPage": PAGE_SIZE},
                       "items": [_youtube(p) for p in posts]})
    if platform in ("facebook", "instagram"):
        render = _facebook if platform == "facebook" else _instagram
        paging = {"cursors": {"before": "b", "after": nxt or ""}}
        if more:
            paging["next"] = "?" + urlencode({"after": nxt})
        return _dumps({"data": [render(p) for p in posts], "paging": paging})
    if platform == "tiktok":
        return _dumps({"data": {"videos": [_tiktok(p) for p in posts], "cursor": nxt or "", "has_more": more,
                                "search_id": "7201"}, "error": {"code": "ok", "message": ""}})
    if platform == "threads":
        return _dumps({"data": [_threads(p) for p in posts],
                       "paging": {"cursors": {"before": "b", **({"after": nxt} if more else {})}}})
    if platform == "xigua":
        return _dumps({"data": [_xigua(p) for p in posts], "has_more": more, "offset": int(nxt) if nxt else 0})
    if platform == "vk":
        return _dumps({"response": {"count": 10_000 if more else len(posts), "items": [_vk(p) for p in posts]}})
    if platform == "zhihu":
        nxt_url = "?" + urlencode({"offset": nxt[1:]}) if more else ""
        return _dumps({"paging": {"is_end": not more, "next": nxt_url}, "data": [_zhihu(p) for p in posts]})
    if platform == "people_liuyan":
        return _dumps({"resultCode": "200", "resultMsg": "成功", "resultData": {
            "total": 0, "data": [_people(p) for p in posts] if posts else []}})
    if platform == "heimao":
        return _dumps({"result": {"status": {"code": 0, "msg": "ok"}, "data": {
            "lists": [_heimao(p) for p in posts], "pager": {"current": page, "next": page + 1 if more else None}}}})
    if platform == "reddit":
        return _dumps({"kind": "Listing", "data": {"after": f"t3_x{nxt[1:]}" if more else None, "dist": len(posts),
                                                   "children": [_reddit(p) for p in posts]}})
    if platform == "discourse":
        return _dumps({"latest_posts": [_discourse(p) for p in posts]})
    if platform == "hackernews":
        return _dumps({"hits": [_hn(p) for p in posts], "page": page, "nbPages": page + 2 if more else page + 1,
                       "hitsPerPage": PAGE_SIZE})
    if platform == "lemmy":
        return _dumps({"posts": [_lemmy(p) for p in posts]})
    if platform == "toutiao":
        return _dumps({"data": [_toutiao(p) for p in posts], "has_more": more, "message": "success"})
    raise KeyError(platform)


# --- HTML platforms ------------------------------------------------------------------------

def _html(title: str, body: str, layout_changed: bool = False) -> bytes:
    doc = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
           f"<body>{body}</body></html>\n")
    if layout_changed:
        # A redesign: every class renamed, so yesterday's selectors find nothing.
        doc = doc.replace('class="', 'class="v2-')
    return doc.encode("utf-8")


def _html_item(platform: str, p: SimPost) -> str:
    t, cn = html.escape(_title(p)), _cn(p.published_at)
    if platform == "tieba":
        return (f'<div class="s_post"><span class="p_title"><a class="bluelink" href="/p/{p.native_id}?pid=1">{t}</a>'
                f'</span><div class="p_content">{_esc(p.text)}</div><a class="p_forum" href="/f?kw=深圳">深圳吧</a>'
                f' 作者：<a class="author" href="/home/main?un={html.escape(p.author_name)}">{html.escape(p.author_name)}'
                f'</a> <font class="p_green p_date">{cn}</font></div>')
    if platform == "douban_group":
        return (f'<tr class=""><td class="title"><a href="https://www.douban.com/group/topic/{p.native_id}/" '
                f'title="{t}">{t}</a></td><td nowrap="nowrap"><a href="https://www.douban.com/people/{p.author_id}/" '
                f'class="">{html.escape(p.author_name)}</a></td><td nowrap="nowrap" class="r-count">{p.comments}</td>'
                f'<td nowrap="nowrap" class="time">{p.published_at.astimezone(SHANGHAI):%m-%d %H:%M}</td>'
                f'<td class="content" hidden>{_esc(p.text)}</td></tr>')
    if platform == "sogou_weixin":
        return (f'<li id="sogou_vr_11002601_box_{p.native_id}"><div class="txt-box"><h3>'
                f'<a target="_blank" href="/link?url={p.native_id}">{t.replace("深圳", "<em><!--red_beg-->深圳<!--red_end--></em>")}</a>'
                f'</h3><p class="txt-info">{_esc(p.text)}</p><div class="s-p"><span class="all-time-y2">'
                f'{html.escape(p.author_name)}</span><span class="s2"><script>document.write(timeConvert'
                f"('{_ts(p.published_at)}'))</script></span></div></div></li>")
    if platform == "aoyi":
        return (f'<div class="list-item" data-id="{p.native_id}"><h2 class="tit"><a href="/baoliao/{p.native_id}.html">{t}'
                f'</a></h2><p class="desc">{_esc(p.text)}</p><div class="info"><span class="user">{html.escape(p.author_name)}'
                f'</span><span class="time">{cn}</span><span class="reply">评论 {p.comments}</span></div></div>')
    if platform == "baidu_news":
        return (f'<div class="result-op c-container" mu="https://news.example.cn/{p.native_id}.html" '
                f'srcid="200" id="{p.native_id}"><h3 class="news-title_1YtI1"><a href="https://news.example.cn/'
                f'{p.native_id}.html">{t}</a></h3><span class="c-font-normal c-color-text">{_esc(p.text)}</span>'
                f'<span class="c-color-gray c-font-normal">{html.escape(p.author_name)}</span>'
                f'<span class="c-color-gray2 c-font-normal">{p.published_at.astimezone(SHANGHAI):%Y年%m月%d日 %H:%M}</span></div>')
    if platform == "hupu":
        return (f'<li class="bbs-sl-web-post-body"><div class="post-title"><a href="/{p.native_id}.html" '
                f'class="p-title">{t}</a></div><div class="post-content">{_esc(p.text)}</div>'
                f'<div class="post-auth"><a href="https://my.hupu.com/{p.author_id}">{html.escape(p.author_name)}</a></div>'
                f'<div class="post-datum">{p.comments} / {p.views}</div><div class="post-time">{cn}</div></li>')
    if platform == "mayor_mailbox":
        return (f'<tr class="letter" data-id="{p.native_id}"><td class="subject"><a href="detail.html?id={p.native_id}">'
                f'{t}</a></td><td class="body">{_esc(p.text)}</td><td class="writer">{html.escape(p.author_name)}</td>'
                f'<td class="date">{p.published_at.astimezone(SHANGHAI):%Y-%m-%d}</td><td class="state">已办结</td></tr>')
    if platform == "telegram":
        views = f"{p.views / 1000:.1f}K" if p.views >= 1000 else str(p.views)
        return (f'<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message js-widget_message" '
                f'data-post="szcity/{p.native_id}"><div class="tgme_widget_message_bubble">'
                f'<div class="tgme_widget_message_author"><a class="tgme_widget_message_owner_name" href="https://t.me/szcity">'
                f'<span dir="auto">{html.escape(p.author_name)}</span></a></div>'
                f'<div class="tgme_widget_message_text js-message_text" dir="auto">{_esc(p.text)}</div>'
                f'<div class="tgme_widget_message_footer"><span class="tgme_widget_message_views">{views}</span>'
                f'<a class="tgme_widget_message_date" href="https://t.me/szcity/{p.native_id}"><time '
                f'datetime="{p.published_at.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%S+00:00}" class="time">'
                f'{p.published_at:%H:%M}</time></a></div></div></div></div>')
    raise KeyError(platform)


_HTML_WRAP = {
    "tieba": ('<div class="s_post_list">', "</div>", '<div class="pager"><a class="next" href="{next}">下一页&gt;</a></div>'),
    "douban_group": ('<table class="olt">', "</table>", '<span class="next"><a href="{next}">后页&gt;</a></span>'),
    "sogou_weixin": ('<ul class="news-list">', "</ul>", '<a id="sogou_next" href="{next}">下一页</a>'),
    "aoyi": ('<div class="baoliao-list">', "</div>", '<a class="next-page" href="{next}">下一页</a>'),
    "baidu_news": ('<div id="content_left">', "</div>", '<a class="n" href="{next}">下一页 &gt;</a>'),
    "hupu": ('<ul class="bbs-sl-web-post">', "</ul>", '<li class="hupu-rc-pagination-next"><a href="{next}">下一页</a></li>'),
    "mayor_mailbox": ('<table class="letters">', "</table>", '<a class="nextPage" href="{next}">下一页</a>'),
    "telegram": ('<section class="tgme_channel_history js-message_history">', "</section>",
                 '<a class="tme_messages_more js-messages_more" data-before="{next_id}" href="{next}"></a>'),
}
EMPTY_TEXT = {"tieba": "抱歉，没有找到与", "douban_group": "没有找到相关话题", "sogou_weixin": "暂无与",
              "aoyi": "暂无爆料", "baidu_news": "抱歉没有找到", "hupu": "暂无帖子",
              "mayor_mailbox": "暂无信件", "telegram": "No posts"}


def html_page(platform: str, posts: Sequence[SimPost], next_href: str | None, next_id: str | None,
              layout_changed: bool = False) -> bytes:
    open_, close, pager = _HTML_WRAP[platform]
    items = posts if platform != "telegram" else list(reversed(posts))  # t.me/s lists oldest first
    body = open_ + "".join(_html_item(platform, p) for p in items) + close
    if not posts:
        body += f'<div class="empty">{EMPTY_TEXT[platform]}</div>'
    elif next_href:
        body += pager.format(next=html.escape(next_href), next_id=next_id or "")
    return _html(platform, body, layout_changed)


# --- the browser-rendered platform (Dianping) ----------------------------------------------

def dianping_shell(posts: Sequence[SimPost], next_href: str | None) -> bytes:
    """What a plain HTTP fetch sees: no reviews, only the data and the script that renders it
    (as Dianping's pages do after their JS runs); a browser shows the list."""
    data = [{"reviewId": p.native_id, "userNickName": p.author_name, "userId": p.author_id,
             "reviewBody": _esc(p.text), "addTime": _cn(p.published_at), "likeCount": p.likes,
             "replyCount": p.comments, "shopName": "深圳某商户"} for p in posts]
    script = (
        "const data=" + json.dumps(data, ensure_ascii=False).replace("</", "<\\/") + ";"
        "const next=" + json.dumps(next_href) + ";"
        "const ul=document.createElement('ul');ul.className='reviews-items';"
        "for(const r of data){const li=document.createElement('li');li.className='review-item';"
        "li.setAttribute('data-id',r.reviewId);"
        "li.innerHTML='<a class=\"name\" data-user-id=\"'+r.userId+'\">'+r.userNickName+'</a>'+"
        "'<div class=\"review-words\">'+r.reviewBody+'</div>'+"
        "'<span class=\"time\">'+r.addTime+'</span><span class=\"shop-name\">'+r.shopName+'</span>'+"
        "'<span class=\"actions\"><em class=\"col-like\">'+r.likeCount+'</em><em class=\"col-reply\">'+r.replyCount+'</em></span>';"
        "ul.appendChild(li);}"
        "document.getElementById('review-list').appendChild(ul);"
        "if(!data.length){document.getElementById('review-list').innerHTML='<div class=\"no-review\">暂无点评</div>';}"
        "if(next){const a=document.createElement('a');a.className='NextPage';a.href=next;a.textContent='下一页';"
        "document.getElementById('review-list').appendChild(a);}")
    body = f'<div id="review-list"></div><script>{script}</script>'
    return _html("大众点评", body)


# --- feeds ---------------------------------------------------------------------------------

def atom_page(posts: Sequence[SimPost], base: str, next_href: str | None, updated: datetime) -> bytes:
    from xml.sax.saxutils import escape
    entries = "".join(
        f"<entry><id>tag:szgov,2026:{escape(p.native_id)}</id><title>{escape(_title(p))}</title>"
        f'<link rel="alternate" href="{escape(base)}/item/{escape(p.native_id)}"/>'
        f"<published>{p.published_at.astimezone(SHANGHAI).isoformat()}</published>"
        f"<updated>{p.published_at.astimezone(SHANGHAI).isoformat()}</updated>"
        f"<author><name>{escape(p.author_name)}</name></author>"
        f'<content type="html">{escape("<p>" + _esc(p.text) + "</p>")}</content></entry>\n' for p in posts)
    nxt = f'<link rel="next" href="{escape(next_href)}"/>' if next_href else ""
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>深圳政府在线</title><id>tag:szgov,2026:feed</id><updated>{updated.isoformat()}</updated>"
            f"{nxt}\n{entries}</feed>\n").encode("utf-8")


JSON_PLATFORMS = ("douyin", "kuaishou", "xiaohongshu", "wechat_channels", "bilibili", "x", "mastodon",
                  "bluesky", "youtube", "facebook", "instagram", "tiktok", "threads", "xigua", "vk", "zhihu",
                  "people_liuyan", "heimao", "reddit", "discourse", "hackernews", "lemmy", "toutiao")
HTML_PLATFORMS = tuple(_HTML_WRAP)
ALL = tuple(SOURCE)
