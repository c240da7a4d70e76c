"""The console's pages through TestClient: sign-in errors, the queue, reviews through record_review, the
form token, readable errors instead of 500s, charts behind the cookie."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from rca.console.routes import COOKIE
from tests.builders import add_current_trace
from tests.service.bundles import bundle_dir, inline, tar_gz


def _key(headers: dict) -> str:
    return headers["Authorization"].split(" ", 1)[1]


@pytest.fixture
def incident(client, keys, tmp_path):
    r = client.post("/v1/incidents", json=inline(bundle_dir(tmp_path, incident_id="inc-c1", symptom="kpi:0.4")),
                    headers=keys["trigger"])
    assert r.status_code == 201
    return "inc-c1"


def _signin(client, keys, role="reviewer"):
    r = client.post("/signin", data={"key": _key(keys[role])}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    return r


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


def test_signin_rejects_unknown_and_trigger_keys_readably(client, keys):
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"
    r = client.post("/signin", data={"key": "rca_abc_nope"})
    assert r.status_code == 401 and "unknown or revoked API key" in r.text and COOKIE not in r.headers.get(
        "set-cookie", "")
    r = client.post("/signin", data={"key": _key(keys["trigger"])})
    assert r.status_code == 403 and "role &#39;trigger&#39; may not do this" in r.text
    assert client.post("/signin", data={}).status_code == 422


def test_queue_lists_unreviewed_incidents(client, keys, incident):
    _signin(client, keys)
    page = client.get("/")
    assert page.status_code == 200
    queue = page.text.split('id="queue"')[1].split("</table>")[0]
    assert 'href="/incidents/inc-c1"' in queue and "feature:amount" in queue and "40%" in queue
    assert '<span class="kind">data drift</span>' in queue     # as the incident page writes a kind


def test_confirm_posts_a_review_under_the_key_name(client, keys, incident):
    _signin(client, keys)
    token = _csrf(client.get(f"/incidents/{incident}").text)
    r = client.post(f"/incidents/{incident}/reviews", data={"csrf": token, "verdict": "confirm", "rank": "2"},
                    follow_redirects=False)
    assert r.status_code == 303
    stored = client.get(f"/v1/incidents/{incident}/reviews", headers=keys["reviewer"]).json()
    assert [(s["reviewer"], s["verdict"], s["node"]) for s in stored] == [("reviewer-1", "confirm", "service:api")]
    assert "Nothing to review" in client.get("/").text  # the queue holds unreviewed incidents only


def test_review_needs_the_form_token_of_this_key(client, keys, incident):
    _signin(client, keys)
    for data in ({"verdict": "confirm", "rank": "1"}, {"verdict": "confirm", "rank": "1", "csrf": "0" * 64},
                 {"verdict": "confirm", "rank": "1", "csrf": "é" * 64}):   # not ASCII: compare_digest's TypeError
        r = client.post(f"/incidents/{incident}/reviews", data=data)
        assert r.status_code == 403 and "stale" in r.text
    assert client.get(f"/v1/incidents/{incident}/reviews", headers=keys["reviewer"]).json() == []
    r = client.post("/signout", data={"csrf": "é"}, follow_redirects=False)
    assert r.status_code == 403 and "stale" in r.text
    assert client.get("/", follow_redirects=False).status_code == 200   # still signed in


@pytest.mark.parametrize("data, status, message", [
    ({"verdict": "confirm", "rank": "9"}, 422, "rank 9 is beyond the 3 ranked causes"),
    ({"verdict": "maybe", "rank": "1"}, 422, "verdict: Input should be"),
    ({"verdict": "name_cause", "node": "service:api", "kind": "data_drift"}, 422, "expected a node"),
    ({"verdict": "name_cause", "node": "feature:x", "kind": "nonsense"}, 422, "kind: Input should be"),
    ({"verdict": "name_cause", "node": "feature:amout", "kind": "data_drift"}, 422,
     "node: 'feature:amout' is not a node of this incident's bundle"),
    ({"verdict": "confirm", "rank": "x"}, 422, "rank: Input should be a valid integer"),
])
def test_bad_reviews_show_a_readable_error(client, keys, incident, data, status, message):
    _signin(client, keys)
    token = _csrf(client.get(f"/incidents/{incident}").text)
    r = client.post(f"/incidents/{incident}/reviews", data={**data, "csrf": token})
    assert r.status_code == status and "Review not recorded" in r.text
    assert message in r.text.replace("&#39;", "'")


def test_a_cause_named_by_mistake_is_withdrawn_from_the_page(client, keys, incident):
    _signin(client, keys)
    token = _csrf(client.get(f"/incidents/{incident}").text)
    named = {"node": "feature:country", "kind": "schema_change"}
    r = client.post(f"/incidents/{incident}/reviews", data={"csrf": token, "verdict": "name_cause", **named},
                    follow_redirects=False)
    assert r.status_code == 303
    section = client.get(f"/incidents/{incident}").text.split('id="named"')[1].split("</ul>")[0]
    assert '<input type="hidden" name="verdict" value="reject">' in section
    assert '<input type="hidden" name="node" value="feature:country">' in section
    r = client.post(f"/incidents/{incident}/reviews", data={"csrf": token, "verdict": "reject", **named},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/v1/incidents/{incident}", headers=keys["reviewer"]).json()["confirmed"] == []
    assert 'id="named"' not in client.get(f"/incidents/{incident}").text


def test_the_incident_page_names_a_misnamed_key_it_did_not_read(client, keys, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-unread"))
    body["kpi"] = body.pop("kpis")
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    _signin(client, keys)
    page = client.get("/incidents/inc-unread").text
    assert ('<p class="alert warn unread">kpi was not read (a bundle file is named kpis): the causes were ranked '
            'without its data.</p>') in page


def test_the_name_cause_form_suggests_the_bundles_nodes(client, keys, incident):
    _signin(client, keys)
    form = client.get(f"/incidents/{incident}").text.split('id="name-cause"')[1].split("</form>")[0]
    datalist = form.split('<datalist id="bundle-nodes">')[1].split("</datalist>")[0]
    suggested = re.findall(r'<option value="([^"]+)">', datalist)
    assert "feature:amount" in suggested and "service:api" in suggested and "segment:country=US" in suggested
    assert suggested == sorted(suggested) and 'list="bundle-nodes"' in form


def test_unknown_incident_and_chart_are_404_pages(client, keys, incident):
    _signin(client, keys)
    assert client.get("/incidents/nope").status_code == 404
    assert client.get(f"/incidents/{incident}/charts/nope.svg").status_code == 404
    r = client.get(f"/incidents/{incident}/charts/kpi.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml" and "<svg" in r.text


def test_a_deleted_incident_is_a_404_page_though_its_bundle_was_cached(client, keys, incident):
    _signin(client, keys)
    assert client.get(f"/incidents/{incident}/charts/kpi.svg").status_code == 200   # the bundle is in the cache
    assert client.delete(f"/v1/incidents/{incident}", headers=keys["admin"]).status_code == 204
    page = client.get(f"/incidents/{incident}")
    assert page.status_code == 404 and f"no incident &#39;{incident}&#39;" in page.text
    for address in (f"/incidents/{incident}/charts/kpi.svg", f"/incidents/{incident}/why?node=service:api"):
        assert client.get(address).status_code == 404
    assert f'href="/incidents/{incident}"' not in client.get("/").text


def test_charts_and_pages_need_the_cookie(client, keys, incident):
    r = client.get(f"/incidents/{incident}/charts/kpi.svg", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    client.cookies.set(COOKIE, "rca_abc_revoked")
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?error=revoked"


def test_the_incident_page_names_the_services_whose_metrics_had_no_baseline(client, keys, tmp_path, incident):
    _signin(client, keys)
    assert 'id="uncompared"' not in client.get(f"/incidents/{incident}").text   # every series had its baseline
    body = inline(bundle_dir(tmp_path, incident_id="inc-new", symptom="kpi:0.4"))
    current = [dict(row) for row in body["metrics"] if row["timestamp"] >= "2026-11-20T08:00:00"]
    body["metrics"] += [{**row, "service": "search"} for row in current]
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    answer = client.get("/v1/incidents/inc-new", headers=keys["trigger"]).json()["answer"]
    assert answer["not_compared"] == [{"node": "service:search", "series": [current[0]["name"]]}]
    line = client.get("/incidents/inc-new").text.split('id="uncompared"')[1].split("</p>")[0]
    assert line.endswith("Not compared (too few baseline points): 1 metric series of 1 service: "
                         f'<code title="{current[0]["name"]}">search</code>')


def test_the_incident_page_and_the_api_name_the_families_with_no_data_in_a_window(client, keys, tmp_path):
    body = inline(add_current_trace(bundle_dir(tmp_path, incident_id="inc-all", symptom="kpi:0.4")))
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    assert client.get("/v1/incidents/inc-all", headers=keys["trigger"]).json()["answer"]["empty_windows"] == []
    _signin(client, keys)
    assert 'id="empty-windows"' not in client.get("/incidents/inc-all").text    # every family had both windows
    body = inline(bundle_dir(tmp_path, incident_id="inc-gap", symptom="kpi:0.4"))   # its spans: baseline only
    body["metrics"] = [row for row in body["metrics"] if row["timestamp"] < "2026-11-20T08:00:00"]
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    answer = client.get("/v1/incidents/inc-gap", headers=keys["trigger"]).json()["answer"]
    assert answer["empty_windows"] == [{"family": "traces", "window": "current"},
                                       {"family": "metrics", "window": "current"}]
    line = client.get("/incidents/inc-gap").text.split('id="empty-windows"')[1].split("</p>")[0]
    assert line.split(">", 1)[1] == ("No current-window data: <code>traces</code>, <code>metrics</code> (nothing to "
                                     "compare: check the windows or the collection)")


def test_the_incident_page_and_the_api_name_a_generator_that_failed(client, keys, tmp_path, monkeypatch):
    """The incident used to fail with no answer at all ('internal error: KeyError: 0')."""
    from rca.generators.metrics import MetricsGenerator

    def boom(self, bundle):
        raise KeyError(0)

    monkeypatch.setattr(MetricsGenerator, "generate", boom)
    body = inline(bundle_dir(tmp_path, incident_id="inc-bug", symptom="kpi:0.4"))
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    got = client.get("/v1/incidents/inc-bug", headers=keys["trigger"]).json()
    assert got["status"] == "done" and got["answer"]["generator_errors"] == [{"generator": "metrics",
                                                                              "error": "KeyError: 0"}]
    _signin(client, keys)
    assert ("The metrics generator failed on this bundle (KeyError: 0): the causes were ranked without it."
            in client.get("/incidents/inc-bug").text)


def test_the_incident_page_shows_the_signals_the_bundle_had_and_lacked(client, keys, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-sig", symptom="kpi:0.4"))
    del body["metrics"]
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    _signin(client, keys)
    line = client.get("/incidents/inc-sig").text.split('id="families"')[1].split("</p>")[0]
    assert '<span class="family present">predictions</span>' in line
    assert '<span class="family absent" title="not sent: causes only metrics would show' in line
    assert '<span class="family absent" title="not sent: causes only feature samples would show' in line
    assert '<span class="family present">kpis</span>' in line


def test_the_why_page_splits_a_causes_score_gap_or_says_why_it_cannot(client, keys, monkeypatch):
    from rca.contract import load_bundle
    from rca.ranking.registry import packaged_champion
    from rca.service import analyze

    example = Path(__file__).resolve().parents[2] / "examples" / "feature-store-outage"
    r = client.post("/v1/incidents", content=tar_gz(example),
                    headers={**keys["trigger"], "Content-Type": "application/gzip"})
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    _signin(client, keys)
    page = client.get(f"/incidents/{incident}").text
    assert f'href="/incidents/{incident}/why?node=service%3Aapi&amp;kind=dependency_latency"' in page
    r = client.get(f"/incidents/{incident}/why", params={"node": "service:api"})    # the stub ranker: no parts
    assert r.status_code == 422 and "does not split its scores into feature contributions" in r.text
    champion = packaged_champion()
    monkeypatch.setattr("rca.service.get_ranker", lambda settings=None: champion)
    third = analyze(load_bundle(example), ranker=champion).causes[2]
    r = client.get(f"/incidents/{incident}/why", params={"node": third.node, "kind": third.kind.value})
    assert r.status_code == 200, r.text
    title = r.text.split("<h1>")[1].split("</h1>")[0]
    assert third.node in title and "ranks #3" in title and "below" in title and "(#1)" in title
    first = analyze(load_bundle(example), ranker=champion).causes[0]
    sides = r.text.split('id="gap"')[1].split("</p>")[0]   # the node alone is ambiguous: one node, two kinds
    assert (f"raises <code>{third.node}</code> ({third.kind.value.replace('_', ' ')}), to the left raises "
            f"<code>{first.node}</code> ({first.kind.value.replace('_', ' ')})") in " ".join(sides.split())
    assert r.text.count('<span class="part"') == 8 and 'id="other-ranker"' in r.text   # stored by the stub
    causes = analyze(load_bundle(example), ranker=champion).causes    # another to compare with: was ignored
    other = next(c for c in causes if c.node not in (first.node, third.node))
    for versus in ({"versus": other.node}, {"versus": first.node, "versus_kind": causes[1].kind.value}):
        r = client.get(f"/incidents/{incident}/why", params={"node": third.node, "kind": third.kind.value, **versus})
        title = r.text.split("<h1>")[1].split("</h1>")[0]
        rank = other.rank if "versus_kind" not in versus else 2
        assert r.status_code == 200 and "ranks #3" in title and f"{versus['versus']}</code>" in title, title
        assert f"(#{rank})" in title
    assert 'name="versus"' in page
    r = client.get(f"/incidents/{incident}/why", params={"node": "service:nowhere"})
    assert r.status_code == 422 and "no hypothesis names service:nowhere" in r.text
    assert client.get("/incidents/inc-none/why", params={"node": "service:api"}).status_code == 404


def test_signing_in_returns_to_the_page_asked_for(client, keys, incident):
    """A link to an incident (from an alert, a colleague) or a review posted after the key was revoked leads
    through the sign-in page back to that incident, not to the queue; only paths on this site are followed."""
    r = client.get(f"/incidents/{incident}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/signin?next=%2Fincidents%2F{incident}"
    page = client.get(r.headers["location"]).text
    assert f'<input type="hidden" name="next" value="/incidents/{incident}">' in page
    r = client.post("/signin", data={"key": "rca_abc_nope", "next": f"/incidents/{incident}"})
    assert r.status_code == 401 and f'name="next" value="/incidents/{incident}"' in r.text   # kept on an error
    r = client.post("/signin", data={"key": _key(keys["reviewer"]), "next": f"/incidents/{incident}"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{incident}"
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example",
                      "/\n/evil.example", "/x\\..\\\\evil.example"):
        r = client.post("/signin", data={"key": _key(keys["reviewer"]), "next": elsewhere}, follow_redirects=False)
        assert r.headers["location"] == "/"
    client.cookies.clear()
    client.cookies.set(COOKIE, "rca_abc_revoked")
    r = client.post(f"/incidents/{incident}/reviews", data={"verdict": "confirm", "rank": "1"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"&next=%2Fincidents%2F{incident}")
    client.cookies.set(COOKIE, "rca_abc_revoked")
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin?error=revoked"
    assert "this API key is unknown or was revoked" in client.get("/signin?error=revoked").text


def test_long_ids_and_node_names_wrap_instead_of_widening_the_page(client):
    """An incident id, model or node name of 100+ characters without a space made the queue 2.7k pixels wide
    and pushed the incident page's causes under the charts: the stylesheet lets them break anywhere."""
    css = re.sub(r"/\*.*?\*/", "", client.get("/console.css").text, flags=re.S)
    rules = re.findall(r"([^{}]*)\{\s*overflow-wrap:\s*anywhere;?\s*\}", css)
    selectors = {s.strip() for rule in rules for s in rule.split(",")}
    assert {"code", "h1", ".crumbs", ".facts dd", ".explanation", "table.list td"} <= selectors


