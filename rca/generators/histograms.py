"""Candidate generator over ``histograms.jsonl``: per-feature drift, nulls, range, categories, staleness.

Each feature's serving buckets are compared with its training reference (or, without one, with the pooled
baseline buckets): pooled current window vs reference and vs baseline, and bucket by bucket for the onset
and for telling an abrupt step (skew after a deploy) from a trend (gradual drift).
"""

from __future__ import annotations

import math
import re
from datetime import datetime

import numpy as np

from rca.contract.bundle import Bundle, FeatureHistograms
from rca.contract.models import CategoricalHistogram, Evidence, NumericHistogram
from rca.generators import register
from rca.generators.base import Candidates
from rca.generators.feature_kinds import (TOP_K, FeatureChange, Test, bucket_onset, deploy_features, log10p, propose,
                                         rank_desc, share_test)
from rca.generators.windows import first_observation, hours_between
from rca.stats import chi2_counts, js_distance, ks_binned, onset_index, psi, step_vs_trend
from rca.stats.distributions import binned_std, psi_rows, wasserstein_binned

SIGNAL = "histograms"


@register("histograms")
class HistogramGenerator:
    """Feature kinds (data_drift, training_serving_skew, missing_values, schema_change, stale_feature)."""

    def generate(self, bundle: Bundle) -> Candidates:
        origin = first_observation(bundle)
        changes = [c for fh in bundle.histograms.values() if (c := feature_change(fh, bundle, origin)) is not None]
        ranks = rank_desc({c.feature: c.features.get("hist.psi", 0.0) for c in changes})
        out = Candidates()
        for change in changes:
            change.features["hist.psi_rank"] = ranks[change.feature]
            change.features["hist.psi_rank_frac"] = ranks[change.feature] / len(changes)
            hypotheses = propose(change, bundle, self.name)
            if hypotheses and change.finish is not None:
                change.finish()
                hypotheses = propose(change, bundle, self.name)
            out.hypotheses.extend(hypotheses)
        return out


# ------------------------------------------------------------------------------------------------ dtypes
_DTYPE_FAMILIES = (
    ("int", re.compile(r"u?int(8|16|32|64|128)?|long|integer|bigint|smallint|tinyint|short|byte")),
    ("float", re.compile(r"float(16|32|64|128)?|double|real|decimal|numeric|half")),
    ("string", re.compile(r"object|str|string|large_string|utf8|large_utf8|text|varchar|char|nvarchar")),
    ("bool", re.compile(r"bool|boolean")),
    ("time", re.compile(r"(datetime|timestamp)\w*|date(32|64)?")),
)


def dtype_family(dtype: str) -> str:
    """The type family a histogram's ``dtype`` spells: ``int``, ``float``, ``string``, ``bool`` or ``time``;
    another spelling as written, lower-cased.

    Each tool writes its own names for one type (pandas ``int64``, Spark and Java ``long``, SQL ``bigint``,
    pandas' nullable ``Int64``, Arrow ``utf8``), and a training profile and a serving one are often written by
    different tools: compared as written, every numeric feature was a schema change. Parameters are dropped
    (``varchar(64)``, ``decimal(10,2)``, ``datetime64[ns, UTC]``).

    >>> [dtype_family(d) for d in ("int64", "long", "Int64", "double", "decimal(10,2)", "utf8", "timestamp[us]")]
    ['int', 'int', 'int', 'float', 'float', 'string', 'time']
    >>> dtype_family("Category")
    'category'
    """
    spelling = dtype.strip().lower()
    base = re.split(r"[(\[<]", spelling, maxsplit=1)[0].strip()
    return next((family for family, pattern in _DTYPE_FAMILIES if pattern.fullmatch(base)), spelling)


OTHER_BUCKETS = frozenset({"__other__", "other", "(other)"})
"""The names (any case) a profiler gives the bucket of the categories it does not list (`other_bucket`)."""


def other_bucket(category: str) -> bool:
    """Whether a histogram category is the bucket of the categories not listed (``__other__``, ``OTHER``, ...).

    >>> [other_bucket(c) for c in ("__other__", "OTHER", "(other)", "others", "mcc_05")]
    [True, True, True, False, False]
    """
    return category.strip().lower() in OTHER_BUCKETS


