"""``/v1/incidents``: submit a bundle (archive upload or inline JSON), read one, list with filters, delete one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BeforeValidator
from starlette.datastructures import UploadFile

from rca.api.deps import Admin, Reader, Reviewer, SessionDep, SettingsDep, Trigger, WorkerDep
from rca.api.errors import UploadError, media_type, not_accepted
from rca.api.limits import too_large
from rca.api.schemas import (BODY_ERRORS, ERRORS, UNUSABLE_RANKER, IncidentDetail, IncidentOut, IncidentPage,
                             incident_detail_json)
from rca.api.worker import MAX_WAIT
from rca.contract import Cause, CauseKind
from rca.contract.timestamps import parse_timestamp
from rca.errors import InputError
from rca.ranking.why import Contrast
from rca.service import BundleFormat, rendered_answer, submit_incident, why_incident
from rca.service import delete_incident as delete_stored_incident
from rca.store import queries
from rca.store.models import PENDING, IncidentRecord, IncidentStatus, ReviewPublic

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

MEDIA: dict[str, BundleFormat] = {
    "application/json": "json",
    "application/gzip": "tar.gz", "application/x-gzip": "tar.gz", "application/x-tar": "tar.gz",
    "application/x-gtar": "tar.gz", "application/zip": "zip", "application/x-zip-compressed": "zip",
}
BODY_DOC = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["incident"],
                                    "description": "inline bundle: keys are the file stems (incident, "
                                                   "predictions, histograms, traces, kpis, metrics, events, "
                                                   "graph, feature_samples)"}},
    "application/gzip": {"schema": {"type": "string", "format": "binary"}},
    "application/zip": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["bundle"], "properties": {
        "bundle": {"type": "string", "format": "binary", "description": ".tar.gz, .tgz, .zip or .json"}}}},
}}}


BUNDLE_BOUND = "a bundle (the service's RCA_MAX_UPLOAD_BYTES)"
"""What the upload bound of a 413 bounds (`rca.api.limits.too_large`): the setting an operator raises it with."""


class Upload:
    def __init__(self, body: bytes, fmt: BundleFormat) -> None:
        self.body, self.fmt = body, fmt


async def read_upload(request: Request, settings: SettingsDep) -> Upload:
    """The request body, bounded by ``max_upload_bytes`` (413), in a format we take (415 otherwise)."""
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise UploadError(400, f"Content-Length '{declared[:20]}' is not a byte count", "Content-Length")
        if int(declared) > limit:
            raise UploadError(413, too_large(int(declared), limit, BUNDLE_BOUND), "body")
    media = media_type(request)
    if media != "multipart/form-data" and media not in MEDIA:
        raise UploadError(415, not_accepted(media, "application/json, application/gzip, application/zip or "
                                                   "multipart/form-data"), "Content-Type")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadError(413, too_large(None, limit, BUNDLE_BOUND), "body")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise UploadError(422, "empty body; expected a bundle", "body")
    if media != "multipart/form-data":
        return Upload(body, MEDIA[media])
    return await _multipart(request, body, limit)


async def _multipart(request: Request, body: bytes, limit: int) -> Upload:
    request._body = body  # starlette's form parser reads the cached body we already bounded
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=limit)
    except Exception as exc:  # starlette raises its HTTPException / MultiPartException on malformed parts
        raise UploadError(400, f"malformed multipart body ({getattr(exc, 'detail', exc)})", "body") from exc
    part = form.get("bundle")
    if not isinstance(part, UploadFile):
        raise UploadError(422, "multipart body needs a file part named 'bundle'", "bundle")
    name = (part.filename or "").lower()
    fmt: BundleFormat | None = ("tar.gz" if name.endswith((".tar.gz", ".tgz", ".tar")) else
                                "zip" if name.endswith(".zip") else "json" if name.endswith(".json") else
                                MEDIA.get((part.content_type or "").lower()))
    if fmt is None:
        raise UploadError(415, f"file '{part.filename}' is not a .tar.gz, .tgz, .zip or .json bundle", "bundle")
    return Upload(await part.read(), fmt)


UploadDep = Annotated[Upload, Depends(read_upload)]
# The incident's own columns in the detail, all but the answer (served from answer_json).
STORED_FIELDS = tuple(name for name in IncidentDetail.model_fields
                      if name in IncidentRecord.model_fields and name != "answer")


def incident_out(request: Request, record: IncidentRecord, *, reviewed: bool) -> IncidentOut:
    url = str(request.url_for("get_incident", incident_id=record.id))
    return IncidentOut.model_validate(record, update={"reviewed": reviewed, "url": url})


@router.post("", status_code=201, response_model=IncidentOut, openapi_extra=BODY_DOC,
             responses={200: {"model": IncidentOut, "description": "the same incident again"},
                        202: {"model": IncidentOut, "description": "accepted; analysis runs in the background"},
                        **BODY_ERRORS})
def post_incident(_: Trigger, request: Request, response: Response, upload: UploadDep, session: SessionDep,
                  settings: SettingsDep, worker: WorkerDep) -> IncidentOut:
    """Submit an incident bundle. 201 with the result when the analysis is quick, else 202 + Location."""
    # The key first: dependencies are solved in this order, and a caller without one gets its 401 before
    # the body (up to max_upload_bytes) is read
    submission = submit_incident(session, body=upload.body, fmt=upload.fmt, settings=settings)
    record = submission.record
    if submission.created:
        worker.submit(record.id, submission.bundle)
        if worker.wait(record.id, settings.analysis_budget):
            session.refresh(record)
    elif record.status in PENDING and record.error and not worker.analyzes(record.id):
        worker.submit(record.id)   # waiting for the server (its error says why): the retry tries again now,
        if worker.wait(record.id, settings.analysis_budget):   # and answers as a first post does
            session.refresh(record)
    out = incident_out(request, record, reviewed=queries.is_reviewed(session, incident_id=record.id))
    response.headers["Location"] = out.url
    if not submission.created:
        response.status_code = 200
    elif record.status in PENDING:
        response.status_code = 202
        response.headers["Retry-After"] = "1"  # or read it with ?wait=
    return out


@router.get("/{incident_id}", response_model=IncidentDetail, name="get_incident", responses=ERRORS)
def get_incident(incident_id: str, request: Request, session: SessionDep, worker: WorkerDep, _: Reader,
                 wait: Annotated[float, Query(ge=0, le=MAX_WAIT, allow_inf_nan=False,
                                              description="seconds to wait, while the incident is queued or "
                                                          "analyzing, for its analysis to finish before answering "
                                                          "(a trigger's long poll after a 202)")] = 0) -> Response:
    """Status, ranked causes with evidence, and the review history; with ``wait``, once the analysis is done or
    failed (or the wait is over: the status says which)."""
    row, review_rows = queries.read_incident(session, incident_id=incident_id)
    if wait and row.status in PENDING:
        worker.wait_for_analysis(session, incident_id, wait)
        row, review_rows = queries.read_incident(session, incident_id=incident_id)
    answer_json = row.answer_json
    if answer_json is None and row.status is IncidentStatus.done:  # stored before answer_json was
        answer_json = rendered_answer(queries.get_incident(session, incident_id=incident_id).answer)
    reviews = [ReviewPublic.model_validate(r) for r in review_rows]
    verdicts = queries.latest_verdicts(reviews)
    detail = IncidentDetail(**{name: row._mapping[name] for name in STORED_FIELDS},
                            reviewed=bool(queries.standing_verdicts(reviews)),
                            url=str(request.url_for("get_incident", incident_id=row.id)),
                            reviews=reviews, verdicts=verdicts,
                            confirmed=[Cause(node=n, kind=k) for n, k in queries.confirmed_causes(reviews)])
    return Response(incident_detail_json(detail, answer_json=answer_json), media_type="application/json")


@router.delete("/{incident_id}", status_code=204, responses=ERRORS)
def delete_incident(incident_id: str, session: SessionDep, settings: SettingsDep, _: Admin) -> Response:
    """Delete an incident posted by mistake, with all its reviews and (unless another incident refers to it) its
    stored bundle. 409 while it is queued or being analyzed. Confirmed causes leave the training data at the next
    retrain's export."""
    delete_stored_incident(session, settings=settings, incident_id=incident_id)
    return Response(status_code=204)