def test_every_time_shown_says_it_is_utc(client, keys, monkeypatch):
    """The queue's and recent list's detection times, evidence onsets and the review history's times were
    bare "2026-11-20 14:05" (only the incident page's detection time said UTC): a reviewer could not tell
    them from local time."""
    from rca.ranking.registry import packaged_champion
    from tests.console.incident import incident_body

    champion = packaged_champion()   # the stub ranker's causes have no evidence, so no onsets
    monkeypatch.setattr("rca.service.get_ranker", lambda settings=None: champion)

    assert client.post("/v1/incidents", json=incident_body(), headers=keys["trigger"]).status_code == 201
    _signin(client, keys)
    queue = client.get("/").text
    for table in ("queue", "recent"):
        rows = queue.split(f'id="{table}"')[1].split("</table>")[0]
        assert '<time datetime="2026-11-20T14:05:00+00:00">2026-11-20 14:05 UTC</time>' in rows
    page = client.get("/incidents/inc-amount-units").text
    token = _csrf(page)
    onsets = re.findall(r"<td>([^<]*<time[^>]*>[^<]*</time>)</td>", page.split('class="evidence"')[1])
    assert onsets and all(o.endswith(" UTC</time>") for o in onsets)
    assert client.post("/incidents/inc-amount-units/reviews", data={"csrf": token, "verdict": "confirm",
                                                                    "rank": "1"}).status_code == 200
    history = client.get("/incidents/inc-amount-units").text.split('id="history"')[1].split("</table>")[0]
    assert re.search(r"<td><time datetime=\"[^\"]+\+00:00\">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time></td>", history)


