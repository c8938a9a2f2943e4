"""Logging in and out, and the queue (filters, sort, paging, bulk verify / reject)."""
from __future__ import annotations

import dataclasses
import re
from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core.models import LeadStatus, utcnow
from core.store.triage import OPEN, QueueQuery
from core.triage import REJECT_REASONS
from leads_api.auth import SESSION_COOKIE
from leads_api.routes.account import login_user, set_session
from leads_api.web.common import ACTION_LABELS, query_url, render, scope_of, session_principal, to_login

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SORTS = {"priority": "优先级", "time_left": "剩余时间", "newest": "最新"}
SLA_FILTERS = {"breached": "已超时", "due_soon": "30分钟内到期", "running": "计时中"}
LOGIN_ERRORS = {401: "用户名或密码错误。", 423: "登录失败次数过多，账户已暂时锁定，请稍后再试。",
                429: "该地址登录失败次数过多，请几分钟后再试。"}
QUERY_KEYS = ("district", "category", "status", "urgent", "sla", "flagged", "q", "sort", "page")


def flagged_filter() -> bool:
    """Whether the store's queue query can select the leads needing attention (a review reason:
    a returned order, resolved but still reported, a rejected lead back in review). Until it
    can, the queue marks those rows only: filtering a page in Python would miss the rest."""
    return "flagged" in {f.name for f in dataclasses.fields(QueueQuery)}
LEAD_REF = re.compile(r"^(L[0-9a-f]{12}):([0-9]{1,9})$")


def _next_target(value: str | None) -> str:
    """Where to go after logging in: a desk path of ours, never another site."""
    if value and value.startswith("/desk") and "//" not in value and "\\" not in value:
        return value
    return "/desk"


@router.get("/")
def root(request: Request):
    return RedirectResponse("/desk" if session_principal(request) else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request):
    if session_principal(request):
        return RedirectResponse("/desk", status_code=303)
    return render(request, "login.html", {"next": _next_target(request.query_params.get("next")), "error": None,
                                          "username": ""})


@router.post("/login")
async def login(request: Request):
    form = await request.form()
    username = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")[:1024]
    target = _next_target(str(form.get("next") or ""))
    if not username or not password:
        return render(request, "login.html", {"next": target, "username": username,
                                              "error": "请输入用户名和密码。"}, 401)
    user, refused = login_user(request, username, password)
    if refused is not None:
        return render(request, "login.html", {"next": target, "username": username,
                                              "error": LOGIN_ERRORS.get(refused.status_code, "登录失败。")},
                      refused.status_code)
    response = RedirectResponse(target, status_code=303)
    set_session(request, response, user)
    return response


@router.post("/logout")
def logout(request: Request):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        request.app.state.store.users.close_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _filters(request: Request, districts: list[str], categories: list[str]) -> dict:
    """The queue's filters from the query string; a value the form does not offer is dropped."""
    q = request.query_params
    pick = lambda key, allowed: q.get(key) if q.get(key) in allowed else ""  # noqa: E731
    try:
        page = max(1, min(int(q.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    return {"district": pick("district", districts), "category": pick("category", categories),
            "status": pick("status", ["all", *(s.value for s in LeadStatus)]),
            "urgent": pick("urgent", ["1", "0"]), "sla": pick("sla", SLA_FILTERS),
            "flagged": pick("flagged", ["1"]) if flagged_filter() else "",
            "q": (q.get("q") or "").strip()[:100], "sort": pick("sort", SORTS) or "priority", "page": page}


def queue_context(request: Request, p, *, banner: dict | None = None) -> dict:
    config = request.app.state.config
    scope = scope_of(p)
    districts = list(scope) if scope else [d.name for d in config.gazetteer.districts]
    categories = [c.name for c in config.catalogue.categories]
    f = _filters(request, districts, categories)
    every = tuple(s.value for s in LeadStatus)
    # needing attention includes dispatched leads whose order came back: every status by default
    statuses = (every if f["status"] == "all" or (f["flagged"] and not f["status"])
                else (f["status"],) if f["status"] else OPEN)
    extra = {"flagged": True} if f["flagged"] else {}
    query = QueueQuery(scope=scope, statuses=statuses, district=f["district"] or None,
                       category=f["category"] or None, urgent={"1": True, "0": False}.get(f["urgent"]),
                       sla=f["sla"] or None, text=f["q"] or None, sort=f["sort"], limit=PAGE_SIZE,
                       offset=(f["page"] - 1) * PAGE_SIZE, **extra)
    total, leads = request.app.state.store.triage.queue(query)
    params = {k: v for k, v in f.items() if k != "page"}
    items = {item.id: item.name for cat in config.catalogue.categories for item in cat.items}
    done = request.query_params.get("done")
    return {"leads": leads, "total": total, "filters": f, "params": params, "districts": districts,
            "categories": categories, "sorts": SORTS, "sla_filters": SLA_FILTERS, "now": utcnow(),
            "pages": max(1, -(-total // PAGE_SIZE)), "item_names": items, "banner": banner,
            "flagged_filter": flagged_filter(),
            "done": _bulk_flash(done, request.query_params.get("n")) if done else None}


def _bulk_flash(done: str, n: str | None) -> str | None:
    if done not in ("verify", "reject") or not (n or "").isdigit():
        return None
    return f"已批量{ACTION_LABELS[done]} {int(n)} 条线索。"


@router.get("/desk")
def queue(request: Request):
    p = session_principal(request)
    if p is None:
        return to_login(request)
    return render(request, "queue.html", queue_context(request, p), p=p)


@router.post("/desk/bulk")
async def bulk(request: Request) -> Response:
    p = session_principal(request)
    if p is None:
        return to_login(request)
    form = await request.form()
    action = str(form.get("action") or "")
    reason = str(form.get("reason") or "") or None
    note = str(form.get("note") or "").strip()[:2000] or None
    refs = [LEAD_REF.match(str(v)) for v in form.getlist("ids")][:200]
    problems = []
    if action not in ("verify", "reject"):
        problems.append("请选择批量核实或批量驳回。")
    if not refs or not all(refs):
        problems.append("请至少勾选一条线索。")
    if action == "reject" and reason not in REJECT_REASONS:
        problems.append("批量驳回需要选择驳回原因（字段：reason）。")
    if problems:
        banner = {"kind": "error", "title": "无法执行批量操作", "lines": problems}
        return render(request, "queue.html", queue_context(request, p, banner=banner), 422, p)
    results = request.app.state.desk.bulk(p.actor, action, [(m.group(1), int(m.group(2))) for m in refs],
                                          reason=reason if action == "reject" else None, note=note)
    failed = [r for r in results if not r.ok]
    if not failed:
        keep = {k: v for k, v in request.query_params.items() if k in QUERY_KEYS}
        return RedirectResponse(query_url("/desk", keep, done=action, n=len(results)), status_code=303)
    why = {404: "不存在或不在辖区", 409: "已被他人更新、认领或状态不允许", 403: "无权限", 422: "参数无效"}
    counts = Counter(r.status for r in failed)
    lines = [f"{r.lead_id}：{why.get(r.status, '失败')}（{r.error}）" for r in failed[:20]]
    banner = {"kind": "error", "title": f"批量{ACTION_LABELS[action]}：成功 {len(results) - len(failed)} 条，"
                                        f"失败 {len(failed)} 条", "lines": lines}
    status = 409 if counts.get(409) else max(counts)
    return render(request, "queue.html", queue_context(request, p, banner=banner), status, p)
