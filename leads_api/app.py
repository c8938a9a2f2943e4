"""The analyst-facing HTTP API (FastAPI). `create_app(store)` builds it over any Store."""
from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.models import LeadStatus
from core.store import LeadNotFound, Store
from leads_api.schemas import (ErrorBody, Health, LeadDetail, LeadEventPublic, LeadPage,
                               LeadPublic, PostPublic, Problem)

LEAD_ID = r"^L[0-9a-f]{12}$"


def create_app(store: Store) -> FastAPI:
    app = FastAPI(title="Civic Radar", version="0.1.0",
                  description="Leads: city problems found on the open internet, ranked for triage.")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [Problem(param=".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                            message=err["msg"]) for err in exc.errors()]
        return JSONResponse(status_code=422, content=ErrorBody(
            error="invalid request parameters", problems=problems).model_dump())

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(status="ok", database=store.backend, leads=store.reports.counts()["leads"])

    @app.get("/leads", response_model=LeadPage, responses={422: {"model": ErrorBody}})
    def list_leads(
        status: LeadStatus | None = None,
        district: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
        category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> LeadPage:
        """Leads, highest priority first."""
        total, leads = store.leads.list(status=status.value if status else None, district=district,
                                        category=category, limit=limit, offset=offset)
        return LeadPage(total=total, limit=limit, offset=offset, items=[LeadPublic.of(l) for l in leads])

    @app.get("/leads/{lead_id}", response_model=LeadDetail,
             responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
    def get_lead(lead_id: Annotated[str, Path(pattern=LEAD_ID)]):
        """One lead with its posts (oldest first) and its event history."""
        try:
            lead = store.leads.get(lead_id)
        except LeadNotFound:
            return JSONResponse(status_code=404, content=ErrorBody(error=f"no lead with id {lead_id}").model_dump())
        return LeadDetail(**LeadPublic.of(lead).model_dump(),
                          posts=[PostPublic.of(p) for p in store.leads.posts(lead_id)],
                          events=[LeadEventPublic.of(e) for e in store.leads.events(lead_id)])

    return app
