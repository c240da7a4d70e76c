"""The histogram generator on hand-built bundles with known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from rca.contract.bundle import FeatureHistograms
from rca.contract.models import CategoricalHistogram
from rca.generators import get_generator
from tests.builders import T0
from tests.hist_builders import bundle, categorical, numeric, stream


def _kinds(cands, feature):
    return {str(h.kind): h for h in cands.hypotheses if h.node == f"feature:{feature}"}


def _run(*features, events=()):
    return get_generator("histograms").generate(bundle(list(features), events))


def test_stable_features_give_nothing():
    rng = np.random.default_rng(0)
    feats = [numeric(f"f{i}", stream(rng), rng.normal(size=5000)) for i in range(5)]
    rngc = np.random.default_rng(1)
    feats.append(categorical("country", [rngc.choice(["US", "BR", "DE"], 300) for _ in range(38)],
                             rngc.choice(["US", "BR", "DE"], 3000)))
    assert _run(*feats).hypotheses == []


def test_abrupt_shift_after_pipeline_deploy_is_skew_with_onset():
    rng = np.random.default_rng(2)
    f = numeric("amount", stream(rng, change_at=33, change=lambda r, h, n: r.normal(1.0, 1, n)),
                rng.normal(size=5000))
    deploy = {"timestamp": (T0 + pd.Timedelta(hours=32, minutes=50)).isoformat(), "kind": "pipeline_deploy",
              "target": "pipeline:payments"}
    kinds = _kinds(_run(f, events=[deploy]), "amount")
    assert {"data_drift", "training_serving_skew"} <= set(kinds)
    skew = kinds["training_serving_skew"]
    assert skew.onset == T0 + pd.Timedelta(hours=33)
    assert skew.features["hist.after_deploy"] == 1.0 and skew.features["hist.step_vs_trend"] > 0.3
    assert skew.features["hist.psi"] > 0.2 and skew.features["hist.psi_rank"] == 1.0
    assert all(e.signal == "histograms" for e in skew.evidence)


def test_gradual_drift_is_data_drift_only_and_trend_shaped():
    rng = np.random.default_rng(3)
    f = numeric("age", stream(rng, change_at=8, change=lambda r, h, n: r.normal(0.04 * (h - 8), 1, n)),
                rng.normal(size=5000))
    kinds = _kinds(_run(f), "age")
    assert set(kinds) == {"data_drift"}
    assert kinds["data_drift"].features["hist.step_vs_trend"] < 0


def test_a_small_significant_shift_is_a_drift():
    """A 0.18-sd mean shift on many rows: a PSI near 0.03, under the rule-of-thumb 0.1, still a candidate."""
    from rca.generators.feature_kinds import SHIFT_PSI

    rng = np.random.default_rng(11)
    f = numeric("income", stream(rng, n=2000, change_at=30, change=lambda r, h, n: r.normal(0.18, 1, n)),
                rng.normal(size=20000))
    drift = _kinds(_run(f), "income")["data_drift"]
    assert SHIFT_PSI <= drift.features["hist.psi_vs_baseline"] < 0.05
    assert drift.features["hist.shift_p_log10"] > 3


def test_null_jump_is_missing_values_with_onset():
    rng = np.random.default_rng(4)

    def with_nulls(r, h, n):
        v = r.normal(size=n)
        v[: n // 5] = np.nan
        return v
    kinds = _kinds(_run(numeric("income", stream(rng, change_at=34, change=with_nulls), rng.normal(size=5000))),
                   "income")
    assert "missing_values" in kinds
    assert kinds["missing_values"].onset == T0 + pd.Timedelta(hours=34)
    assert abs(kinds["missing_values"].features["hist.null_jump"] - 0.2 * 4 / 6) < 0.01  # 4 of 6 hours


def test_a_feature_gone_null_in_the_current_window_is_missing_values():
    # No current value to compare distributions with: the null rate alone names it.
    rng = np.random.default_rng(5)
    cands = _run(numeric("dead", stream(rng, change_at=32, change=lambda r, h, n: np.full(n, np.nan)),
                         rng.normal(size=5000)),
                 numeric("stable", stream(rng), rng.normal(size=5000)))
    assert {h.node for h in cands.hypotheses} == {"feature:dead"}
    dead = _kinds(cands, "dead")
    assert set(dead) == {"missing_values"}
    h = dead["missing_values"]
    assert h.onset == T0 + pd.Timedelta(hours=32) and h.features["hist.null_jump"] == 1.0 and h.score > 3
    assert "hist.psi" not in h.features and [e.test for e in h.evidence] == ["null_rate"]


def test_overflow_and_dtype_are_schema_change():
    rng = np.random.default_rng(5)
    f = numeric("amount", stream(rng, change_at=32, change=lambda r, h, n: r.normal(size=n) * 100),
                rng.normal(size=5000))
    kinds = _kinds(_run(f), "amount")
    assert "schema_change" in kinds and kinds["schema_change"].features["hist.oor_share_delta"] > 0.5
    # The mass piles into the overflow bucket, but a frozen feature repeats in-range values: not stale.
    assert "stale_feature" not in kinds
    g = numeric("zip", stream(rng), rng.normal(size=5000), dtype_by_hour={h: "string" for h in range(32, 38)})
    assert set(_kinds(_run(g), "zip")) == {"schema_change"}


def test_constant_is_stale_feature():
    rng = np.random.default_rng(6)
    f = numeric("balance", stream(rng, change_at=33, change=lambda r, h, n: np.full(n, 0.3)),
                rng.normal(size=5000), minmax=True)
    kinds = _kinds(_run(f), "balance")
    assert "stale_feature" in kinds and kinds["stale_feature"].features["hist.constant"] == 1.0
    assert kinds["stale_feature"].onset == T0 + pd.Timedelta(hours=33)


def test_unseen_categories_are_schema_change():
    rng = np.random.default_rng(7)
    cats = ["US", "BR", "DE"]
    hours = [rng.choice(cats if h < 33 else cats + ["us", "br"], 300) for h in range(38)]
    kinds = _kinds(_run(categorical("country", hours, rng.choice(cats, 3000))), "country")
    assert "schema_change" in kinds
    assert kinds["schema_change"].onset == T0 + pd.Timedelta(hours=33)
    assert kinds["schema_change"].features["hist.unseen_share"] > 0.3


def test_deterministic():
    rng = np.random.default_rng(8)
    f = numeric("amount", stream(rng, change_at=33, change=lambda r, h, n: r.normal(1.0, 1, n)),
                rng.normal(size=5000))
    a, b = _run(f), _run(f)
    assert [(h.node, h.kind, h.score, h.features) for h in a.hypotheses] == \
        [(h.node, h.kind, h.score, h.features) for h in b.hypotheses]


def test_partly_frozen_feature_is_stale_by_concentration():
    # Half the values stuck at three earlier values, half still live: not constant, no bin holds 90%, but the
    # three fullest bins gain mass while the other bins keep their shape.
    rng = np.random.default_rng(9)
    stuck = np.array([-0.3, 0.45, 1.2])

    def half_frozen(r, h, n):
        v = r.normal(size=n)
        frozen = r.uniform(size=n) < 0.5
        v[frozen] = stuck[r.integers(3, size=frozen.sum())]
        return v
    f = numeric("balance", stream(rng, change_at=33, change=half_frozen), rng.normal(size=5000))
    kinds = _kinds(_run(f), "balance")
    assert "stale_feature" in kinds
    stale = kinds["stale_feature"].features
    assert stale["hist.constant"] == 0.0 and stale["hist.top3_share_delta"] > 0.2
    assert stale["hist.top3_rest_psi"] < 0.1
    assert kinds["stale_feature"].onset == T0 + pd.Timedelta(hours=33)


def test_top_k_concentration_known_answer():
    from rca.generators.histograms import top_k_concentration

    ref = np.array([10.0, 10, 10, 10, 10, 10, 10, 10, 10, 10])          # uniform: any 3 bins hold 30%
    cur = np.array([5.0, 40, 5, 5, 20, 5, 5, 10, 0, 5])                # bins 1, 4, 7 hold 70 of 100
    rows = np.vstack([ref, ref, cur])
    mask = lambda *i: np.isin(np.arange(3), i)  # noqa: E731
    test, rest_psi = top_k_concentration(ref, cur, rows, mask(0, 1), mask(0, 1, 2), [T0] * 3, mask(2))
    assert test.baseline == 0.3 and abs(test.current - 0.7) < 1e-12 and abs(test.effect - 0.4) < 1e-12
    assert test.p_value < 1e-6
    # The other seven bins: 5 5 5 5 5 0 5 vs uniform -> only the empty bin moves.
    from rca.stats import psi
    assert rest_psi == psi(ref[[0, 2, 3, 5, 6, 8, 9]], cur[[0, 2, 3, 5, 6, 8, 9]])
    few, _ = top_k_concentration(ref[:3], cur[:3], rows[:, :3], mask(0, 1), mask(0, 1, 2), [T0] * 3, mask(2))
    assert few.effect == 0.0 and few.p_value == 1.0


def test_onset_is_timed_from_the_first_serving_bucket_not_the_windows_clock_start():
    """A trigger opens its window by the clock (07:50) and the hourly buckets begin at 08:00: a shift seen from
    09:00 starts an hour after the first current sample, as the ranker's own onset features count it."""
    from rca.contract.bundle import Bundle
    from rca.contract.models import Incident
    from rca.generators.windows import first_observation
    from tests.builders import INCIDENT

    rng = np.random.default_rng(2)
    f = numeric("amount", stream(rng, change_at=33, change=lambda r, h, n: r.normal(1.0, 1, n)),
                rng.normal(size=5000))
    early = Incident.model_validate({**INCIDENT, "current": {"start": "2026-11-20T07:50:00Z",
                                                             "end": "2026-11-20T14:00:00Z"}})
    for inc in (bundle([f]).incident, early):
        b = Bundle(incident=inc, histograms={"amount": f})
        assert first_observation(b) == T0 + pd.Timedelta(hours=32)
        drift = _kinds(get_generator("histograms").generate(b), "amount")["data_drift"]
        assert drift.onset == T0 + pd.Timedelta(hours=33)
        assert drift.features["hist.onset_hours"] == 1.0      # an hour after the first sample, either window


