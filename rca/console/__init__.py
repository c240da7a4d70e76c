"""The reviewer console: server-rendered pages (Jinja2) and the evidence charts (SVG), mounted at ``/``.

`router` holds the pages; `install(app)` adds it and the sign-in redirect to an app (`create_app` does).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

API_PATHS = ("/v1/", "/healthz", "/metrics", "/docs", "/redoc", "/openapi.json")
"""Paths whose errors stay the API's JSON whatever the client accepts."""


def install(app: FastAPI) -> None:
    """Mount the console's pages on ``app`` and send requests without a valid key to the sign-in page."""
    from urllib.parse import quote

    from fastapi.exception_handlers import http_exception_handler
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from rca.api.errors import http_error_headers
    from rca.console.routes import COOKIE, SignInRequired, router, templates

    @app.exception_handler(SignInRequired)
    async def _signin(request: Request, exc: SignInRequired) -> RedirectResponse:
        params = [f"error={exc.reason}"] if exc.reason else []
        back = _back_after_signin(request)
        if back != "/":
            params.append(f"next={quote(back, safe='')}")
        target = "/signin" + ("?" + "&".join(params) if params else "")
        response = RedirectResponse(target, status_code=303)
        if exc.reason:  # a key that no longer works: forget it
            response.delete_cookie(COOKIE, path="/")
        return response

    api_http = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        """A browser that asks for a page the console does not have (a mistyped or old link, the address of a
        form's POST opened again) gets a page with a way back, not the API's JSON error."""
        if (exc.status_code in (404, 405) and not request.url.path.startswith(API_PATHS)
                and "text/html" in request.headers.get("accept", "")):
            message = ("There is no console page at this address." if exc.status_code == 404 else
                       "This address takes a form, not a visit; go back to the page you came from.")
            return templates.TemplateResponse(request, "error.html", {"message": message},
                                              status_code=exc.status_code, headers=http_error_headers(request, exc))
        return await api_http(request, exc)

    app.include_router(router)


def _back_after_signin(request: Request) -> str:
    """The page to return to once signed in: the page asked for (a link from an alert, a page open when the
    key was revoked), the incident page for a review posted then; the queue otherwise (charts, sign-out)."""
    path = request.url.path
    if request.method == "GET" and not path.endswith(".svg"):
        return path + (f"?{request.url.query}" if request.url.query else "")
    if request.method == "POST" and path.startswith("/incidents/") and path.endswith("/reviews"):
        return path.removesuffix("/reviews")
    return "/"


__all__ = ["install"]
