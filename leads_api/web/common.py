"""What every desk page shares: the templates and their filters, Chinese labels, who is logged
in (the session cookie only), and error pages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from core import sla
from core.models import Lead, LeadStatus, utcnow
from core.triage import ALLOWED, REJECT_REASONS, Role
from leads_api.auth import SESSION_COOKIE, Principal, actor_of, scope_of  # noqa: F401 - pages import scope_of from here

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
LOCAL = timezone(timedelta(hours=8), "北京时间")  # Shenzhen keeps no daylight saving time
DUE_SOON = 30 * 60  # seconds: the SLA cell turns amber

STATUS_LABELS = {
    LeadStatus.NEW.value: "新线索", LeadStatus.IN_REVIEW.value: "审核中", LeadStatus.VERIFIED.value: "已核实",
    LeadStatus.REJECTED.value: "已驳回", LeadStatus.DISPATCHED.value: "已派单", LeadStatus.CLOSED.value: "已关闭",
    LeadStatus.MERGED.value: "已合并",
}
ROLE_LABELS = {Role.ANALYST.value: "分析员", Role.SUPERVISOR.value: "主管", Role.ADMIN.value: "管理员",
               Role.INTEGRATION.value: "系统集成"}
ACTION_LABELS = {
    "claim": "认领", "release": "释放", "verify": "核实", "reject": "驳回", "recategorize": "改分类",
    "reroute": "改派", "escalate": "升级紧急", "note": "备注", "reopen": "重新打开", "merge": "合并",
    "split": "拆分", "dispatch": "派单", "resend": "改派并重新派单", "retry": "重新投递",
}
EVENT_LABELS = {
    "created": "线索生成", "posts_added": "新帖加入", "rescored": "重新评分", "status_changed": "状态变更",
    "claimed": "认领", "claim_renewed": "续期认领", "lock_broken": "强制接管", "released": "释放",
    "verified": "核实", "rejected": "驳回", "recategorized": "改分类", "rerouted": "改派", "escalated": "升级紧急",
    "noted": "备注", "reopened": "重新打开", "dispatched": "派单", "merged": "并入其他线索",
    "merged_in": "合并", "split": "拆分", "split_from": "拆分而来", "returned_to_review": "退回审核",
    "order_resent": "改派并重新派单", "order_dispatched": "工单已派单", "order_accepted": "工单已受理",
    "order_in_progress": "工单处理中", "order_resolved": "工单已办结", "order_closed": "工单已关闭",
    "order_returned": "工单被退回", "order_reopened": "工单重办",
}
ORDER_STATUS_LABELS = {"dispatched": "已派单", "accepted": "已受理", "in_progress": "处理中", "resolved": "已办结",
                       "closed": "已关闭", "returned": "被退回", "reopened": "重办"}
DELIVERY_LABELS = {"pending": "待投递", "delivered": "已送达", "dead": "投递失败"}
SOURCE_LABELS = {"open311": "Open311", "webhook": "回调", "pull": "拉取"}
FIELD_LABELS = {
    "status": "状态", "category": "分类", "item": "事项", "unit": "责任单位", "district": "区",
    "street": "街道", "urgent": "紧急", "dispatch_minutes": "派单时限(分)", "resolution_hours": "办结时限(时)",
    "claimed_by": "认领人", "reject_reason": "驳回原因", "version": "版本", "reason": "原因",
    "other_id": "另一条线索", "post_ids": "帖子", "note": "备注", "districts": "辖区",
}
PROCESS_LABELS = {"emergency": "紧急", "urgent": "加急", "general": "一般", "consult": "咨询"}

templates = Jinja2Templates(directory=str(TEMPLATES))


# --- filters ---------------------------------------------------------------------------------

def local(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(LOCAL)


def fmt_time(dt: datetime | None, full: bool = False) -> str:
    """11-20 20:05 (北京时间); `full` adds the year and seconds."""
    d = local(dt)
    if d is None:
        return "—"
    return d.strftime("%Y-%m-%d %H:%M:%S") if full else d.strftime("%m-%d %H:%M")


def fmt_clock(dt: datetime | None) -> str:
    d = local(dt)
    return d.strftime("%H:%M") if d else "—"


def fmt_duration(seconds: float) -> str:
    """1时05分 / 12分 / 3天4时; negative: 超时 and the overdue time."""
    over = seconds < 0
    s = int(abs(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days}天{hours}时"
    elif hours:
        text = f"{hours}时{minutes:02d}分"
    else:
        text = f"{minutes}分"
    return f"超时 {text}" if over else text


def sla_state(lead: Lead, now: datetime | None = None) -> dict:
    """{'text', 'cls', 'title'} for a lead's SLA clock."""
    now = now or utcnow()
    left = sla.seconds_left(lead, now)
    if left is None:
        return {"text": "—", "cls": "sla-none", "title": "时钟未运行"}
    cls = "sla-breached" if left < 0 else ("sla-soon" if left < DUE_SOON else "sla-ok")
    return {"text": fmt_duration(left), "cls": cls, "title": "派单截止 " + fmt_time(lead.sla_due_at, True)}


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) URL, else None (javascript:, data:, relative ...)."""
    if not url or any(ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def status_label(status) -> str:
    value = getattr(status, "value", status)
    return STATUS_LABELS.get(value, str(value))


def reason_label(code: str | None) -> str:
    return REJECT_REASONS.get(code, code) if code else "—"


def order_status_label(status) -> str:
    value = getattr(status, "value", status)
    return ORDER_STATUS_LABELS.get(value, str(value))


def delivery_label(state) -> str:
    value = getattr(state, "value", state)
    return DELIVERY_LABELS.get(value, str(value))


def number(n) -> str:
    return f"{n:,}" if isinstance(n, int) else f"{n:.2f}"


templates.env.filters.update(time=fmt_time, clock=fmt_clock, status_label=status_label, reason_label=reason_label,
                             safe_url=safe_url, number=number, order_status_label=order_status_label,
                             delivery_label=delivery_label)
templates.env.globals.update(STATUS_LABELS=STATUS_LABELS, REJECT_REASONS=REJECT_REASONS, ROLE_LABELS=ROLE_LABELS,
                             ACTION_LABELS=ACTION_LABELS, EVENT_LABELS=EVENT_LABELS, FIELD_LABELS=FIELD_LABELS,
                             ORDER_STATUS_LABELS=ORDER_STATUS_LABELS, DELIVERY_LABELS=DELIVERY_LABELS,
                             SOURCE_LABELS=SOURCE_LABELS, ALLOWED=ALLOWED, sla_state=sla_state)


# --- who is asking ---------------------------------------------------------------------------

def session_principal(request: Request) -> Principal | None:
    """The logged-in user of this browser (pages use the session cookie, never tokens)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    user = request.app.state.store.users.session_user(cookie)
    if user is None or user.disabled:
        return None
    return Principal(user, actor_of(user), "session")


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = urlencode({"next": target}) if request.method == "GET" and target.startswith("/desk") else ""
    return RedirectResponse("/login" + (f"?{query}" if query else ""), status_code=303)


def is_supervisor(p: Principal) -> bool:
    return p.actor.role in (Role.SUPERVISOR, Role.ADMIN)


def render(request: Request, name: str, context: dict, status: int = 200, p: Principal | None = None) -> Response:
    ctx = {"user": p.user if p else None, "supervisor": bool(p and is_supervisor(p)), "path": request.url.path,
           **context}
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.method != "GET" and request.headers.get("hx-request"):
        # a page answering a form post: keep the address bar where the form was
        response.headers["HX-Push-Url"] = "false"
    return response


def error_page(request: Request, status: int, title: str, message: str, p: Principal | None = None) -> Response:
    return render(request, "error.html", {"status": status, "title": title, "message": message}, status, p)


def not_found(request: Request, p: Principal | None, what: str = "线索") -> Response:
    return error_page(request, 404, "未找到", f"{what}不存在，或不在你的辖区内。", p)


def query_url(path: str, params: dict, **changes) -> str:
    """`path` with the non-empty `params` (updated by `changes`) as its query string."""
    merged = {**params, **changes}
    items = [(k, v) for k, v in merged.items() if v not in (None, "", False)]
    return path + ("?" + urlencode(items) if items else "")


templates.env.globals.update(query_url=query_url)