def test_mean_log_ratio_of_means_past_the_largest_float():
    """Edges near the float limit (valid: finite and increasing): a mean that overflows to inf against a finite one
    gives an unbounded |log10| either way round, not 'math domain error' when the ratio underflows to 0."""
    import math

    from rca.generators.histograms import _mean_log_ratio

    edges = [0.0, 10.0, 1.7e308]                  # bins under, [0, 10), [10, 1.7e308), over
    top, low = np.array([0.0, 5, 5, 1]), np.array([0.0, 5, 0, 0])
    assert _mean_log_ratio(edges, low, top) == math.inf   # current mean inf, reference finite: as before
    assert _mean_log_ratio(edges, top, low) == math.inf   # reference mean inf, current finite: raised before
    assert _mean_log_ratio([0.0, 10.0, 50.0], np.array([0.0, 5, 5, 0]), np.array([0.0, 5, 5, 0])) == 0.0


def test_dtype_spellings_of_one_type_are_no_schema_change():
    # Training profiled by pandas (int64, float64), serving by Spark (long, double): one type each, no change.
    # Another family (numbers arriving as text) still is one.
    rng = np.random.default_rng(11)
    stable = numeric("age", stream(rng), rng.normal(size=5000), dtype_by_hour={h: "long" for h in range(38)})
    stable = dataclasses.replace(stable, training=stable.training.model_copy(update={"dtype": "int64"}))
    floats = numeric("amount", stream(rng), rng.normal(size=5000),
                     dtype_by_hour={h: "DOUBLE" if h % 2 else "float64" for h in range(38)})
    texts = numeric("zip", stream(rng), rng.normal(size=5000), dtype_by_hour={h: "varchar(5)" for h in range(32, 38)})
    texts = dataclasses.replace(texts, training=texts.training.model_copy(update={"dtype": "Int64"}))
    cands = _run(stable, floats, texts)
    assert {h.node for h in cands.hypotheses} == {"feature:zip"}
    (h,) = _kinds(cands, "zip").values()
    assert str(h.kind) == "schema_change" and h.features["hist.dtype_changed"] == 1.0
    assert [e.detail for e in h.evidence if e.test == "dtype"] == ["Int64 -> varchar(5)"]


