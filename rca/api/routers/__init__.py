"""One router per resource; `ROUTERS` is the one place they are collected."""

from rca.api.routers import health, incidents, keys, queue, rankers, reviews

ROUTERS = [health.router, incidents.router, reviews.router, queue.router, rankers.router, keys.router]