@router.get("/{incident_id}/why", response_model=Contrast, responses={**ERRORS, **UNUSABLE_RANKER})
def why(incident_id: str, session: SessionDep, settings: SettingsDep, _: Reader,
        node: Annotated[str, Query(min_length=1, max_length=300, description="e.g. service:db")],
        kind: Annotated[CauseKind | None, Query(description="default: the node's highest-ranked kind")] = None,
        versus: Annotated[str | None, Query(max_length=300, description="default: the first-ranked hypothesis, "
                                                                         "the second when NODE is first")] = None,
        versus_kind: CauseKind | None = None,
        features: Annotated[int, Query(ge=1, le=50, description="how many feature parts to name")] = 8) -> Contrast:
    """Why a node ranks where it does: its score gap with another hypothesis, split into feature parts by the
    ranker in use (`rca why`); 422 when no hypothesis names it or the ranker's scores do not split."""
    return why_incident(session, incident_id=incident_id, settings=settings, node=node,
                        kind=kind.value if kind else None, versus=versus,
                        versus_kind=versus_kind.value if versus_kind else None, shown=features)


TIME_FORMS = ("; an ISO 8601 time (UTC when it has no offset; a date alone is its midnight) or a Unix time "
              "(seconds up to 2e10, milliseconds above)")
LAST_UNIX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z in Unix milliseconds: the last time a query's filter can name."""


def _unix_in_range(value: object) -> object:
    """A Unix time past the year 9999 gets its own message: pydantic's was 'invalid date separator, expected -'."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.lstrip("-").isascii() and text.lstrip("-").isdigit() \
            and abs(int(text)) > LAST_UNIX_MS:
        raise ValueError(f"{text} is past the year 9999 as a Unix time; expected " + TIME_FORMS[2:])
    return value


QueryTime = Annotated[datetime | None, BeforeValidator(_unix_in_range)]


@router.get("", response_model=IncidentPage, responses=ERRORS)
def list_incidents(request: Request, session: SessionDep, _: Reviewer,
                   model: str | None = None, status: IncidentStatus | None = None,
                   since: Annotated[QueryTime, Query(description="detected_at >= since" + TIME_FORMS)] = None,
                   until: Annotated[QueryTime, Query(description="detected_at < until" + TIME_FORMS)] = None,
                   reviewed: bool | None = None, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> IncidentPage:
    """Newest first, with filters; follow ``next_cursor`` for the next page."""
    rows, next_cursor = queries.list_incidents(session, model=model, status=status, since=_utc(since, "since"),
                                               until=_utc(until, "until"), reviewed=reviewed, cursor=cursor,
                                               limit=limit)
    done = queries.reviewed_ids(session, incident_ids=[r.id for r in rows])
    return IncidentPage(items=[incident_out(request, r, reviewed=r.id in done) for r in rows],
                        next_cursor=next_cursor)


def _utc(value: datetime | None, field: str) -> datetime | None:
    """``value`` in UTC, as the contract reads a bundle's times (naive: UTC; an offset past year 1 or 9999 in
    UTC: a 422 naming ``field``)."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise InputError(str(exc), field=field) from None