def test_a_recoded_category_is_a_schema_change_not_a_stale_feature():
    # ios -> IOS: the current top-3 bins hold every value and training none of them, as a frozen feature's would;
    # but those are categories training never saw, a re-encoding, so staleness is not proposed.
    rng = np.random.default_rng(12)
    cats, p = ["ios", "android", "web"], [0.45, 0.4, 0.15]
    hours = [rng.choice(cats if h < 33 else [c.upper() for c in cats], 300, p=p) for h in range(38)]
    kinds = _kinds(_run(categorical("device", hours, rng.choice(cats, 3000, p=p))), "device")
    assert "schema_change" in kinds and "stale_feature" not in kinds


def test_categories_a_profile_lists_beyond_trainings_top_k_fold_into_its_other_bucket():
    # Each profile keeps its 4 most frequent categories and lumps the rest into an other-bucket: an hour that
    # lists mcc_05 (in training's __other__) has no new category, nor one whose bucket is spelled OTHER.
    rng = np.random.default_rng(14)
    cats = [f"mcc_{i:02d}" for i in range(12)]
    p = np.array([30, 20, 12, 10] + [4] * 4 + [3] * 4) / 100

    def top_k(values, other="__other__"):
        names, counts = np.unique(values, return_counts=True)
        keep = np.argsort(-counts, kind="stable")[:4]
        rest = counts.sum() - counts[keep].sum()
        return [*names[keep], other], [*counts[keep], rest]

    def hist(values, role, hour=None):
        names, counts = top_k(values, "OTHER" if hour is not None and hour % 2 else "__other__")
        window = {} if hour is None else {"start": T0 + pd.Timedelta(hours=hour),
                                          "end": T0 + pd.Timedelta(hours=hour + 1)}
        return CategoricalHistogram(feature="mcc", role=role, type="categorical", dtype="string",
                                    categories=[str(c) for c in names], counts=[float(c) for c in counts], **window)

    serving = []
    for h in range(38):
        values = rng.choice(cats, 300, p=p)
        if h % 3 == 0:   # some hours' top 4 reach into training's rest
            values[:60] = "mcc_05"
        serving.append(hist(values, "serving", h))
    fh = FeatureHistograms(feature="mcc", training=hist(rng.choice(cats, 5000, p=p), "training"),
                           serving=tuple(serving))
    assert not any(e.test == "unseen_categories" for h in _run(fh).hypotheses for e in h.evidence)
    assert not any(str(h.kind) == "schema_change" for h in _run(fh).hypotheses)


def test_nulls_given_only_through_total_are_missing_values():
    # The profiler leaves out 'nulls': its counts hold the non-null values and 'total' every row.
    rng = np.random.default_rng(15)

    def with_nulls(r, h, n):
        v = r.normal(size=n)
        v[: int(n * 0.45)] = np.nan
        return v
    fh = numeric("ip_risk", stream(rng, change_at=33, change=with_nulls), rng.normal(size=5000))
    fh = dataclasses.replace(fh, training=_without_nulls(fh.training), serving=tuple(map(_without_nulls, fh.serving)))
    missing = _kinds(_run(fh), "ip_risk")["missing_values"]
    assert missing.onset == T0 + pd.Timedelta(hours=33) and missing.features["hist.null_jump"] > 0.3
    assert fh.serving[-1].nulls == 180


def _without_nulls(h):
    """The histogram as a profiler writing no 'nulls' field would have written it."""
    return type(h).model_validate(h.model_dump(exclude={"nulls"}))
