"""Prediction and segment generators on in-memory bundles with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import Event, Incident
from rca.generators import get_generator
from tests.builders import T0
from tests.hist_builders import incident

N = 20000


def _predictions(seed, *, new_version=False, flip=False, late_labels=False, mix=False, labels=True, local=False):
    rng = np.random.default_rng(seed)
    ts = T0 + pd.to_timedelta(np.sort(rng.uniform(0, 38 * 3600, N)), unit="s")
    cur = np.asarray(ts >= T0 + pd.Timedelta(hours=32))
    p_mobile = np.where(cur & mix, 0.6, 0.2)
    device = np.where(rng.uniform(size=N) < p_mobile, "mobile", "web")
    noise = np.where(device == "mobile", 3.0, 1.0)  # the model is weak on mobile
    noise = np.where(cur & local & (device == "mobile"), 8.0, noise)  # ... and worse there now (same traffic)
    y = rng.integers(0, 2, N).astype(float)
    logit = (2 * y - 1) * 1.5 + rng.normal(size=N) * noise
    version = np.where(cur & new_version, "v2", "v1")
    logit = np.where(version == "v2", rng.normal(size=N), logit)  # v2 ignores the signal
    score = 1 / (1 + np.exp(-logit))
    if flip:
        y = np.where(cur & (rng.uniform(size=N) < 0.4), 1 - y, y)
    if late_labels:
        y = np.where(cur & np.asarray(ts >= T0 + pd.Timedelta(hours=35)), np.nan, y)
    frame = {"timestamp": ts, "model_version": pd.Categorical(version), "score": score, "country": "US",
             "device": pd.Categorical(device)}
    if labels:
        frame["label"] = y
    return pd.DataFrame(frame)


def _bundle(frame, events=()):
    return Bundle(incident=incident(), predictions=frame, events=tuple(Event.model_validate(e) for e in events))


def _keys(cands):
    return {(h.node, str(h.kind)) for h in cands.hypotheses}


def test_stable_predictions_give_nothing():
    b = _bundle(_predictions(0))
    assert _keys(get_generator("predictions").generate(b)) == set()
    assert _keys(get_generator("segments").generate(b)) == set()


def test_new_worse_version_is_model_regression():
    cands = get_generator("predictions").generate(_bundle(_predictions(1, new_version=True)))
    regressions = [h for h in cands.hypotheses if h.kind == "model_regression"]
    assert [h.node for h in regressions] == ["model:fraud-scorer@v2"]
    assert regressions[0].features["pred.version_new"] == 1.0
    assert regressions[0].features["pred.version_auc_drop"] > 0.2
    assert any(a.node == "model:fraud-scorer@v2" for a in cands.anomalies)


def test_quality_drop_without_score_shift_is_concept_drift_or_label_issue():
    cands = get_generator("predictions").generate(_bundle(_predictions(2, flip=True)))
    keys = _keys(cands)
    assert ("model:fraud-scorer@v1", "concept_drift") in keys and ("labels:fraud-scorer", "label_issue") in keys
    h = next(h for h in cands.hypotheses if h.kind == "concept_drift")
    assert h.features["pred.auc_drop"] > 0.1 and h.features["pred.score_ks_p_log10"] < 3


def test_late_labels_are_label_issue_with_delay():
    cands = get_generator("predictions").generate(_bundle(_predictions(3, late_labels=True)))
    h = next(h for h in cands.hypotheses if h.kind == "label_issue")
    assert h.features["pred.coverage_drop"] > 0.4 and h.features["pred.label_delay_hours"] == 3.0


def test_labels_not_yet_arrived_while_the_scores_moved_are_no_label_issue():
    """Labels come late in every production system: none has arrived for the current window yet. With the scores
    shifted too (an input drift moved them), the model changed, and the missing labels were ranked first as a
    label_issue (1.00) over the drift; the contract's label_issue is "the metric fell, the model did not"."""
    frame = _predictions(3)
    cur = (frame["timestamp"] >= T0 + pd.Timedelta(hours=32)).to_numpy()
    frame.loc[cur, "label"] = np.nan
    held = get_generator("predictions").generate(_bundle(frame))
    assert ("labels:fraud-scorer", "label_issue") in _keys(held)            # the scores held: the labels are late
    frame.loc[cur, "score"] = np.sqrt(frame.loc[cur, "score"])
    moved = get_generator("predictions").generate(_bundle(frame))
    assert moved.anomalies and ("labels:fraud-scorer", "label_issue") not in _keys(moved)   # the scores did move


def test_mix_shift_toward_weak_segment_is_segment_shift():
    cands = get_generator("segments").generate(_bundle(_predictions(4, mix=True)))
    assert _keys(cands) == {("segment:device=mobile", "segment_shift")}
    h = cands.hypotheses[0]
    assert h.features["seg.explanatory_power"] > 0.5 and h.features["seg.share_ratio"] > 2


def test_quality_drop_inside_a_segment_is_not_a_mix_shift():
    # Mobile explains all of the loss increase, but its traffic share did not move: not a segment_shift.
    b = _bundle(_predictions(6, local=True))
    assert ("model:fraud-scorer@v1", "concept_drift") in _keys(get_generator("predictions").generate(b))
    assert _keys(get_generator("segments").generate(b)) == set()


