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


def test_the_sentence_never_quotes_evidence_that_points_away_from_its_kind():
    """A label issue quoted "auc = 0.845 (0.818 -> 0.845)", the largest number, where the AUC rose; a segment
    "explanatory_power (48.9 -> 30.4)". The kind's own test that points its way is quoted."""
    bundle, row = Bundle(incident=incident()), pd.Series(dtype=float)
    ks = Evidence(signal="predictions", test="ks", value=0.02, p_value=0.2)
    coverage = Evidence(signal="predictions", test="label_coverage", value=0.62, baseline=1.0, current=0.38,
                        p_value=1e-30)
    loss = Evidence(signal="predictions", test="log_loss", value=0.39, baseline=0.40, current=0.39, p_value=0.9)
    auc = Evidence(signal="predictions", test="auc", value=0.845, baseline=0.818, current=0.845)
    deploy = Evidence(signal="events", test="time_to_onset", value=-8.63, detail="model_deploy on model:m@v2")

    def sentence(kind, evidence, node="labels:fraud-scorer"):
        h = Hypothesis(node=node, kind=kind, generator="predictions", score=5.0, evidence=evidence)
        return explain(h, row, bundle, nx.DiGraph())

    assert "label_coverage = 0.62 (1 -> 0.38)" in sentence(CauseKind.LABEL_ISSUE, [ks, coverage, loss, auc])
    # nothing of the kind's points its way: a test of no direction is quoted, not the AUC that rose
    assert "ks = 0.02" in sentence(CauseKind.LABEL_ISSUE, [ks, loss, auc])
    worse = loss.model_copy(update={"value": 0.52, "current": 0.52, "p_value": 1e-9})
    assert "log_loss = 0.52 (0.4 -> 0.52)" in sentence(CauseKind.MODEL_REGRESSION, [deploy, ks, worse, auc])
    assert "log_loss = 0.52" in sentence(CauseKind.CONCEPT_DRIFT, [ks, coverage, worse, auc])
    share = Evidence(signal="predictions", test="share", value=0.2, baseline=0.1, current=0.3, p_value=1e-12)
    power = Evidence(signal="predictions", test="explanatory_power", value=-31.3, baseline=48.9, current=30.4)
    assert "share = 0.2 (0.1 -> 0.3)" in sentence(CauseKind.SEGMENT_SHIFT, [share, power], node="segment:c=BR")
    assert "explanatory_power" not in sentence(CauseKind.SEGMENT_SHIFT, [power, deploy], node="segment:c=BR")