# --------------------------------------------------------------------------------------------- matrices
def _matrix(fh: FeatureHistograms) -> tuple[list[str] | None, np.ndarray, np.ndarray, np.ndarray | None]:
    """Aligned counts: (categories or None, serving rows, training row or None, nulls per row incl. training).

    Numeric rows are [underflow, counts..., overflow]; categorical rows follow the training categories then
    the unseen ones, sorted. When training has an other-bucket (`other_bucket`), a serving category it does not
    list, and a serving other-bucket however spelled, count in it: a profiler that keeps each profile's most
    frequent categories (whylogs' and Evidently's top-k, a `__other__` of the rest) lists in one hour categories
    it lumped into the rest in training, and they are not new values.
    """
    hists = ([fh.training] if fh.training is not None else []) + list(fh.serving)
    if isinstance(hists[0], NumericHistogram):
        rows = np.array([[h.underflow, *h.counts, h.overflow] for h in hists], dtype=float)
        cats = None
    else:
        known = list(fh.training.categories) if fh.training is not None else []
        index = {c: i for i, c in enumerate(known)}
        other = next((index[c] for c in known if other_bucket(c)), None)
        extra = sorted({c for h in hists for c in h.categories if c not in index}) if other is None else []
        cats = known + extra
        index.update((c, len(known) + i) for i, c in enumerate(extra))
        rows = np.zeros((len(hists), len(cats)))
        for r, h in enumerate(hists):
            h: CategoricalHistogram
            at = np.fromiter((index.get(c, other) for c in h.categories), dtype=np.intp, count=len(h.categories))
            rows[r] = np.bincount(at, weights=h.counts, minlength=len(cats))
    nulls = np.array([h.nulls for h in hists], dtype=float)
    if fh.training is not None:
        return cats, rows[1:], rows[0], nulls
    return cats, rows, None, nulls


