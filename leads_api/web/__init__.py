"""The analyst web desk: server-rendered pages (Jinja2 templates, htmx, no inline script or
style) over the same `Desk` service as the JSON API.

    /login, /logout      the session (CSRF double-submit through htmx's x-csrftoken header)
    /desk                the queue: filters, sort, paging, bulk verify / reject
    /desk/leads/{id}     the lead: evidence, map, timeline, similar leads, every action
    /desk/audit          who did what, within the user's districts
    /desk/supervisor     queue size, breaches, throughput, spikes and class cases (supervisors)
    /desk/orders         work orders within the user's districts (delivery=dead: the dead letters)
    /desk/orders/{id}    one order: status, delivery, evidence snapshot, history; retry when dead
    /desk/search         posts by words and phrases with filters and highlights, and matching leads
"""
from fastapi import APIRouter

from leads_api.web import lead, orders, queue, reports, search

router = APIRouter(include_in_schema=False)
router.include_router(queue.router)
router.include_router(reports.router)
router.include_router(lead.router)
router.include_router(orders.router)
router.include_router(search.router)

__all__ = ["router"]
