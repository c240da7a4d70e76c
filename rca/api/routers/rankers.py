"""``/v1/rankers`` (admin): the ranker in use, the registry's versions, metrics and promotion log; retrain now;
roll the champion back or promote a stored version by hand."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rca.api.deps import Admin, SessionDep, SettingsDep
from rca.api.schemas import BODY_ERRORS, ERRORS, UNUSABLE_RANKER, RankerChangeIn
from rca.service import list_rankers, promote_ranker, retrain, rollback_ranker

router = APIRouter(prefix="/v1/rankers", tags=["rankers"])


@router.get("", responses={**ERRORS, **UNUSABLE_RANKER})
def get_rankers(settings: SettingsDep, _: Admin) -> dict[str, Any]:
    return list_rankers(settings)


@router.post("/retrain", responses={**ERRORS, **UNUSABLE_RANKER})
def post_retrain(session: SessionDep, settings: SettingsDep, _: Admin) -> dict[str, Any]:
    """Export confirmed reviews, train a challenger, promote it if it beats the champion (synchronous)."""
    return retrain(session, settings=settings)


@router.post("/rollback", responses={**BODY_ERRORS, **UNUSABLE_RANKER})
def post_rollback(change: RankerChangeIn, settings: SettingsDep, caller: Admin) -> dict[str, Any]:
    """Return to the champion before the current one (the packaged champion after the first promotion); 409
    when nothing was promoted. The running service uses it for its next analysis."""
    return rollback_ranker(settings, change.reason, by=caller.name)


@router.post("/{version}/promote", responses={**BODY_ERRORS, **UNUSABLE_RANKER})
def post_promote(version: str, change: RankerChangeIn, settings: SettingsDep, caller: Admin) -> dict[str, Any]:
    """Make a stored version the champion by hand, without the validation gate (e.g. to undo a rollback)."""
    return promote_ranker(settings, version, change.reason, by=caller.name)
