"""``/v1/rankers`` (admin): the ranker in use, the registry's versions, metrics and promotion log; retrain in the
background and read how it went; roll the champion back or promote a stored version by hand."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from rca.api.deps import Admin, RetrainerDep, SettingsDep
from rca.api.schemas import BODY_ERRORS, ERRORS, UNUSABLE_RANKER, RankerChangeIn, RetrainStatus
from rca.service import last_retrain, list_rankers, promote_ranker, rollback_ranker

router = APIRouter(prefix="/v1/rankers", tags=["rankers"])


@router.get("", responses={**ERRORS, **UNUSABLE_RANKER})
def get_rankers(settings: SettingsDep, _: Admin) -> dict[str, Any]:
    return list_rankers(settings)


@router.post("/retrain", status_code=202, response_model=RetrainStatus,
             responses={202: {"description": "started: the retrain runs in the background; read it at Location"},
                        **ERRORS})
def post_retrain(request: Request, response: Response, retrainer: RetrainerDep, caller: Admin) -> dict[str, Any]:
    """Start a retrain in the background (export confirmed reviews, train a challenger, promote it if it beats the
    champion; minutes) and answer at once: 202, its status (running) and Location, where to read how it goes. 409
    while a retrain (from here or `rca retrain`), `rca train` or a prune runs."""
    running = retrainer.start(by=caller.name)
    response.headers["Location"] = str(request.url_for("get_retrain"))
    response.headers["Retry-After"] = "30"
    return running


@router.get("/retrain", name="get_retrain", response_model=RetrainStatus, responses=ERRORS)
def get_retrain(settings: SettingsDep, _: Admin) -> dict[str, Any]:
    """The running or last retrain: running, done (with its result), failed (with its error), interrupted (its
    process stopped mid-run) or none."""
    return last_retrain(settings)


@router.post("/rollback", responses={**BODY_ERRORS, **UNUSABLE_RANKER})
def post_rollback(change: RankerChangeIn, settings: SettingsDep, caller: Admin) -> dict[str, Any]:
    """Return to the champion before the current one (the packaged champion after the first promotion); 409
    when nothing was promoted. The running service uses it for its next analysis."""
    return rollback_ranker(settings, change.reason, by=caller.name)


@router.post("/{version}/promote", responses={**BODY_ERRORS, **UNUSABLE_RANKER})
def post_promote(version: str, change: RankerChangeIn, settings: SettingsDep, caller: Admin) -> dict[str, Any]:
    """Make a stored version the champion by hand, without the validation gate (e.g. to undo a rollback)."""
    return promote_ranker(settings, version, change.reason, by=caller.name)