# ------------------------------------------------------------------------------------------- one feature
def feature_change(fh: FeatureHistograms, bundle: Bundle, origin: datetime) -> FeatureChange | None:
    """Measure one feature's change; None when it has no current-window bucket or no reference at all.
    ``origin``: what its onset is timed from, the window's first sample (`first_observation`)."""
    if not fh.serving:
        return None
    inc = bundle.incident
    starts = [h.start for h in fh.serving]
    cur = np.array([inc.current.contains(s) for s in starts])
    base = np.array([inc.baseline.contains(s) for s in starts])
    upto = np.array([s < inc.current.end for s in starts])
    if not cur.any():
        return None
    cats, rows, train, nulls_all = _matrix(fh)
    cur_counts, base_counts = rows[cur].sum(0), rows[base].sum(0)
    has_base = base.any() and base_counts.sum() > 0
    ref = train if train is not None and train.sum() > 0 else (base_counts if has_base else None)
    if ref is None:
        return None
    ns = "hist"
    nulls = _null_test(rows, train, nulls_all, base, cur, upto, starts)
    if cur_counts.sum() <= 0:
        return _gone_null(fh, bundle, origin, nulls)
    prior = base_counts if has_base else ref  # what the incident window is compared against for the gate

    numeric = cats is None
    f: dict[str, float] = {}
    psi_cur, psi_prior = psi(ref, cur_counts), psi(prior, cur_counts)
    psi_base = psi(ref, base_counts) if has_base else 0.0
    series = psi_rows(ref, rows)
    trend = step_vs_trend(series[upto])
    if numeric:
        shift_stat = ks_binned(prior, cur_counts)
        # KS against the reference is a ranker feature only: its exact p-value (the costliest number here for
        # an unchanged feature) is computed by `finish`, for a feature that is proposed.
        f[f"{ns}.ks_d"] = f[f"{ns}.ks_p_log10"] = math.nan
        edges = fh.serving[0].edges
        scale = binned_std(edges, ref[1:-1]) if ref[1:-1].sum() > 0 else 0.0
        inner_ok = ref[1:-1].sum() > 0 and cur_counts[1:-1].sum() > 0
        w = wasserstein_binned(edges, ref[1:-1], cur_counts[1:-1]) if inner_ok else 0.0
        f[f"{ns}.wasserstein_rel"] = w / scale if scale > 0 else 0.0
        f[f"{ns}.mean_log_ratio"] = _mean_log_ratio(edges, ref, cur_counts)
    else:
        shift_stat = chi2_counts(prior, cur_counts)
        chi_ref = chi2_counts(ref, cur_counts)
        f[f"{ns}.chi2_p_log10"] = log10p(chi_ref.p_value)
    shift_onset = bucket_onset(series, base, upto, starts, cur, floor=0.05)
    shift = Test(effect=psi_prior, p_value=shift_stat.p_value, onset=shift_onset, baseline=psi_base,
                 current=psi_cur)
    f.update({f"{ns}.psi": psi_cur, f"{ns}.psi_vs_baseline": psi_prior, f"{ns}.psi_baseline": psi_base,
              f"{ns}.js": js_distance(ref, cur_counts), f"{ns}.step_vs_trend": trend.score,
              f"{ns}.shift_p_log10": log10p(shift_stat.p_value), f"{ns}.categorical": float(not numeric)})
    against = "training" if train is not None else "baseline"
    evidence = [Evidence(signal=SIGNAL, test="psi", value=psi_cur, baseline=psi_base, current=psi_cur,
                         onset=shift_onset, detail=f"{fh.feature}: PSI vs {against}"),
                Evidence(signal=SIGNAL, test="ks" if numeric else "chi2", value=shift_stat.statistic,
                         p_value=shift_stat.p_value, onset=shift_onset,
                         detail="current window vs baseline window" if has_base else "current window vs reference")]

    f[f"{ns}.null_jump"], f[f"{ns}.null_p_log10"] = nulls.effect, log10p(nulls.p_value)
    if nulls.effect > 0:
        evidence.append(_null_evidence(nulls))

    out_of_range = unseen = None
    if numeric:
        oor_rows = rows[:, 0] + rows[:, -1]
        o0, o1, p_oor = share_test(ref[0] + ref[-1], ref.sum(), oor_rows[cur].sum(), cur_counts.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            oor_series = oor_rows / rows.sum(1)
        oor_onset = bucket_onset(oor_series, base, upto, starts, cur, floor=o0 + 0.005)
        out_of_range = Test(effect=o1 - o0, p_value=p_oor, onset=oor_onset, baseline=o0, current=o1)
        f[f"{ns}.oor_share_delta"] = o1 - o0
        f[f"{ns}.underflow_delta"] = cur_counts[0] / cur_counts.sum() - ref[0] / ref.sum()
        f[f"{ns}.overflow_delta"] = cur_counts[-1] / cur_counts.sum() - ref[-1] / ref.sum()
        if o1 > o0:
            evidence.append(Evidence(signal=SIGNAL, test="out_of_range_share", value=o1 - o0, baseline=o0,
                                     current=o1, p_value=p_oor, onset=oor_onset))
    else:
        new = ref == 0
        u0, u1, p_new = share_test(0.0, ref.sum(), cur_counts[new].sum(), cur_counts.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            new_series = rows[:, new].sum(1) / rows.sum(1)
        new_onset = bucket_onset(new_series, base, upto, starts, cur, floor=0.005)
        unseen = Test(effect=u1, p_value=p_new, onset=new_onset, baseline=0.0, current=u1)
        f[f"{ns}.unseen_share"] = u1
        if u1 > 0:
            evidence.append(Evidence(signal=SIGNAL, test="unseen_categories", value=u1, baseline=0.0,
                                     current=u1, p_value=p_new, onset=new_onset,
                                     detail=", ".join(c for c, n in zip(cats, new) if n)[:200]))

    # Frozen / constant: the largest bin's share, and min == max where the buckets report them.
    top_ref = ref.max() / ref.sum()
    top_cur_idx = int(np.argmax(cur_counts))
    t0, t1, p_top = share_test(ref[top_cur_idx], ref.sum(), cur_counts[top_cur_idx], cur_counts.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        top_series = rows.max(1) / rows.sum(1)
    top_onset = bucket_onset(top_series, base, upto, starts, cur, floor=top_ref + 0.05)
    top = Test(effect=t1 - top_ref, p_value=p_top, onset=top_onset, baseline=top_ref, current=t1)
    constant = top_ref < 0.9 and _constant(fh, cur, top_series)
    f[f"{ns}.top_share_delta"], f[f"{ns}.constant"] = t1 - top_ref, float(constant)
    if constant:
        evidence.append(Evidence(signal=SIGNAL, test="top_share", value=t1 - top_ref, baseline=top_ref, current=t1,
                                 p_value=p_top, onset=top_onset, detail="values frozen or constant"))

    concentration, rest_psi = top_k_concentration(ref, cur_counts, rows, base, upto, starts, cur)
    f[f"{ns}.top{TOP_K}_rest_psi"] = rest_psi
    f[f"{ns}.top{TOP_K}_share"] = concentration.current
    f[f"{ns}.top{TOP_K}_share_delta"] = concentration.effect
    if concentration.effect > 0:
        evidence.append(Evidence(signal=SIGNAL, test=f"top{TOP_K}_share", value=concentration.effect,
                                 baseline=concentration.baseline, current=concentration.current,
                                 p_value=concentration.p_value, onset=concentration.onset,
                                 detail=f"share of the {TOP_K} fullest current bins"))

    ref_dtype = (fh.training or fh.serving[0]).dtype
    dtypes = {h.dtype for h, c in zip(fh.serving, cur) if c}
    dtype_changed = bool({dtype_family(d) for d in dtypes} - {dtype_family(ref_dtype)})
    f[f"{ns}.dtype_changed"] = float(dtype_changed)
    if dtype_changed:
        evidence.append(Evidence(signal=SIGNAL, test="dtype", value=1.0,
                                 detail=f"{ref_dtype} -> {', '.join(sorted(dtypes))}"))

    onset = shift_onset or origin
    f[f"{ns}.onset_hours"] = hours_between(origin, onset)
    f.update(deploy_features(bundle, fh.feature, onset, hours_between(fh.serving[0].start, fh.serving[0].end), ns))
    change = FeatureChange(feature=fh.feature, signal=SIGNAL, shift=shift, shift_test="ks" if numeric else "chi2",
                           nulls=nulls, out_of_range=out_of_range, unseen=unseen, top_share=top,
                           dtype_changed=dtype_changed, constant=constant, concentration=concentration,
                           step_score=trend.score,
                           features={k: float(v) for k, v in f.items()}, evidence=evidence)
    if numeric:
        def finish() -> None:
            ks_ref = ks_binned(ref, cur_counts)
            change.features[f"{ns}.ks_d"] = float(ks_ref.statistic)
            change.features[f"{ns}.ks_p_log10"] = float(log10p(ks_ref.p_value))

        change.finish = finish
    return change


def _null_test(rows: np.ndarray, train: np.ndarray | None, nulls_all: np.ndarray, base: np.ndarray,
               cur: np.ndarray, upto: np.ndarray, starts: list[datetime]) -> Test:
    """Null rate: the reference's (training, else the baseline buckets') against the current window's.
    ``rows``: serving counts; ``nulls_all``: nulls per row, the training row first when there is one."""
    nulls_srv = nulls_all[1:] if train is not None else nulls_all
    obs = rows.sum(1) + nulls_srv
    if train is not None:
        ref_nulls, ref_n = nulls_all[0], train.sum() + nulls_all[0]
    else:
        ref_nulls, ref_n = nulls_srv[base].sum(), obs[base].sum()
    r0, r1, p_null = share_test(ref_nulls, ref_n, nulls_srv[cur].sum(), obs[cur].sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        null_series = nulls_srv / obs
    onset = bucket_onset(null_series, base, upto, starts, cur, floor=r0 + 0.005)
    return Test(effect=r1 - r0, p_value=p_null, onset=onset, baseline=r0, current=r1)


def _null_evidence(nulls: Test) -> Evidence:
    return Evidence(signal=SIGNAL, test="null_rate", value=nulls.effect, baseline=nulls.baseline,
                    current=nulls.current, p_value=nulls.p_value, onset=nulls.onset)


def _gone_null(fh: FeatureHistograms, bundle: Bundle, origin: datetime, nulls: Test) -> FeatureChange:
    """A feature with no non-null value in the current window: nothing to compare distributions with, so only
    its null rate speaks (its distribution features are absent, NaN to the ranker)."""
    onset = nulls.onset or origin
    f = {"hist.null_jump": nulls.effect, "hist.null_p_log10": log10p(nulls.p_value),
         "hist.categorical": float(isinstance(fh.serving[0], CategoricalHistogram)),
         "hist.onset_hours": hours_between(origin, onset),
         **deploy_features(bundle, fh.feature, onset, hours_between(fh.serving[0].start, fh.serving[0].end), "hist")}
    none = Test(effect=0.0, p_value=1.0)
    return FeatureChange(feature=fh.feature, signal=SIGNAL, shift=none, shift_test="none", nulls=nulls,
                         top_share=none, features={k: float(v) for k, v in f.items()},
                         evidence=[_null_evidence(nulls)] if nulls.effect > 0 else [])


def top_k_concentration(ref: np.ndarray, cur_counts: np.ndarray, rows: np.ndarray, base: np.ndarray,
                        upto: np.ndarray, starts: list, cur: np.ndarray, k: int = TOP_K) -> tuple[Test, float]:
    """How much of the current window the ``k`` fullest current bins hold, against the reference's share of
    the same bins (one-sided two-proportion test): a feature frozen at a few values piles its mass there.

    Returns the test and the PSI of the other bins (each side renormalized; 0 when the current window has
    under 5% of its values there): a frozen feature leaves the rest's shape alone (or empties it), a shifted
    distribution moves it too. With ``k`` or fewer bins the effect is 0 (p = 1)."""
    if cur_counts.size <= k:
        return Test(effect=0.0, p_value=1.0, baseline=1.0, current=1.0), 0.0
    idx = np.argsort(-cur_counts, kind="stable")[:k]
    rest = np.ones(cur_counts.size, dtype=bool)
    rest[idx] = False
    enough = cur_counts[rest].sum() >= 0.05 * cur_counts.sum() and ref[rest].sum() > 0
    rest_psi = psi(ref[rest], cur_counts[rest]) if enough else 0.0
    s0, s1, p = share_test(ref[idx].sum(), ref.sum(), cur_counts[idx].sum(), cur_counts.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        series = rows[:, idx].sum(1) / rows.sum(1)
    onset = bucket_onset(series, base, upto, starts, cur, floor=s0 + 0.05)
    return Test(effect=s1 - s0, p_value=p, onset=onset, baseline=s0, current=s1), float(rest_psi)


def _mean_log_ratio(edges, ref: np.ndarray, cur: np.ndarray) -> float:
    """|log10| of the ratio of binned means (a unit change such as cents shows as ~2); 0 when undefined."""
    e = np.asarray(edges, dtype=float)
    centres = np.concatenate([[e[0]], 0.5 * (e[1:] + e[:-1]), [e[-1]]])  # under/overflow at the edges
    with np.errstate(over="ignore"):  # edges near the largest float: a mean of inf, taken below
        m0, m1 = np.dot(ref, centres) / ref.sum(), np.dot(cur, centres) / cur.sum()
    if m0 == 0 or m1 == 0 or (m0 > 0) != (m1 > 0):
        return 0.0
    ratio = m1 / m0
    if ratio == 0:  # underflowed: the reference's mean overflowed (edges near the largest float); as ratio = inf
        return math.inf
    return abs(math.log10(ratio))


def _constant(fh: FeatureHistograms, cur: np.ndarray, top_series: np.ndarray) -> bool:
    """The current window ends in a run of constant buckets (min == max where reported, else one bin holding
    at least 98% of the values)."""
    flags = []
    for h, share in zip(fh.serving, top_series):
        if isinstance(h, NumericHistogram) and h.min is not None and h.max is not None:
            flags.append(h.min == h.max)
        else:
            flags.append(bool(share >= 0.98))
    return onset_index(np.array(flags)[cur]) is not None
