"""Every error answers JSON ``{"error": {"message": ..., "field": ...}}`` (plus file/row for bundles)."""

from __future__ import annotations

import json
import logging
import re

from fastapi import FastAPI, Request
from sqlalchemy import exc as sa_exc
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rca.api.deps import AuthError
from rca.contract.load import unreadable_json
from rca.errors import (BundleError, BundleErrors, ConfigError, ConflictError, InputError, NotFoundError,
                        error_detail)
from rca.store.db import NOT_MIGRATED, STORE_AWAY, not_migrated
from rca.store.queries import CursorError

log = logging.getLogger(__name__)


class UploadError(Exception):
    """A request body the service cannot take: too large (413), wrong media type (415), unreadable (400)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        self.status, self.message, self.field = status, message, field
        super().__init__(message)


def media_type(request: Request) -> str:
    """The request's media type, lower case, without its parameters ('' when there is no Content-Type)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def not_accepted(media: str, accepted: str) -> str:
    return f"content type '{media or '(none)'}' is not accepted; send {accepted}"


def _console_page(request: Request) -> bool:
    """Whether the request is a browser's for a page of the console (not the API, the probes or the docs)."""
    path = request.url.path
    return ("text/html" in request.headers.get("accept", "") and not path.startswith(("/v1/", "/docs", "/redoc"))
            and path not in ("/healthz", "/metrics", "/openapi.json"))


def error_response(status: int, message: str, field: str | None = None, headers=None, **extra) -> JSONResponse:
    body = {"message": message, "field": field, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field(loc: tuple) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or (str(loc[0]) if loc else None)


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def http_error_headers(request: Request, exc: StarletteHTTPException) -> dict[str, str] | None:
    """The headers of ``exc``'s response; a 405's ``Allow`` names every method a route at the path takes.

    The router answers a 405 with the methods of the first route at the path only, so a path served by a route
    per method (``GET`` and ``POST /v1/incidents``) seemed to take one. Each method is tried against the routes'
    public ``matches``, which also looks inside included routers."""
    headers = getattr(exc, "headers", None)
    if exc.status_code != 405:
        return headers
    allowed = [method for method in METHODS
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in request.app.router.routes)]
    return {**(headers or {}), "Allow": ", ".join(allowed)} if allowed else headers


def _unparsable_body(exc: StarletteHTTPException) -> str:
    """FastAPI's 400 for a JSON body it cannot decode says only 'There was an error parsing the body'; the
    exception it was raised from says why."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"body is {unreadable_json(cause)}"
    if isinstance(cause, RecursionError):
        return "body is JSON nested too deeply to read; expected a JSON object a few levels deep"
    return str(exc.detail)


_PLUS_READ_AS_SPACE = re.compile(r"\d\d:\d\d(:\d\d(\.\d+)?)? \d\d(:?\d\d)?$")
"""A time whose offset's '+' a query string turned into a space (``...T10:00:00 02:00``)."""


def _plus_hint(error: dict) -> str:
    """For a query time sent with an unencoded '+' in its offset: what happened to it. pydantic said only
    'unexpected extra characters at the end of the input'."""
    value = error.get("input")
    if error.get("loc", ("",))[0] == "query" and isinstance(value, str) and _PLUS_READ_AS_SPACE.search(value):
        return "; a '+' in a URL's query reads as a space: send the offset's '+' as %2B (or use Z)"
    return ""


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
        if tuple(first.get("loc", ())) == ("body",) and isinstance(first.get("input"), bytes):
            # FastAPI reads a body as JSON only when its media type says so, and otherwise validates the bytes
            return error_response(415, not_accepted(media_type(request), "application/json"), "Content-Type")
        if first.get("type") == "json_invalid":  # FastAPI's loc is ("body", the offset where decoding stopped)
            stop = json.JSONDecodeError(first["ctx"]["error"], exc.body, first["loc"][-1])
            return error_response(422, f"body is {unreadable_json(stop)}", "body")
        # pydantic's prefix of a validator's own message, which says what was wrong already (the loader drops it too)
        details = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "").removeprefix("Value error, ")}
                   for e in errors]
        message = first.get("msg", "invalid request").removeprefix("Value error, ")
        return error_response(422, message + _plus_hint(first), _field(tuple(first.get("loc", ()))), errors=details)

    @app.exception_handler(BundleError)
    async def _bundle(_: Request, exc: BundleError) -> JSONResponse:
        problems = exc.errors if isinstance(exc, BundleErrors) else [exc]
        return error_response(422, **error_detail(exc),
                              errors=[p.to_dict() for p in problems] if len(problems) > 1 else None)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return error_response(422, **error_detail(exc))

    @app.exception_handler(CursorError)
    async def _cursor(_: Request, exc: CursorError) -> JSONResponse:
        return error_response(422, str(exc), "cursor")

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return error_response(409, **error_detail(exc))

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return error_response(404, **error_detail(exc))

    @app.exception_handler(ConfigError)
    async def _config(_: Request, exc: ConfigError) -> JSONResponse:
        return error_response(503, **error_detail(exc))

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.message, "Authorization", headers=headers)

    @app.exception_handler(UploadError)
    async def _upload(_: Request, exc: UploadError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400 is raised by FastAPI and starlette only for a body they cannot parse (not UTF-8, JSON nested past
        # the parser's recursion limit, a multipart form without its boundary)
        headers = http_error_headers(request, exc)
        message = str(exc.detail)
        if exc.status_code == 400:
            message = _unparsable_body(exc)
        elif exc.status_code == 405 and headers and "Allow" in headers:
            message = f"{request.method} is not allowed on {request.url.path}; it takes {headers['Allow']}"
        return error_response(exc.status_code, message, "body" if exc.status_code == 400 else None,
                              headers=headers)

    async def _store_away(request: Request, exc: Exception) -> Response:
        log.error("the store failed on %s %s: %s", request.method, request.url.path, exc)
        if not_migrated(exc):
            message, retry = NOT_MIGRATED, "30"
        else:
            message, retry = (f"the review store could not be reached or written ({type(exc).__name__}); try again "
                              "in a moment (see the service log if it lasts)"), "5"
        if _console_page(request):   # a reviewer's browser gets a page of the console, not a JSON body
            from rca.console.routes import templates

            return templates.TemplateResponse(request, "error.html", {"message": message[:1].upper() + message[1:]},
                                              status_code=503, headers={"Retry-After": retry})
        return error_response(503, message, headers={"Retry-After": retry})

    for away in STORE_AWAY:
        app.add_exception_handler(away, _store_away)

    @app.exception_handler(sa_exc.ProgrammingError)
    async def _programming(request: Request, exc: sa_exc.ProgrammingError) -> JSONResponse:
        if not_migrated(exc):   # PostgreSQL's missing table; SQLite's is an OperationalError (`_store_away`)
            return await _store_away(request, exc)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the service log")
