"""The OpenAPI document, rendered for ``schemas/openapi.json`` (`rca schemas` writes it, a test checks it)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from rca.api.deps import admitted
from rca.config import Settings
from rca.store.models import Role

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "an API key (`rca keys create`, or POST /v1/keys as admin)"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the same key, another header"},
}


def document_auth(app: FastAPI, routers: list[APIRouter]) -> None:
    """Have ``app``'s OpenAPI document say how to authenticate and who may call each operation of ``routers``
    (included in ``app`` as they are).

    Each operation behind a key (a `rca.api.deps.require` dependency) gets ``security`` (either header) and a
    last line naming the roles admitted; the key check itself stays in `require`, which gives our own 401 and
    403 messages (FastAPI's security classes would answer with theirs)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for route in (route for router in routers for route in router.routes):
                roles = _roles(route)
                if roles is None or not route.include_in_schema:
                    continue
                for method in route.methods:
                    operation = schema["paths"][route.path_format][method.lower()]
                    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
                    names = [r.value for r in admitted(roles)]
                    needs = " or ".join(filter(None, (", ".join(names[:-1]), names[-1])))
                    operation["description"] = "\n\n".join(
                        filter(None, (operation.get("description"), f"Needs an API key of role {needs}.")))
        return app.openapi_schema

    app.openapi = openapi


def _roles(route) -> tuple[Role, ...] | None:
    """The roles the route's key check admits; None for a route without one."""
    if not isinstance(route, APIRoute):
        return None
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        roles = getattr(dependant.call, "roles", None)
        if roles is not None:
            return roles
        pending.extend(dependant.dependencies)
    return None


def render_openapi() -> str:
    from rca.api.app import create_app

    app = create_app(Settings(), migrate=False)  # building the spec touches neither the store nor the disk
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
