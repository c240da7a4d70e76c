"""The HTTP API of the review service (FastAPI); `create_app` is the one entry point."""

from rca.api.app import create_app

__all__ = ["create_app"]
