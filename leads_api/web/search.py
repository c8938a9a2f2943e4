"""The search page: posts by words and "quoted phrases" with filters, newest first, paged with
the index's cursor, beside the leads whose title or keywords hold the words. Within the user's
districts, by the same rule and through the same index as GET /search/posts and /search/leads.

Post text is hostile: a backend's highlight fragments are trusted for their <em> match markers
only (see `marked`)."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from html import unescape

from fastapi import APIRouter, Request
from markupsafe import Markup, escape

from core.search import PostHit, PostQuery, SearchError, SearchUnavailable
from leads_api.deps import search_of
from leads_api.routes.search import leads_within
from leads_api.web.common import LOCAL, render, scope_of, session_principal, to_login

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
LEAD_HITS = 10
KEYS = ("q", "district", "category", "platform", "since", "until", "relevant_only")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
YEARS = range(2000, 2101)  # outside this a date is a typo, and year 1 or 9999 would overflow in UTC
MARK = re.compile(r"<em>(.*?)</em>", re.S)


def marked(fragment: str) -> Markup:
    """A highlight fragment (HTML-escaped text, each match in <em>..</em>, as both backends
    return it) as safe HTML with each match in <mark>. Every piece is unescaped and escaped
    again, so text shows exactly as written even from a backend that forgot to escape it."""
    parts, pos = [], 0
    for m in MARK.finditer(fragment):
        parts += [escape(unescape(fragment[pos:m.start()])), Markup("<mark>%s</mark>") % unescape(m.group(1))]
        pos = m.end()
    parts.append(escape(unescape(fragment[pos:])))
    return Markup("").join(parts)


def _plain(fragment: str) -> str:
    return unescape(MARK.sub(r"\1", fragment))


def hit_view(h: PostHit, lead_id: str | None) -> dict:
    """What one result shows: the title (marked where it matched), the text's fragments
    (marked, each with whether it starts mid-text, for an ellipsis), or the start of the text
    when nothing matched (a search by filters only)."""
    title, fragments = h.title, list(h.highlights)
    # Both backends list the title's fragments first; one that is the whole title is the title.
    if title and fragments and _plain(fragments[0]) == title:
        title = marked(fragments.pop(0))
    text = [(not h.snippet.startswith(_plain(f)[:20]), marked(f)) for f in fragments] or [(False, h.snippet)]
    return {"hit": h, "title": title, "text": text, "lead_id": lead_id}


def _day(value: str, label: str, problems: list[str]) -> date | None:
    """The date of a YYYY-MM-DD field (what <input type=date> sends), None when empty; anything
    else adds a problem the page shows."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if DAY.match(value) else None
    except ValueError:
        day = None
    if day is None or day.year not in YEARS:
        problems.append(f"{label}「{value[:20]}」不是有效日期，请按 年-月-日 填写，例如 2026-03-15。")
        return None
    return day


def _form(request: Request, districts: list[str], categories: list[str], platforms: dict[str, str]):
    """The form's values, the dates they name and what is wrong with them. A district, category
    or platform the form does not offer is dropped, as on the queue: another district's name
    never widens what a user sees."""
    q = request.query_params
    pick = lambda key, allowed: q.get(key) if q.get(key) in allowed else ""  # noqa: E731
    f = {"q": (q.get("q") or "").strip(), "district": pick("district", districts),
         "category": pick("category", categories), "platform": pick("platform", platforms),
         "since": (q.get("since") or "").strip(), "until": (q.get("until") or "").strip(),
         "relevant_only": "1" if q.get("relevant_only") else ""}
    problems: list[str] = []
    since, until = _day(f["since"], "开始日期", problems), _day(f["until"], "结束日期", problems)
    if since and until and until < since:
        problems.append(f"结束日期 {until} 早于开始日期 {since}。")
    return f, since, until, problems


# What the index refuses, said to an analyst; the index's own words follow for the record.
SAID = (("malformed cursor", "翻页链接已失效（可能来自另一次搜索），请从第一页重新搜索。"),
        ("at most", "搜索词太长，最多 200 个字符。"),
        ("empty query", "请输入要搜索的词语，或至少选择一个筛选条件。"))


def _said(exc: Exception) -> str:
    return next((chinese for english, chinese in SAID if english in str(exc)), "搜索条件无法处理，请修改后重试。")


def _start(day: date | None) -> datetime | None:
    """Midnight Beijing time: the form's dates are the analyst's days, not UTC ones."""
    return datetime.combine(day, time(), LOCAL) if day else None


@router.get("/desk/search")
def search_page(request: Request):
    p = session_principal(request)
    if p is None:
        return to_login(request)
    config = request.app.state.config
    scope = scope_of(p)
    districts = list(scope) if scope else [d.name for d in config.gazetteer.districts]
    categories = [c.name for c in config.catalogue.categories]
    platforms = {pl.name: pl.title.split(" (")[0] for pl in config.platforms}
    f, since, until, problems = _form(request, districts, categories, platforms)
    after = request.query_params.get("after") or None
    ctx = {"f": f, "params": {k: f[k] for k in KEYS}, "districts": districts, "categories": categories,
           "platforms": platforms, "after": after, "searched": False, "banner": None, "rows": [], "leads": [],
           "total": 0, "next_after": None, "asked": "q" in request.query_params}
    if problems:
        ctx["banner"] = {"kind": "error", "title": "日期无效", "lines": problems}
        return render(request, "search.html", ctx, 422, p)
    if not any(ctx["params"].values()) and not after:
        return render(request, "search.html", ctx, p=p)  # nothing asked yet: the form alone
    try:
        index = search_of(request)
        query = PostQuery(f["q"], district=f["district"] or None, category=f["category"] or None,
                          platform=f["platform"] or None, since=_start(since),
                          until=_start(until + timedelta(days=1)) if until else None,  # the form's until is inclusive
                          relevant_only=bool(f["relevant_only"]), size=PAGE_SIZE, after=after, districts=scope)
        page = index.search_posts(query)
        leads = leads_within(index, f["q"], (f["district"],) if f["district"] else scope, LEAD_HITS) \
            if query.terms else []
    except SearchError as exc:
        ctx["banner"] = {"kind": "error", "title": "搜索条件无效", "lines": [_said(exc), str(exc)]}
        return render(request, "search.html", ctx, 422, p)
    except SearchUnavailable as exc:
        ctx["banner"] = {"kind": "error", "title": "搜索服务暂不可用",
                         "lines": ["请稍后再试；若持续出现，请联系管理员。", str(exc)]}
        return render(request, "search.html", ctx, 503, p)
    owners = request.app.state.store.leads.of_posts([h.post_id for h in page.hits])
    ctx.update(searched=True, total=page.total, next_after=page.next_after,
               rows=[hit_view(h, owners.get(h.post_id)) for h in page.hits],
               leads=[h for h in leads if not f["category"] or h.category == f["category"]])
    return render(request, "search.html", ctx, p=p)