def test_older_incidents_are_reachable_and_a_full_queue_says_so(client, keys, tmp_path, monkeypatch):
    """The front page listed the 30 newest incidents with no way to older ones, and a queue cut at 100 showed
    "100" as if that were all of it."""
    monkeypatch.setattr("rca.console.routes.RECENT_SHOWN", 2)
    monkeypatch.setattr("rca.console.routes.QUEUE_SHOWN", 2)
    for i, conf in enumerate(("0.3", "0.4", "0.5")):
        body = inline(bundle_dir(tmp_path / str(i), incident_id=f"inc-p{i}", symptom=f"kpi:{conf}"))
        assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    _signin(client, keys)
    page = client.get("/").text
    assert '<span class="count">2+</span>' in page and 'id="queue-more"' in page
    recent = page.split('id="recent"')[1].split("</section>")[0]
    assert "inc-p2" in recent and "inc-p1" in recent and "inc-p0" not in recent
    older = re.search(r'<a href="(/\?older=[^"#]+)#recent-incidents" rel="next">Older incidents', recent)
    assert older is not None
    page = client.get(older.group(1).replace("&amp;", "&")).text
    recent = page.split('id="recent"')[1].split("</section>")[0]
    assert "inc-p0" in recent and "inc-p1" not in recent and 'rel="next"' not in recent
    assert '<a href="/#recent-incidents">Newest incidents</a>' in recent
    r = client.get("/", params={"older": "not-a-cursor"})
    assert r.status_code == 400 and "start from the newest" in r.text and 'href="/"' in r.text


