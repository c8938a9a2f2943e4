"""The audit log (within the user's districts) and the supervisor's figures as SVG charts."""
from __future__ import annotations

import re

from fastapi import APIRouter, Request

from clustering.trends import class_cases
from core.models import LeadStatus, utcnow
from leads_api.routes.account import desk_stats
from leads_api.web.charts import bar_chart
from leads_api.web.common import (STATUS_LABELS, error_page, is_supervisor, render, scope_of,
                                  session_principal, to_login)
from leads_api.web.lead import LEAD_ID, describe

router = APIRouter(include_in_schema=False)

AUDIT_PAGE = 100
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# how the supervisor's throughput chart groups the kinds of events
THROUGHPUT = (("verified", "核实", ("verified",)), ("rejected", "驳回", ("rejected",)),
              ("merged", "合并/拆分", ("merged", "merged_in", "split", "split_from")),
              ("claimed", "认领", ("claimed", "claim_renewed", "lock_broken")))


@router.get("/desk/audit")
def audit(request: Request):
    p = session_principal(request)
    if p is None:
        return to_login(request)
    q = request.query_params
    actor = q.get("actor") if USERNAME.match(q.get("actor") or "") else None
    lead_id = q.get("lead_id") if LEAD_ID.match(q.get("lead_id") or "") else None
    try:
        page = max(1, min(int(q.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    store = request.app.state.store
    events = store.triage.audit(scope=scope_of(p), actor=actor, lead_id=lead_id, limit=AUDIT_PAGE + 1,
                                offset=(page - 1) * AUDIT_PAGE)
    more = len(events) > AUDIT_PAGE
    events = events[:AUDIT_PAGE]
    config = request.app.state.config
    items = {item.id: item.name for cat in config.catalogue.categories for item in cat.items}
    rows = [describe(e, items) for e in events]
    params = {"actor": actor or "", "lead_id": lead_id or ""}
    return render(request, "audit.html", {"rows": rows, "page": page, "more": more, "params": params}, p=p)


@router.get("/desk/supervisor")
def supervisor(request: Request):
    p = session_principal(request)
    if p is None:
        return to_login(request)
    if not is_supervisor(p):
        return error_page(request, 403, "无权访问", "主管视图仅对主管和管理员开放。", p)
    store, config = request.app.state.store, request.app.state.config
    stats = desk_stats(store, p, config)
    order = [s.value for s in LeadStatus]
    status_rows = [{"label": STATUS_LABELS[s], "segments": [(stats.statuses.get(s, 0), f"bar-{s}", STATUS_LABELS[s])],
                    "text": str(stats.statuses.get(s, 0))} for s in order]
    breached = stats.statuses.get("breached", 0)
    status_rows.append({"label": "超时未派", "segments": [(breached, "bar-breached", "超时未派")], "text": str(breached)})

    people = []
    for name, kinds in stats.throughput.items():
        segs, used = [], set()
        for key, label, group in THROUGHPUT:
            n = sum(kinds.get(k, 0) for k in group)
            used |= set(group)
            segs.append((n, f"bar-t-{key}", f"{label} {n}"))
        rest = sum(v for k, v in kinds.items() if k not in used)
        segs.append((rest, "bar-t-other", f"其他 {rest}"))
        people.append({"label": name, "segments": segs, "text": str(sum(kinds.values()))})
    people.sort(key=lambda r: (-int(r["text"]), r["label"]))

    spikes = [{"label": f"{s.get('category')} · {s.get('district')}",
               "segments": [(int(s.get("count") or 0), "bar-spike",
                             f"{'小时' if s.get('kind') == 'spike_hour' else '日'}突增 ×{s.get('ratio')}")],
               "text": f"{s.get('count')} 帖 ×{float(s.get('ratio') or 0):.1f}"} for s in stats.spikes[:12]]
    scope = set(scope_of(p))
    weeks, cases = class_cases(store, utcnow(), config.radar.trends.weeks)
    cases = [c for c in cases if not scope or c.district in scope][:12]
    case_rows = [{"label": f"{c.category} · {c.district}",
                  "segments": [(c.leads, "bar-case", f"{c.weeks_present} 周出现，{c.leads} 条线索，{c.posts} 帖")],
                  "text": f"{c.weeks_present}/{len(weeks)} 周 · {c.leads} 条"} for c in cases]
    return render(request, "supervisor.html", {
        "stats": stats, "breached_now": breached,
        "status_chart": bar_chart(status_rows),
        "people_chart": bar_chart(people[:20]) if people else None,
        "spike_chart": bar_chart(spikes, label_width=190) if spikes else None,
        "case_chart": bar_chart(case_rows, label_width=190) if case_rows else None,
        "legend": [(f"bar-t-{k}", label) for k, label, _ in THROUGHPUT] + [("bar-t-other", "其他")],
        "open_total": sum(stats.statuses.get(s, 0) for s in ("new", "in_review", "verified")),
    }, p=p)
