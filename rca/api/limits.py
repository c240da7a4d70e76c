"""A bound on the body of every request but a bundle upload, checked before any route reads it.

`read_upload` bounds a bundle by ``RCA_MAX_UPLOAD_BYTES`` while it streams it in. Every other body (a review,
a key, a promotion's reason, the console's forms) is read whole by FastAPI or starlette before the route, its
dependencies and so its key check run; without a bound a caller with no key could make a worker hold as much as
it sends. The largest body the service takes otherwise is a review with a 10,000-character comment, at most
~120 KB even with every character JSON-escaped, so 1 MiB refuses nothing a client means to send.

Not FastAPI's own ``max_body_size`` (0.165): its 413 for a declared ``Content-Length`` is plain text, outside the
JSON error every other answer has, and the bound of a route cannot come from the settings of the app built.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rca.api.errors import error_response

MAX_BODY_BYTES = 1024 * 1024
UPLOAD = ("POST", "/v1/incidents")
"""The one operation with its own, larger bound (``RCA_MAX_UPLOAD_BYTES``)."""


def too_large(size: int | None, limit: int = MAX_BODY_BYTES,
              what: str = "this request (bundles go to POST /v1/incidents)") -> str:
    """A 413's message: the body's size when declared, the bound, and what it bounds."""
    shown = f"body of {size} bytes" if size is not None else "body"
    return f"{shown} exceeds the limit of {limit} bytes for {what}"


class BodyLimitMiddleware:
    """413 for a body past `MAX_BODY_BYTES` on any request but `UPLOAD`.

    A declared ``Content-Length`` is checked before the app runs (the server delivers no more than it declares).
    A chunked body, of undeclared size, is read here up to the bound, then handed to the app as it arrived."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"].rstrip("/")) == UPLOAD:
            return await self.app(scope, receive, send)
        declared, chunked = _framing(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            return await error_response(413, too_large(declared), "body")(scope, receive, send)
        if not chunked:  # a body of the declared size, or none
            return await self.app(scope, receive, send)
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app reads the disconnect
            size += len(message.get("body", b""))
            if size > MAX_BODY_BYTES:
                return await error_response(413, too_large(None), "body")(scope, receive, send)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared body size (None when absent, or not a byte count: the server refuses those itself) and
    whether the body comes in chunks of undeclared total size."""
    declared, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length" and value.strip().isdigit():
            declared = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return declared, chunked
