"""The reviewer console: server-rendered pages (Jinja2) and the evidence charts (SVG), mounted at ``/``.

`router` holds the pages; `install(app)` adds it and the sign-in redirect to an app (`create_app` does).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse


def install(app: FastAPI) -> None:
    """Mount the console's pages on ``app`` and send requests without a valid key to the sign-in page."""
    from urllib.parse import quote

    from rca.console.routes import COOKIE, SignInRequired, router

    @app.exception_handler(SignInRequired)
    async def _signin(_: Request, exc: SignInRequired) -> RedirectResponse:
        target = "/signin" + (f"?error={quote(exc.message)}" if exc.message else "")
        response = RedirectResponse(target, status_code=303)
        if exc.message:  # a key that no longer works: forget it
            response.delete_cookie(COOKIE, path="/")
        return response

    app.include_router(router)


__all__ = ["install"]
