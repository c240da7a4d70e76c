"""``/v1/incidents/{id}/reviews``: append a verdict (the reviewer is the key's name), read the history."""

from __future__ import annotations

from fastapi import APIRouter

from rca.api.deps import Reviewer, SessionDep, SettingsDep
from rca.api.schemas import BODY_ERRORS, ERRORS
from rca.service import ReviewIn, record_review
from rca.store import queries
from rca.store.models import ReviewPublic

router = APIRouter(prefix="/v1/incidents/{incident_id}/reviews", tags=["reviews"])


@router.post("", status_code=201, response_model=ReviewPublic, responses=BODY_ERRORS)
def post_review(incident_id: str, review: ReviewIn, session: SessionDep, settings: SettingsDep,
                caller: Reviewer) -> ReviewPublic:
    """Confirm or reject a ranked cause (by ``rank`` or ``node`` + ``kind``), or name the true cause (a node of the
    incident's bundle)."""
    return ReviewPublic.model_validate(record_review(session, incident_id=incident_id, reviewer=caller.name,
                                                     review=review, settings=settings))


@router.get("", response_model=list[ReviewPublic], responses=ERRORS)
def list_reviews(incident_id: str, session: SessionDep, _: Reviewer) -> list[ReviewPublic]:
    """Every review of the incident, oldest first (reviews are never edited or deleted)."""
    queries.get_incident(session, incident_id=incident_id)
    return [ReviewPublic.model_validate(r) for r in queries.list_reviews(session, incident_id=incident_id)]
