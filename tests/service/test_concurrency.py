"""20 clients posting 50 reviews each at once, over HTTP to a real uvicorn server: none is lost."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from sqlalchemy import func
from sqlmodel import select

from rca.api import create_app
from rca.store.db import session_scope
from rca.store.models import ReviewRecord, Role
from tests.service.bundles import bundle_dir, inline
from tests.service.conftest import create_key

CLIENTS, REVIEWS = 20, 50


class LiveServer:
    def __init__(self, app) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@pytest.mark.slow
def test_concurrent_reviews_are_all_stored(settings, stub_ranker, tmp_path):
    app = create_app(settings)
    with LiveServer(app) as base:
        trigger = {"Authorization": "Bearer " + create_key(settings, "bot", Role.trigger)}
        r = httpx.post(f"{base}/v1/incidents", content=json.dumps(inline(bundle_dir(tmp_path, incident_id="inc-c"))),
                       headers={**trigger, "Content-Type": "application/json"}, timeout=60)
        assert r.status_code == 201, r.text
        keys = [create_key(settings, f"reviewer-{i}", Role.reviewer) for i in range(CLIENTS)]

        def client(i: int) -> list[int]:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {keys[i]}"}, timeout=120) as c:
                return [c.post("/v1/incidents/inc-c/reviews", json={
                    "verdict": "confirm" if j % 2 else "reject", "rank": 1 + j % 3, "comment": f"{i}/{j}"}
                ).status_code for j in range(REVIEWS)]

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for batch in pool.map(client, range(CLIENTS)) for s in batch]
        seconds = time.perf_counter() - started
    assert statuses.count(201) == CLIENTS * REVIEWS, {s: statuses.count(s) for s in set(statuses)}
    with session_scope(settings.resolved_database_url) as s:
        stored = s.exec(select(func.count()).select_from(ReviewRecord)).one()
        comments = set(s.exec(select(ReviewRecord.comment)))
    assert stored == CLIENTS * REVIEWS
    assert comments == {f"{i}/{j}" for i in range(CLIENTS) for j in range(REVIEWS)}
    print(f"\n{settings.resolved_database_url.split(':')[0]}: {stored} reviews from {CLIENTS} clients "
          f"in {seconds:.2f} s ({stored / seconds:.0f}/s)")
