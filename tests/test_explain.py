"""The one sentence per cause: the change event it names is the one in its evidence."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pandas as pd

from rca.contract import load_bundle
from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind, Evidence
from rca.generators.base import Hypothesis
from rca.ranking.explain import explain
from rca.ranking.registry import packaged_champion
from rca.service import analyze
from tests.hist_builders import incident

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


def test_the_sentence_quotes_the_test_of_its_kind_not_the_largest_number():
    """A feature half null in the current window: its hypotheses share its evidence, and the sentence quoted the
    largest value, a Wasserstein distance in the feature's units (2.26e+03 in cents) of an insignificant shift."""
    evidence = [Evidence(signal="feature_samples", test="ks", value=0.01, p_value=0.39),
                Evidence(signal="feature_samples", test="wasserstein", value=2260.0, detail="in feature units"),
                Evidence(signal="feature_samples", test="null_rate", value=0.5, baseline=0.0, current=0.5,
                         p_value=1e-300)]
    bundle, row = Bundle(incident=incident()), pd.Series(dtype=float)

    def sentence(kind):
        h = Hypothesis(node="feature:monthly_spend", kind=kind, generator="samples", score=50.0, evidence=evidence)
        return explain(h, row, bundle, nx.DiGraph())

    assert sentence(CauseKind.MISSING_VALUES) == ("feature:monthly_spend (missing_values): feature_samples null_rate "
                                                  "= 0.5 (0 -> 0.5)")
    assert "wasserstein = 2.26e+03" in sentence(CauseKind.DEPENDENCY_ERRORS)   # no test of its own: the largest