def test_a_refused_form_keeps_what_was_typed_and_a_why_error_leads_back(client, keys, incident):
    """A name-the-cause form refused as stale came back empty (node, kind and comment lost); a why page that
    cannot explain a node only linked to the queue, not back to the incident the reviewer came from."""
    _signin(client, keys)
    r = client.post(f"/incidents/{incident}/reviews", data={
        "csrf": "0" * 64, "verdict": "name_cause", "node": "feature:zip", "kind": "data_drift",
        "comment": "checked the zip pipeline by hand"})
    assert r.status_code == 403 and "stale" in r.text
    form = r.text.split('id="name-cause"')[1].split("</form>")[0]
    assert 'value="feature:zip"' in form and '<option value="data_drift" selected>' in form
    assert ">checked the zip pipeline by hand</textarea>" in form
    r = client.get(f"/incidents/{incident}/why", params={"node": "service:nowhere"})
    assert r.status_code == 422 and f'<a href="/incidents/{incident}">Back to incident {incident}</a>' in r.text


def test_addresses_without_a_console_page_answer_with_a_page_not_json(client, keys, incident):
    """A refused review leaves /incidents/{id}/reviews in the address bar; opening it again (or /signout, or a
    mistyped link) showed the API's JSON error with no way back."""
    _signin(client, keys)
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    r = client.get(f"/incidents/{incident}/reviews", headers=html, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{incident}"
    r = client.get("/signout", headers=html, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert client.get("/", follow_redirects=False).status_code == 200   # a visit does not sign out
    r = client.get("/incidnets/inc-c1", headers=html)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "no console page at this address" in r.text and '<a href="/">Back to the review queue</a>' in r.text
    r = client.put(f"/incidents/{incident}", headers=html)
    assert r.status_code == 405 and "allow" in r.headers and 'href="/"' in r.text
    # the API's errors stay JSON, whatever the client accepts
    for path in ("/v1/nope", "/incidnets/inc-c1"):
        r = client.get(path, headers=html if path.startswith("/v1") else {})
        assert r.status_code == 404 and r.json() == {"error": {"message": "Not Found", "field": None}}


def test_each_pieces_detail_has_a_row_of_its_own_across_the_evidence_table(client, keys, monkeypatch):
    """A seventh column left the detail a word wide in the causes column: it is a row under its numbers."""
    from rca.ranking.registry import packaged_champion
    from tests.console.incident import incident_body

    champion = packaged_champion()   # the stub ranker's causes have no evidence
    monkeypatch.setattr("rca.service.get_ranker", lambda settings=None: champion)
    assert client.post("/v1/incidents", json=incident_body(), headers=keys["trigger"]).status_code == 201
    _signin(client, keys)
    answer = client.get("/v1/incidents/inc-amount-units", headers=keys["trigger"]).json()["answer"]
    details = [e["detail"] for e in answer["causes"][0]["evidence"] if e.get("detail")]
    table = client.get("/incidents/inc-amount-units").text.split('class="evidence"')[1].split("</table>")[0]
    headers = re.findall(r"<th>", table.split("</thead>")[0])
    rows = re.findall(r'<tr class="detail"><td colspan="(\d+)">([^<]*)</td></tr>', table)
    assert details and [html.unescape(text) for _, text in rows] == details
    assert {int(span) for span, _ in rows} == {len(headers)}


def test_the_queue_page_lists_the_disputed_incidents(client, keys, incident):
    _signin(client, keys)
    assert 'id="disputed"' not in client.get("/").text
    url = f"/v1/incidents/{incident}/reviews"
    assert client.post(url, json={"verdict": "confirm", "rank": 1}, headers=keys["reviewer"]).status_code == 201
    assert client.post(url, json={"verdict": "reject", "rank": 1}, headers=keys["reviewer2"]).status_code == 201
    section = client.get("/").text.split('id="disputed"')[1].split("</section>")[0]
    assert f'<a href="/incidents/{incident}">{incident}</a>' in section


def test_a_reviewer_withdraws_a_verdict_from_the_page(client, keys, incident):
    _signin(client, keys)
    page = client.get(f"/incidents/{incident}").text
    assert 'data-verdict="withdraw"' not in page                    # nothing of this reviewer's to withdraw yet
    token = _csrf(page)
    page = client.post(f"/incidents/{incident}/reviews", data={"csrf": token, "verdict": "confirm", "rank": "2"}).text
    assert 'data-verdict="withdraw" data-rank="2"' in page and 'data-verdict="withdraw" data-rank="1"' not in page
    assert "reviewer-1: confirm</span>" in page
    page = client.post(f"/incidents/{incident}/reviews", data={"csrf": token, "verdict": "withdraw", "rank": "2"}).text
    assert 'id="review-ok"' in page and 'data-verdict="withdraw"' not in page
    assert "reviewer-1: confirm</span>" not in page                 # a withdrawn verdict is shown no more


def test_the_next_incident_after_a_verdict_is_of_the_same_model_first(client, keys, incident, tmp_path):
    """A team reviewing its own model (/?model=) was sent to another model's incident, the least certain of all."""
    for incident_id, model, symptom in (("inc-other", "churn-model", "kpi:0.1"), ("inc-same", None, "kpi:0.4")):
        body = inline(bundle_dir(tmp_path, incident_id=incident_id, symptom=symptom))
        body["incident"]["model"] = model or body["incident"]["model"]
        assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    _signin(client, keys)
    token = _csrf(client.get(f"/incidents/{incident}").text)
    page = client.post(f"/incidents/{incident}/reviews", data={"csrf": token, "verdict": "reject", "rank": "1"}).text
    assert '<a id="up-next" href="/incidents/inc-same">inc-same</a> (top cause at 40%).' in page
    page = client.post("/incidents/inc-same/reviews", data={"csrf": token, "verdict": "reject", "rank": "1"}).text
    done = page.split('id="review-ok"')[1].split("</p>")[0]
    assert ('<a id="up-next" href="/incidents/inc-other">inc-other</a> (top cause at 30%), an incident of '
            'churn-model.') in done   # none of this model left: the queue's next, said to be another model's


def test_a_recorded_verdict_leads_to_the_next_incident_of_the_queue(client, keys, incident, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-c2", symptom="kpi:0.4"))
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    _signin(client, keys)
    token = _csrf(client.get(f"/incidents/{incident}").text)
    page = client.post(f"/incidents/{incident}/reviews", data={"csrf": token, "verdict": "reject", "rank": "1"}).text
    done = page.split('id="review-ok"')[1].split("</p>")[0]
    assert '<a id="up-next" href="/incidents/inc-c2">inc-c2</a> (top cause at 40%)' in done
    assert 'id="up-next"' not in client.get(f"/incidents/{incident}").text     # only right after a verdict
    page = client.post("/incidents/inc-c2/reviews", data={"csrf": token, "verdict": "confirm", "rank": "1"}).text
    assert "The review queue is empty." in page.split('id="review-ok"')[1]
    # a link alone does not say a verdict was recorded: one this reviewer never gave (the page said it was)
    assert 'id="review-ok"' not in client.get(f"/incidents/{incident}?done=confirm").text
    assert 'id="review-ok"' not in client.get("/incidents/inc-c2?done=name_cause").text


def test_the_sign_in_page_says_only_its_own_messages(client, keys):
    """'/signin?error=Please email your key to ...' showed that text in the page's alert."""
    page = client.get("/signin?error=Please%20email%20your%20key%20to%20evil@example.com").text
    assert "evil@example.com" not in page and 'class="alert error"' not in page
    client.cookies.set(COOKIE, _key(keys["trigger"]))  # a key whose role may not review
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?error=role"
    assert "this API key&#39;s role may not review" in client.get(r.headers["location"]).text


def test_the_queue_and_the_list_show_one_models_incidents_on_asking(client, keys, tmp_path, monkeypatch):
    monkeypatch.setattr("rca.console.routes.RECENT_SHOWN", 1)
    for i, model in enumerate(("fraud-scorer", "churn model", "churn model")):
        body = inline(bundle_dir(tmp_path / str(i), incident_id=f"inc-m{i}", symptom="kpi:0.4"))
        body["incident"]["model"] = model
        assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    _signin(client, keys)
    page = client.get("/").text
    assert '<a href="/?model=churn%20model" title="this model\'s incidents only">churn model</a>' in page
    assert 'id="model-filter"' not in page
    page = client.get("/", params={"model": "churn model"}).text
    queue = page.split('id="queue"')[1].split("</table>")[0]
    assert "inc-m1" in queue and "inc-m2" in queue and "inc-m0" not in queue
    assert '<code>churn model</code> only' in page.split('id="model-filter"')[1]
    recent = page.split('id="recent"')[1].split("</section>")[0]
    older = re.search(r'<a href="(/\?older=[^"#]+)#recent-incidents" rel="next">Older incidents', recent)
    assert "inc-m2" in recent and older is not None and "&amp;model=churn%20model" in older.group(1)
    recent = client.get(html.unescape(older.group(1))).text.split('id="recent"')[1].split("</section>")[0]
    assert "inc-m1" in recent and "inc-m0" not in recent and 'rel="next"' not in recent
    assert '<a href="/?model=churn%20model#recent-incidents">Newest incidents</a>' in recent
    assert "Nothing to review of this model" in client.get("/", params={"model": "nobody"}).text
