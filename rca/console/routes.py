"""The reviewer console: server-rendered pages over the same store, auth and use cases as the API.

    GET  /                                   the review queue and recent incidents (sign-in first)
    GET  /signin, POST /signin, POST /signout
    GET  /incidents/{id}                     ranked causes, evidence, charts, review controls, history
    POST /incidents/{id}/reviews             a verdict, through `rca.service.record_review`
    GET  /incidents/{id}/charts/{name}.svg   kpi, latency, quality, feature (``?feature=``)

The API key lives in an HttpOnly, SameSite=Strict cookie and is checked on every request by
`rca.api.deps.check_key` (the API's own key-and-role check). Every form carries a token derived from the
key (an HMAC), so a form posted from anywhere but a page this key was shown is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlmodel import Session

from rca.api.deps import AuthError, SessionDep, SettingsDep, check_key
from rca.api.worker import MAX_WAIT
from rca.console import charts, evidence
from rca.console.pages import BundleCache, ChartRef, available_charts, incident_view, kpi_onset
from rca.contract.models import CauseKind
from rca.errors import ConflictError, InputError, NotFoundError, RcaError
from rca.graph.build import bundle_nodes
from rca.service import ReviewIn, record_review, why_incident
from rca.store import queries
from rca.store.keys import Caller
from rca.store.models import ReviewVerdict, Role, as_utc

COOKIE = "rca_console_key"
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["utc"] = as_utc   # every time shown is in UTC and says so (`_macros.html`'s `when`)
templates.env.filters["words"] = lambda name: str(name).replace("_", " ")   # a kind, verdict or family, shown
router = APIRouter(include_in_schema=False)
QUEUE_SHOWN = 100
"""The review queue shows this many incidents (the least certain); the rest wait for verdicts on these."""
RECENT_SHOWN = 30
"""Recent incidents per page (newest first; a link leads to older ones)."""


class SignInRequired(Exception):
    """No, unknown or revoked key in the cookie: the console answers with the sign-in page. ``reason``, a key of
    `SIGNED_OUT`, says why a key that was signed in no longer is."""

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason
        super().__init__(reason or "sign in")


SIGNED_OUT = {
    "revoked": "Signed out: this API key is unknown or was revoked. Sign in with a current reviewer key.",
    "role": "Signed out: this API key's role may not review. Sign in with a reviewer or admin key.",
}
"""What the sign-in page says for each ``?error=``: only these, so that a link cannot make the page say anything."""


def csrf_token(key: str) -> str:
    return hmac.new(key.encode(), b"rca-console-form", hashlib.sha256).hexdigest()


def _token_ok(sent: object, key: str) -> bool:
    """Whether a form's ``csrf`` field is this key's token. Compared as bytes: `hmac.compare_digest` raises
    TypeError for a str with a character outside ASCII, which a forged form may send."""
    return hmac.compare_digest(str(sent).encode(), csrf_token(key).encode())


def _user(request: Request, session: Session) -> tuple[Caller, str]:
    key = request.cookies.get(COOKIE)
    if not key:
        raise SignInRequired()
    try:
        return check_key(session, key=key, roles=(Role.reviewer,)), key
    except AuthError as exc:
        raise SignInRequired("revoked" if exc.status == 401 else "role") from exc


def _page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def _cache(request: Request) -> BundleCache:
    state = request.app.state
    if getattr(state, "console_bundles", None) is None:
        state.console_bundles = BundleCache()
    return state.console_bundles


# ---------------------------------------------------------------------------------------------- sign-in
def _local(target: object) -> str:
    """``target`` when it is a path on this site (where to go after signing in), else the queue."""
    target = str(target or "")
    # browsers drop tabs and newlines from a URL and read a backslash as a slash: "/\t/host" is "//host"
    if target.startswith("/") and not any(ord(c) < 32 or c == "\\" for c in target) and not target.startswith("//"):
        return target
    return "/"


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request) -> HTMLResponse:
    return _page(request, "signin.html", error=SIGNED_OUT.get(request.query_params.get("error", "")),
                 next=_local(request.query_params.get("next")))


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    key = str(form.get("key") or "").strip()
    back = _local(form.get("next"))
    if not key:
        return _page(request, "signin.html", 422, error="Paste your API key (rca_...) to sign in.", next=back)
    try:
        check_key(session, key=key, roles=(Role.reviewer,))
    except AuthError as exc:
        return _page(request, "signin.html", exc.status, error=f"Not signed in: {exc.message}.", next=back)
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.get("/signout")
def signout_address() -> RedirectResponse:
    """Signing out takes the form in the page header (its token); a visit to the address leads to the queue."""
    return RedirectResponse("/", status_code=303)


@router.post("/signout")
async def signout(request: Request, session: SessionDep) -> Response:
    _, key = _user(request, session)
    form = await request.form()
    if not _token_ok(form.get("csrf", ""), key):
        return _page(request, "error.html", 403, message="This form is stale; reload the page and try again.")
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# ------------------------------------------------------------------------------------------------ pages
@router.get("/", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep) -> HTMLResponse:
    user, key = _user(request, session)
    model = request.query_params.get("model") or None   # one model's incidents only (a team reviews its own)
    queue = queries.review_queue(session, model=model, limit=QUEUE_SHOWN + 1)   # one more: whether there are more
    older = request.query_params.get("older") or None
    try:
        recent, next_cursor = queries.list_incidents(session, model=model, cursor=older, limit=RECENT_SHOWN)
    except queries.CursorError:
        return _page(request, "error.html", 400, user=user, csrf=csrf_token(key),
                     message="This link to older incidents is not one this console made; start from the newest.")
    reviewed = queries.reviewed_ids(session, incident_ids=[r.id for r in recent])
    disputed = [] if older else queries.disputed_incidents(session, model=model, limit=QUEUE_SHOWN)
    return _page(request, "queue.html", user=user, csrf=csrf_token(key), queue=queue[:QUEUE_SHOWN],
                 more_queued=len(queue) > QUEUE_SHOWN, recent=recent, reviewed=reviewed, older=older,
                 next_cursor=next_cursor, model=model, disputed=disputed)


def _incident_page(request: Request, session: Session, settings, incident_id: str, user, key: str,
                   status: int = 200, error: str | None = None, form: dict | None = None) -> HTMLResponse:
    try:
        view = incident_view(session, incident_id=incident_id)
    except NotFoundError as exc:
        return _page(request, "error.html", 404, user=user, csrf=csrf_token(key), message=str(exc))
    chart_refs: list[ChartRef] = []
    nodes: list[str] = []  # the name-cause form's suggestions: the nodes a named cause may be
    chart_error = None
    if view.record.bundle_file:
        try:
            bundle = _cache(request).get(view.record, settings=settings)
            chart_refs = available_charts(bundle, view.causes)
            nodes = sorted(bundle_nodes(bundle))
        except RcaError as exc:
            chart_error = f"the stored bundle could not be read for charts: {exc}"
    done = request.query_params.get("done")
    if not any(r.reviewer == user.name and r.verdict.value == done for r in view.reviews):
        done = None  # the redirect after this reviewer's verdict says it was recorded; a link alone does not
    # after a verdict, the next incident of the review queue (least certain first), so a reviewer goes on: of the
    # same model first (a team reviews its own model's incidents: the queue page's ?model=), then of any
    up_next = []
    if done:
        up_next = [r for r in queries.review_queue(session, model=view.record.model, limit=2) if r.id != incident_id] \
            or [r for r in queries.review_queue(session, limit=2) if r.id != incident_id]
    mine = {(r.node, r.kind) for r in queries.standing_verdicts(view.reviews) if r.reviewer == user.name}
    return _page(request, "incident.html", status, user=user, csrf=csrf_token(key), view=view, charts=chart_refs,
                 chart_error=chart_error, error=error, form=form or {}, kinds=[k.value for k in CauseKind], nodes=nodes,
                 done=done, up_next=up_next[0] if up_next else None, quote=quote, mine=mine)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    user, key = _user(request, session)
    _wait_for_analysis(request, session, incident_id)
    return _incident_page(request, session, settings, incident_id, user, key)


def _wait_for_analysis(request: Request, session: Session, incident_id: str) -> None:
    """With ``?wait=S`` (the pending page's "wait for it" link), wait up to S seconds (at most `MAX_WAIT`) while
    the incident is queued or analyzing, as the API's long poll does; a value that is no number waits not."""
    try:
        seconds = min(float(request.query_params.get("wait", 0)), MAX_WAIT)
    except ValueError:
        return
    if not seconds > 0:  # 0, negative, NaN
        return
    try:
        request.app.state.worker.wait_for_analysis(session, incident_id, seconds)  # at once when not pending
    except NotFoundError:
        pass  # the page says so


@router.post("/incidents/{incident_id}/reviews", response_class=HTMLResponse)
async def post_review(incident_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    user, key = _user(request, session)
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not _token_ok(form.get("csrf", ""), key):
        return _incident_page(request, session, settings, incident_id, user, key, 403,
                              "This form is stale or was not sent from this console; check it and send it again.",
                              form)
    try:
        review = ReviewIn(verdict=form.get("verdict") or None, rank=form.get("rank") or None,
                          node=form.get("node", "").strip() or None, kind=form.get("kind") or None,
                          comment=form.get("comment", ""))
        record_review(session, incident_id=incident_id, reviewer=user.name, review=review, settings=settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "form"
        return _incident_page(request, session, settings, incident_id, user, key, 422,
                              f"{field}: {first.get('msg', 'invalid value')}", form)
    except (InputError, ConflictError) as exc:
        status = 409 if isinstance(exc, ConflictError) else 422
        return _incident_page(request, session, settings, incident_id, user, key, status,
                              f"{exc.field or 'review'}: {exc.message}", form)
    except NotFoundError as exc:
        return _page(request, "error.html", 404, user=user, csrf=csrf_token(key), message=str(exc))
    verdict = ReviewVerdict(review.verdict).value
    return RedirectResponse(f"/incidents/{quote(incident_id, safe='')}?done={verdict}", status_code=303)


@router.get("/incidents/{incident_id}/reviews")
def reviews_address(incident_id: str) -> RedirectResponse:
    """The address a review form posts to, opened again (the address bar after a refused review): the
    incident page."""
    return RedirectResponse(f"/incidents/{quote(incident_id, safe='')}", status_code=303)


@router.get("/incidents/{incident_id}/why", response_class=HTMLResponse)
def why_page(incident_id: str, request: Request, session: SessionDep, settings: SettingsDep,
             node: str = "", kind: str | None = None, versus: str = "", versus_kind: str | None = None
             ) -> HTMLResponse:
    """Why ``node`` ranks where it does: its score gap with ``versus`` (of ``versus_kind``; by default the
    first-ranked cause, the second when it is first), split into feature parts by the ranker in use
    (`rca.ranking.why`)."""
    user, key = _user(request, session)
    common = {"user": user, "csrf": csrf_token(key)}
    try:
        view = incident_view(session, incident_id=incident_id)
        bundle = _cache(request).get(view.record, settings=settings)
        found = why_incident(session, incident_id=incident_id, settings=settings, node=node, kind=kind or None,
                             versus=versus.strip() or None, versus_kind=versus_kind or None, bundle=bundle)
    except NotFoundError as exc:
        return _page(request, "error.html", 404, **common, message=str(exc))
    except RcaError as exc:   # no hypothesis names the node, a ranker without feature parts, an unreadable bundle
        return _page(request, "error.html", 422, **common, message=f"Cannot say why {node or 'it'} ranks there: {exc}",
                     back=(f"/incidents/{quote(incident_id, safe='')}", f"Back to incident {incident_id}"))
    largest = max([abs(p.contribution) for p in found.parts] + [1e-9])
    return _page(request, "why.html", **common, record=view.record, c=found, largest=largest,
                 ratio=math.exp(found.gap / found.temperature) if found.temperature > 0 else math.nan)


@router.get("/incidents/{incident_id}/charts/{name}.svg")
def chart(incident_id: str, name: str, request: Request, session: SessionDep, settings: SettingsDep,
          feature: str | None = None) -> Response:
    _user(request, session)
    try:
        view = incident_view(session, incident_id=incident_id)
        bundle = _cache(request).get(view.record, settings=settings)
    except RcaError as exc:
        return Response(str(exc), status_code=404, media_type="text/plain")
    if name == "kpi":
        data, draw = evidence.kpi_series(bundle, onset=kpi_onset(view.causes)), charts.kpi_svg
    elif name == "latency":
        data, draw = evidence.latency(bundle), charts.latency_svg
    elif name == "quality":
        data, draw = evidence.quality(bundle), charts.quality_svg
    elif name == "feature" and feature:
        data, draw = evidence.feature_histograms(bundle, feature), charts.histogram_svg
    else:
        data, draw = None, None
    if data is None:
        return Response(f"no chart '{name}' for this incident", status_code=404, media_type="text/plain")
    return Response(draw(data), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"})


@router.get("/console.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "console.css", media_type="text/css")
