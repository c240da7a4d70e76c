"""The OpenAPI document, rendered for ``schemas/openapi.json`` (`rca schemas` writes it, a test checks it)."""

from __future__ import annotations

import json

from rca.config import Settings


def render_openapi() -> str:
    from rca.api.app import create_app

    app = create_app(Settings(), migrate=False)  # building the spec touches neither the store nor the disk
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
