"""``/v1/rankers`` (admin): the ranker in use, the registry's versions and metrics; retrain now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rca.api.deps import Admin, SessionDep, SettingsDep
from rca.api.schemas import ERRORS
from rca.service import list_rankers, retrain

router = APIRouter(prefix="/v1/rankers", tags=["rankers"])


@router.get("", responses=ERRORS)
def get_rankers(settings: SettingsDep, _: Admin) -> dict[str, Any]:
    return list_rankers(settings)


@router.post("/retrain", responses=ERRORS)
def post_retrain(session: SessionDep, settings: SettingsDep, _: Admin) -> dict[str, Any]:
    """Export confirmed reviews, train a challenger, promote it if it beats the champion (synchronous)."""
    return retrain(session, settings=settings)