def test_a_column_that_follows_time_is_not_a_segment():
    # A date partition (Spark's predictions.parquet/dt=.../) or a batch id: each value holds a stretch of time of
    # its own, so the newest one 'gains' all the current window's traffic. Read as a segment it was ranked first.
    frame = _predictions(4, mix=True)
    frame["dt"] = frame["timestamp"].dt.strftime("%Y-%m-%d")          # the windows straddle midnight: one date shared
    frame["batch"] = (frame["timestamp"] - T0) // pd.Timedelta(hours=5)
    b = _bundle(frame)
    assert frame["dt"].nunique() >= 2 and b.time_keys == ["dt", "batch"]
    assert b.segment_columns == ["country", "device"]
    assert _keys(get_generator("segments").generate(b)) == {("segment:device=mobile", "segment_shift")}


def test_two_values_in_turn_are_a_segment_unless_they_are_dates():
    # a failover (one region all baseline, another all current) and a value seen once, last: segments still
    frame = _predictions(4)
    late = (frame["timestamp"] >= T0 + pd.Timedelta(hours=32)).to_numpy()
    frame["region"] = np.where(late, "eu-west", "us-east")
    frame["tier"] = "gold"
    frame.loc[frame.index[-1], "tier"] = "silver"
    frame["day"] = np.where(late, "2026-11-21", "2026-11-20")          # a date partition of two days
    b = _bundle(frame)
    assert b.time_keys == ["day"] and {"region", "tier"} <= set(b.segment_columns)


def test_segments_without_labels_use_traffic_share():
    cands = get_generator("segments").generate(_bundle(_predictions(5, mix=True, labels=False)))
    assert ("segment:device=mobile", "segment_shift") in _keys(cands)


def test_a_threshold_that_is_not_a_number_falls_back_to_the_default():
    # incident.json keeps any extra field: a null or text "threshold" is a valid bundle, ranked with 0.5.
    frame = _predictions(2, flip=True)
    expected = get_generator("predictions").generate(_bundle(frame))
    for threshold in (None, "high", [0.7], {"value": 0.7}, "nan"):
        inc = Incident.model_validate(incident().model_dump(mode="json") | {"threshold": threshold})
        bundle = Bundle(incident=inc, predictions=frame)
        got = get_generator("predictions").generate(bundle)
        assert [h.features for h in got.hypotheses] == [h.features for h in expected.hypotheses], threshold


def test_a_column_that_is_a_function_of_the_score_is_not_a_segment():
    # A predicted class or a score bucket (SageMaker's capture, a team's own export): each value holds a score
    # range of its own, so the class the model predicts more often now 'gained' traffic and was named as a
    # segment shift of the model's own making.
    frame = _predictions(1, new_version=True)
    frame["predicted_label"] = np.where(frame["score"] >= 0.5, "yes", "no")
    frame["score_bucket"] = pd.cut(frame["score"], [0, 0.2, 0.8, 1], labels=["low", "mid", "high"]).astype(str)
    b = _bundle(frame)
    assert b.score_keys == ["predicted_label", "score_bucket"] and b.segment_columns == ["country", "device"]
    assert not any("predicted_label" in n or "score_bucket" in n for n, _ in _keys(get_generator("segments")
                                                                                   .generate(b)))


def test_a_rare_value_at_the_extreme_score_keeps_its_dimension_a_segment():
    frame = _predictions(4, mix=True)
    frame["kiosk"] = "no"
    frame.loc[frame["score"].idxmax(), "kiosk"] = "yes"    # one row, the highest score: apart, and meaningless
    b = _bundle(frame)
    assert b.score_keys == [] and "kiosk" in b.segment_columns


def test_a_missing_dimension_value_is_never_a_segment_shift():
    # Labels in a column the contract does not name (`ground_truth`) are a dimension; the late ones are missing
    # in the current window, and '<null>' gained its share: it was ranked first, at 1.00.
    frame = _predictions(3, late_labels=True)
    frame["ground_truth"] = frame.pop("label").map({0.0: "0", 1.0: "1"})
    cands = get_generator("segments").generate(_bundle(frame))
    assert not any(n.endswith("=<null>") for n, _ in _keys(cands))
    # the missing rows still count in the shares: the shift toward mobile is still found beside them
    frame = _predictions(4, mix=True)
    frame["channel"] = np.where(frame["timestamp"] >= T0 + pd.Timedelta(hours=32), None, "app")
    frame.loc[frame.index[:100], "channel"] = "web"
    assert _keys(get_generator("segments").generate(_bundle(frame))) == {("segment:device=mobile", "segment_shift")}


def test_any_event_on_a_model_version_deploys_it():
    """An MLflow stage transition or a SageMaker endpoint update on `model:fraud-scorer@v2`: only `model_deploy`
    counted, so a version already serving in the baseline was not linked to its promotion."""
    frame = _predictions(1, new_version=True)
    frame["model_version"] = frame["model_version"].astype(str)
    frame.loc[frame.index[:50], "model_version"] = "v2"           # a canary: v2 served in the baseline too
    for kind in ("model_deploy", "model_version_transition", "endpoint_update"):
        event = {"timestamp": "2026-11-20T07:55:00Z", "kind": kind, "target": "model:fraud-scorer@v2"}
        h = next(h for h in get_generator("predictions").generate(_bundle(frame, [event])).hypotheses
                 if h.kind == "model_regression")
        assert h.node == "model:fraud-scorer@v2" and h.features["pred.version_deployed"] == 1.0, kind
