"""The one sentence per cause: the change event it names is the one in its evidence."""

from __future__ import annotations

from pathlib import Path

from rca.contract import load_bundle
from rca.ranking.registry import packaged_champion
from rca.service import analyze

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _linked_event(cause) -> str:
    (detail,) = [e.detail for e in cause.evidence if e.signal == "events"]
    kind, rest = detail.split(" on ", 1)      # "<kind> on <target>: <description>"
    return f"{kind} of {rest.split(': ', 1)[0]}"


def test_the_sentence_names_the_event_its_evidence_links_even_inside_a_coarse_onset():
    """unit-change: the schema change shows from the 21:00 histogram bucket, the deploy that caused it is at
    21:54. The latest upstream change before 21:00 was an unrelated backfill 15 hours earlier, which the sentence
    named while the evidence listed the deploy."""
    top = analyze(load_bundle(EXAMPLES / "unit-change"), ranker=packaged_champion()).causes[0]
    assert top.node == "feature:card_balance_30d"
    assert f"with {_linked_event(top)} at 21:54" in top.explanation and "data_backfill" not in top.explanation


def test_an_event_before_the_onset_is_named_with_the_minutes_since():
    top = analyze(load_bundle(EXAMPLES / "feature-store-outage"), ranker=packaged_champion()).causes[0]
    assert f"0 min after {_linked_event(top)};" in top.explanation
