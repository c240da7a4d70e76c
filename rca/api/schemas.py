"""Response models of the API (the store's Public models, with the contract's Answer typed)."""

from __future__ import annotations

from datetime import datetime
from itertools import takewhile
from typing import Any, Literal

from pydantic import BaseModel, Field

from rca.contract import Answer, Cause
from rca.service import REASON_MAX
from rca.store.models import IncidentPublic, ReviewPublic


class IncidentOut(IncidentPublic):
    answer: Answer | None = None


class IncidentDetail(IncidentOut):
    reviews: list[ReviewPublic] = []
    verdicts: list[ReviewPublic] = []  # the latest verdict of each reviewer on each cause
    confirmed: list[Cause] = []        # causes more reviewers confirm or name than reject


def incident_detail_json(detail: IncidentDetail, *, answer_json: str | None) -> bytes:
    """``detail`` as FastAPI would serialize it, with ``answer_json`` (the answer already rendered, see
    `rca.service.rendered_answer`) in the place of its answer, which is left unset.

    The fields before and after ``answer`` are dumped by pydantic as usual; only the answer, the bulk of
    the document, is not validated and serialized again on every read."""
    fields = list(IncidentDetail.model_fields)
    before = set(takewhile(lambda name: name != "answer", fields))
    after = set(fields) - before - {"answer"}
    head = detail.model_dump_json(include=before)
    tail = detail.model_dump_json(include=after)
    answer = "null" if answer_json is None else answer_json
    return f"{head[:-1]},\"answer\":{answer},{tail[1:]}".encode()


class RankerChangeIn(BaseModel):
    """Why an admin rolls the champion back or promotes a version by hand (kept in the promotion log)."""

    reason: str = Field(min_length=1, max_length=REASON_MAX)


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


class RetrainStatus(BaseModel):
    """The running or last retrain (`rca.service.last_retrain`), whether the service or `rca retrain` ran it."""

    state: Literal["none", "running", "done", "failed", "interrupted"] = Field(
        description="none: no retrain was recorded; interrupted: its process stopped or died mid-run (no result "
                    "will come; start it again)")
    started_at: datetime | None = None
    by: str | None = Field(default=None, description="who asked for it: an admin key's name, or cli:<user>")
    process: int | None = Field(default=None, description="the id of the process running it")
    holder: str | None = Field(default=None, description="what it wrote into the one-retrain lock (a 409 quotes it)")
    finished_at: datetime | None = None
    result: dict[str, Any] | None = Field(default=None, description="done: what `rca retrain` prints (challenger, "
                                          "promoted, metrics, exported, report, ...)")
    error: ErrorDetail | None = Field(default=None, description="failed: its error, as an error response says it")


UNAVAILABLE = ("the review store could not be reached or written (a database restarting, a read-only or locked file), "
               "with Retry-After; or the data directory cannot keep bundles (field RCA_DATA_DIR)")
ERRORS = {**{code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 415, 422)},
          503: {"model": ErrorBody, "description": UNAVAILABLE}}
BODY_ERRORS = {400: {"model": ErrorBody, "description": "a body that cannot be parsed (not UTF-8, nested too "
                     "deeply, a malformed multipart form or Content-Length)"}, **ERRORS}
"""The errors of an operation that reads a request body."""
UNUSABLE_RANKER = {503: {"model": ErrorBody, "description": f"{UNAVAILABLE}; or the service cannot use its ranker "
                         "registry (a damaged artifact, pointer or promotion log): the message names which"}}
"""The extra error of an operation that loads the ranker in use or the registry's versions."""
