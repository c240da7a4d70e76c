"""The raw-sample generator on hand-built feature tables with known changes, and its statistics vs scipy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rca.contract.load import load_bundle
from rca.generators import get_generator
from rca.stats.distributions import ks_sorted, ks_statistic_groups, ks_statistic_sorted, wasserstein_sorted
from tests.builders import INCIDENT, T0
from tests.sample_builders import bundle, changed_from, normal, samples_frame

CURRENT_START = T0 + pd.Timedelta(hours=32)


# ------------------------------------------------------------------------------------------------ statistics
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_sorted_matches_scipy_asymp_with_ties(seed):
    rng = np.random.default_rng(seed)
    a = np.sort(rng.integers(0, 20, 700).astype(float))
    b = np.sort(rng.integers(2, 22, 300).astype(float))
    want = stats.ks_2samp(a, b, method="asymp")
    got = ks_sorted(a, b)
    assert got.statistic == pytest.approx(want.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert ks_statistic_sorted(b, a) == pytest.approx(want.statistic, abs=1e-12)


def test_wasserstein_sorted_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = np.sort(rng.normal(size=500)), np.sort(rng.exponential(size=200).round(1))
    assert wasserstein_sorted(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)


def test_ks_statistic_groups_matches_scipy_per_group_and_nan_for_empty():
    rng = np.random.default_rng(4)
    ref = np.sort(rng.normal(size=400).round(1))
    x = rng.normal(0.3, 1.2, 600).round(1)
    g = rng.choice([0, 1, 3], 600)
    got = ks_statistic_groups(ref, x, g, 4)
    for k in (0, 1, 3):
        assert got[k] == pytest.approx(stats.ks_2samp(ref, x[g == k]).statistic, abs=1e-12)
    assert np.isnan(got[2])


# ------------------------------------------------------------------------------------------------ generator
def _shift(rng, x, m):
    x[m] += 1.0
    return x


def _nulls(rng, x, m):
    x[m & (rng.uniform(size=x.size) < 0.3)] = np.nan
    return x


def _frozen(rng, x, m):
    x[m] = 0.5
    return x


def _cents(rng, x, m):
    x[m] *= 100
    return x


def _countries(rng, n):
    return rng.choice(["US", "BR", "DE"], n).astype(object)


def _countries_unseen(rng, hour):
    c = _countries(rng, len(hour))
    c[(hour >= 34) & (rng.uniform(size=len(hour)) < 0.2)] = "XX"
    return c


def _numbers_as_text(rng, hour):
    x = rng.normal(size=len(hour)).astype(object)
    late = hour >= 34
    x[late] = [f"{v:.3f}" for v in x[late]]
    return x


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(7)
    frame = samples_frame(rng, {
        "stable": (normal, normal),
        "stable_cat": (_countries, lambda r, h: _countries(r, len(h))),
        "drift": (normal, changed_from(34, _shift)),
        "nulls": (normal, changed_from(33, _nulls)),
        "frozen": (normal, changed_from(35, _frozen)),
        "cents": (normal, changed_from(33, _cents)),
        "country": (_countries, _countries_unseen),
        "as_text": (lambda r, n: r.normal(size=n).astype(object), _numbers_as_text),
        "always_off": (normal, lambda r, h: r.normal(0.7, 1, len(h))),  # off training long before the incident
    })
    return get_generator("samples").generate(bundle(frame))


def _kinds(result, feature):
    return {str(h.kind): h for h in result.hypotheses if h.node == f"feature:{feature}"}


@pytest.mark.parametrize("feature", ["stable", "stable_cat", "always_off"])
def test_unchanged_features_give_nothing(result, feature):
    assert _kinds(result, feature) == {}


@pytest.mark.parametrize("feature, kind, hour", [
    ("drift", "data_drift", 34), ("nulls", "missing_values", 33), ("frozen", "stale_feature", 35),
    ("cents", "schema_change", 33), ("country", "schema_change", 34), ("as_text", "schema_change", 34)])
def test_changed_feature_found_with_kind_and_onset(result, feature, kind, hour):
    h = _kinds(result, feature).get(kind)
    assert h is not None, f"{feature}: got {sorted(_kinds(result, feature))}"
    true_onset = T0 + pd.Timedelta(hours=hour)
    assert true_onset - pd.Timedelta(minutes=1) <= h.onset <= true_onset + pd.Timedelta(minutes=30)
    assert h.score > 3 and h.evidence and all(e.signal == "feature_samples" for e in h.evidence)


def test_drift_onset_is_refined_by_the_rolling_detector_inside_the_hour(result):
    h = _kinds(result, "drift")["data_drift"]
    assert h.onset != T0 + pd.Timedelta(hours=34)  # not merely the hour's start
    assert 0.05 < h.features["sample.ks_d"] < 0.6 and h.features["sample.ks_p_log10"] > 10


def test_evidence_names_the_right_tests(result):
    tests_of = {f: {e.test for h in _kinds(result, f).values() for e in h.evidence}
                for f in ("cents", "country", "as_text", "nulls")}
    assert "out_of_range_share" in tests_of["cents"]
    assert "unseen_categories" in tests_of["country"]
    assert "dtype" in tests_of["as_text"]
    assert "null_rate" in tests_of["nulls"]


def test_without_training_rows_the_baseline_is_the_reference():
    rng = np.random.default_rng(8)
    frame = samples_frame(rng, {"drift": (normal, changed_from(34, _shift)), "stable": (normal, normal)})
    frame = frame[frame["role"] == "serving"].reset_index(drop=True)
    nodes = {h.node for h in get_generator("samples").generate(bundle(frame)).hypotheses}
    assert nodes == {"feature:drift"}


def test_all_null_or_tiny_columns_are_skipped_without_error():
    rng = np.random.default_rng(9)
    frame = samples_frame(rng, {"empty": (lambda r, n: np.full(n, np.nan), lambda r, h: np.full(len(h), np.nan))})
    assert get_generator("samples").generate(bundle(frame)).hypotheses == []
    assert get_generator("samples").generate(bundle(frame.iloc[:10])).hypotheses == []


def _gone_null(rng, hour):
    x = rng.normal(size=len(hour))
    x[hour >= 32] = np.nan
    return x


def _gone_to_words(rng, hour):
    x = rng.normal(size=len(hour)).astype(object)
    x[hour >= 32] = "n/a"
    return x


def test_a_feature_gone_null_or_to_words_in_the_current_window_is_still_named():
    # No current value to compare distributions with: the null-rate and value-type tests still speak.
    rng = np.random.default_rng(11)
    frame = samples_frame(rng, {"dead": (normal, _gone_null), "words": (normal, _gone_to_words),
                                "stable": (normal, normal)})
    result = get_generator("samples").generate(bundle(frame))
    assert {h.node for h in result.hypotheses} == {"feature:dead", "feature:words"}
    dead, words = _kinds(result, "dead"), _kinds(result, "words")
    assert set(dead) == {"missing_values"} and set(words) == {"schema_change"}
    assert dead["missing_values"].onset == CURRENT_START and words["schema_change"].onset == CURRENT_START
    assert dead["missing_values"].features["sample.null_jump"] == pytest.approx(1.0)
    assert np.isnan(dead["missing_values"].features.get("sample.psi", np.nan))  # no distribution to compare
    assert {e.test for e in words["schema_change"].evidence} == {"dtype"}


def test_loaded_csv_bundle_is_deterministic_and_finds_the_drift(tmp_path: Path):
    rng = np.random.default_rng(10)
    frame = samples_frame(rng, {"drift": (normal, changed_from(34, _shift)), "stable": (normal, normal)})
    (tmp_path / "incident.json").write_text(json.dumps(INCIDENT))
    out = frame.assign(timestamp=(frame["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1))
    out.to_csv(tmp_path / "feature_samples.csv", index=False)
    b = load_bundle(tmp_path)
    gen = get_generator("samples")
    first, second = gen.generate(b), gen.generate(b)
    assert [(h.node, h.kind, h.score, h.onset) for h in first.hypotheses] == \
           [(h.node, h.kind, h.score, h.onset) for h in second.hypotheses]
    assert {h.node for h in first.hypotheses} == {"feature:drift"}
    assert all(isinstance(v, float) for h in first.hypotheses for v in h.features.values())


def test_a_small_mean_shift_is_a_drift_though_the_decile_psi_stays_under_its_floor():
    from rca.generators.feature_kinds import SHIFT_PSI

    def plus(sd):
        def change(rng, x, m):
            x[m] += sd
            return x
        return changed_from(32, change)

    rng = np.random.default_rng(9)
    frame = samples_frame(rng, {"shift": (normal, plus(0.13)), "stable": (normal, normal)}, per_hour=800)
    hypotheses = get_generator("samples").generate(bundle(frame)).hypotheses
    assert {h.node for h in hypotheses} == {"feature:shift"}
    drift = next(h for h in hypotheses if str(h.kind) == "data_drift")
    assert drift.features["sample.psi_vs_baseline"] < SHIFT_PSI  # the PSI alone would not have proposed it
    mean_shift = next(e for e in drift.evidence if e.test == "mean_shift")
    assert 0.1 < mean_shift.value < 0.16 and mean_shift.p_value < 1e-3


def test_a_recoded_category_is_a_schema_change_not_a_stale_feature():
    # A re-encoding that merges ios and android into MOBILE: 95% of the current values in one category, as a
    # frozen feature's; but training never saw it, so staleness is not proposed.
    def device(rng, hour):
        c = rng.choice(["ios", "android", "web"], len(hour), p=[0.65, 0.3, 0.05]).astype(object)
        c[(hour >= 32) & (c != "web")] = "MOBILE"
        return c

    rng = np.random.default_rng(13)
    frame = samples_frame(rng, {"device": (lambda r, n: device(r, np.zeros(n)), device)})
    kinds = _kinds(get_generator("samples").generate(bundle(frame)), "device")
    assert "schema_change" in kinds and "stale_feature" not in kinds


@pytest.mark.parametrize("dtype", [object, "string"])
def test_blank_strings_are_nulls_not_another_type(dtype):
    # Numbers kept as text, a missing one written as "" (or spaces): the feature went 30% null, not to text.
    def blanks(rng, hour):
        x = np.array([f"{v:.4f}" for v in rng.normal(size=len(hour))], dtype=object)
        x[(hour >= 33) & (rng.uniform(size=len(hour)) < 0.3)] = ""
        x[(hour >= 33) & (rng.uniform(size=len(hour)) < 0.02)] = "  "
        return x

    rng = np.random.default_rng(16)
    frame = samples_frame(rng, {"ip_risk": (lambda r, n: blanks(r, np.zeros(n)), blanks)})
    frame["ip_risk"] = frame["ip_risk"].astype(dtype)
    kinds = _kinds(get_generator("samples").generate(bundle(frame)), "ip_risk")
    assert set(kinds) == {"missing_values"}
    assert kinds["missing_values"].features["sample.null_jump"] > 0.2
    assert kinds["missing_values"].onset == T0 + pd.Timedelta(hours=33)


def test_columns_of_times_are_no_features():
    # A feature store's rows: when each value was computed, as ISO text (Feast's created_timestamp) or a datetime
    # column. Every new row's time was a value training never saw, and a stopped job's ones looked stale.
    def written(rng, hour):
        stale = hour >= 33   # the job stopped: the rows keep its last run's time
        at = T0 + pd.to_timedelta(np.where(stale, 33, hour), unit="h")
        return np.array([t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in at], dtype=object)

    rng = np.random.default_rng(17)
    frame = samples_frame(rng, {
        "created_timestamp": (lambda r, n: written(r, np.zeros(n, dtype=int) - 24 * 30), written),
        "drift": (normal, changed_from(34, _shift)),
        "year": (lambda r, n: r.choice(["2024", "2025"], n).astype(object),   # numbers as text, not times
                 lambda r, h: np.where(h >= 33, "2026", r.choice(["2024", "2025"], len(h))).astype(object))})
    frame["event_timestamp"] = frame["timestamp"] - pd.Timedelta(minutes=5)
    frame.loc[frame["timestamp"] >= T0 + pd.Timedelta(hours=33), "event_timestamp"] = T0 + pd.Timedelta(hours=33)
    b = bundle(frame)
    nodes = {h.node for h in get_generator("samples").generate(b).hypotheses}
    assert nodes == {"feature:drift", "feature:year"}
    assert b.feature_columns == ["drift", "year"] and b.sample_time_columns == ["created_timestamp", "event_timestamp"]


def test_a_sentinel_far_outside_the_range_counts_as_missing_beside_the_schema_change(result):
    # -999 written for a missing ip_risk (a share in [0, 1]): values out of range, and values gone missing.
    # A 0 filled below amounts from 1 (a failing lookup's default) is next to the range: no missing values.
    def fill(value, lo=0.0):
        def change(rng, x, m):
            x = np.abs(x) + lo
            x[m & (rng.uniform(size=x.size) < 0.3)] = value
            return x
        return change

    rng = np.random.default_rng(18)
    frame = samples_frame(rng, {"ip_risk": (lambda r, n: np.abs(r.normal(size=n)), changed_from(33, fill(-999.0))),
                                "amount": (lambda r, n: np.abs(r.normal(size=n)) + 1, changed_from(33, fill(0.0, 1)))})
    filled = get_generator("samples").generate(bundle(frame))
    ip_risk = _kinds(filled, "ip_risk")
    assert {"missing_values", "schema_change"} <= set(ip_risk)
    missing = ip_risk["missing_values"]
    assert missing.onset == T0 + pd.Timedelta(hours=33) and missing.features["sample.null_jump"] > 0.2
    assert "counting -999 as missing" in next(e.detail for e in missing.evidence if e.test == "null_rate")
    assert "missing_values" not in _kinds(filled, "amount") and "schema_change" in _kinds(filled, "amount")
    assert "missing_values" not in _kinds(result, "cents")   # a unit change spreads over many values
