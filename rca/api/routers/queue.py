"""``/v1/review-queue``: analyzed, unreviewed incidents, least certain first (active learning); with
``disputed``, the reviewed ones reviewers disagree on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from rca.api.deps import Reviewer, SessionDep
from rca.api.routers.incidents import incident_out
from rca.api.schemas import ERRORS, IncidentOut
from rca.store import queries

router = APIRouter(prefix="/v1/review-queue", tags=["reviews"])


@router.get("", response_model=list[IncidentOut], responses=ERRORS)
def review_queue(request: Request, session: SessionDep, _: Reviewer, model: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 disputed: Annotated[bool, Query(description="instead, the reviewed incidents on which reviewers "
                                                             "disagree (a cause confirmed and rejected alike: no "
                                                             "label comes of it until another verdict), most "
                                                             "recently reviewed first")] = False
                 ) -> list[IncidentOut]:
    if disputed:
        return [incident_out(request, r, reviewed=True)
                for r in queries.disputed_incidents(session, model=model, limit=limit)]
    return [incident_out(request, r, reviewed=False)
            for r in queries.review_queue(session, model=model, limit=limit)]
