"""End to end in headless Chromium: sign in, open the queue, open an incident, confirm a cause, and find the
review in the store. Debian's /usr/bin/chromium (installed by the test setup when missing), driven by
Playwright; screenshots of each step land in test-artifacts/console/."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from rca.config import Settings
from rca.store import queries
from rca.store.db import dispose_engine, session_scope
from rca.store.keys import create_api_key
from rca.store.models import Role
from tests.console.chromium import CHROMIUM_ARGS, ensure_chromium
from tests.console.incident import incident_body

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"


@pytest.fixture(scope="session")
def chromium() -> Path:
    try:
        return ensure_chromium()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"the browser test needs Debian's chromium: {exc}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    """The real app under uvicorn on 127.0.0.1 (SQLite in tmp), in a thread; yields (base url, settings)."""
    import uvicorn

    from rca.api import create_app

    settings = Settings(data_dir=tmp_path / "var", corpus_dir=tmp_path / "corpus", analysis_budget=30.0)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        server.should_exit = True
        thread.join(15)
        dispose_engine(settings.resolved_database_url)


def test_reviewer_confirms_a_cause_in_the_browser(chromium, server):
    from playwright.sync_api import expect, sync_playwright

    base, settings = server
    with session_scope(settings.resolved_database_url) as s:
        reviewer = create_api_key(s, name="dana", role=Role.reviewer).key
        trigger = create_api_key(s, name="alerts", role=Role.trigger).key
    answer = httpx.post(f"{base}/v1/incidents", json=incident_body(), timeout=60,
                        headers={"Authorization": f"Bearer {trigger}"})
    assert answer.status_code == 201, answer.text
    top = answer.json()["answer"]["causes"][0]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(10_000)
        try:
            page.goto(base + "/")
            expect(page).to_have_url(base + "/signin")
            page.fill("#key", "rca_0000_wrong")
            page.click("button[type=submit]")
            expect(page.get_by_role("alert")).to_contain_text("unknown or revoked API key")
            page.screenshot(path=str(ARTIFACTS / "1-signin-error.png"))

            page.fill("#key", reviewer)
            page.click("button[type=submit]")
            expect(page).to_have_url(base + "/")
            expect(page.locator("#queue")).to_contain_text("inc-amount-units")
            page.screenshot(path=str(ARTIFACTS / "2-queue.png"), full_page=True)

            page.click("#queue a:text('inc-amount-units')")
            expect(page.locator("h1")).to_contain_text("inc-amount-units")
            expect(page.locator("#cause-1 .node")).to_have_text(top["node"])
            charts = page.locator(".charts img")
            assert charts.count() >= 3
            for i in range(charts.count()):  # every chart loaded as an image (an SVG that rendered)
                charts.nth(i).scroll_into_view_if_needed()
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=charts.nth(i)
                                       .element_handle())
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(ARTIFACTS / "3-incident.png"), full_page=True)

            page.click("#cause-1 button[data-verdict=confirm]")
            expect(page.locator("#review-ok")).to_contain_text("confirm")
            expect(page.locator("#history")).to_contain_text("dana")
            expect(page.locator("#cause-1 .badge.ok")).to_have_text("confirmed")
            page.screenshot(path=str(ARTIFACTS / "4-confirmed.png"), full_page=True)
        finally:
            browser.close()

    with session_scope(settings.resolved_database_url) as s:
        reviews = queries.list_reviews(s, incident_id="inc-amount-units")
    assert [(r.reviewer, r.verdict.value, r.node, r.kind) for r in reviews] == [
        ("dana", "confirm", top["node"], top["kind"])]
