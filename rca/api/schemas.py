"""Response models of the API (the store's Public models, with the contract's Answer typed)."""

from __future__ import annotations

from pydantic import BaseModel

from rca.contract import Answer, Cause
from rca.store.models import IncidentPublic, ReviewPublic


class IncidentOut(IncidentPublic):
    answer: Answer | None = None


class IncidentDetail(IncidentOut):
    reviews: list[ReviewPublic] = []
    verdicts: list[ReviewPublic] = []  # the latest verdict of each reviewer on each cause
    confirmed: list[Cause] = []        # causes more reviewers confirm or name than reject


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = None


class ErrorDetail(BaseModel):
    message: str
    field: str | None = None
    file: str | None = None
    row: int | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS = {code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 415, 422)}
