"""Candidate generator over ``feature_samples``: exact per-feature tests on raw values.

Each feature column is compared between a reference (the training rows, else the baseline window) and the
current window's serving rows. The gate of every test compares the current window with the baseline window
when it has enough rows (so a feature that left training long before the incident is not blamed), else
with the reference. Numeric features: exact KS, Wasserstein, PSI on the reference's deciles, null rate,
share outside the training range, frozen values; categorical ones: chi-square over aligned categories and
the share of unseen categories; both: a change of value type (numbers arriving as strings).

Only features whose cheap tests already pass get the onset work: an hourly drift series (exact KS of each
hour against the reference) places the change to the hour, then a rolling-window KS detector over the
serving stream around that hour dates its first detection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import Evidence
from rca.detectors.rolling_ks import first_detection
from rca.generators import register
from rca.generators.base import Candidates
from rca.generators.feature_kinds import (CONSTANT_SHARE, P_GATE, SHIFT_PSI, FeatureChange, Test, bucket_onset,
                                         deploy_features, log10p, propose, rank_desc, share_test)
from rca.generators.windows import hours_between
from rca.stats import chi2_counts, js_distance, onset_index, psi, step_vs_trend
from rca.stats.distributions import ks_sorted, ks_statistic_groups, psi_rows, wasserstein_sorted

SIGNAL = "feature_samples"
NS = "sample"
MIN_ROWS = 30          # fewer non-null values than this in a window: no test
ROLLING_WINDOW = 50    # values in the rolling KS window
ROLLING_ALPHA = 1e-3
MEAN_SHIFT_SD = 0.1    # a mean moved by this many prior standard deviations is a shift (see _numeric)
HOUR_NS = 3_600_000_000_000
SENTINEL_SHARE = 0.05  # a value outside the reference's range holding this share of the current values ...
SENTINEL_PURITY = 0.9  # ... and this share of those outside it stands for missing values (see _sentinel)
NUMERIC, NUMERIC_TEXT, TEXT = 0, 1, 2   # value type classes: a number, a number written as text, other text


@register("samples")
class SampleGenerator:
    """Feature kinds (data_drift, training_serving_skew, missing_values, schema_change, stale_feature)."""

    def generate(self, bundle: Bundle) -> Candidates:
        out = Candidates()
        frame = bundle.feature_samples
        if frame is None or frame.empty:
            return out
        ctx = _Context.build(frame, bundle)
        if ctx is None:
            return out
        changes = [c for col in bundle.feature_columns if (c := feature_change(frame[col], str(col), ctx, bundle))
                   is not None]
        ranks = rank_desc({c.feature: c.features.get(f"{NS}.psi", 0.0) for c in changes})
        for change in changes:
            change.features[f"{NS}.psi_rank"] = ranks[change.feature]
            change.features[f"{NS}.psi_rank_frac"] = ranks[change.feature] / len(changes)
            out.hypotheses.extend(propose(change, bundle, self.name))
        return out


@dataclass
class _Context:
    """Row masks and hourly buckets shared by every feature of one table."""

    ref: np.ndarray        # reference rows (training, else baseline)
    prior: np.ndarray      # rows the current window is gated against (baseline, else reference)
    cur: np.ndarray
    serving: np.ndarray
    bucket: np.ndarray     # hourly bucket of each row (-1 for training rows)
    starts: list[datetime]
    b_base: np.ndarray     # bucket masks
    b_cur: np.ndarray
    b_upto: np.ndarray
    times: np.ndarray      # timestamps as datetime64[ns]
    ref_name: str

    @classmethod
    def build(cls, frame: pd.DataFrame, bundle: Bundle) -> _Context | None:
        inc = bundle.incident
        ts = frame["timestamp"]
        serving = (frame["role"] == "serving").to_numpy()
        train = ~serving
        base = serving & ((ts >= inc.baseline.start) & (ts < inc.baseline.end)).to_numpy()
        cur = serving & ((ts >= inc.current.start) & (ts < inc.current.end)).to_numpy()
        if cur.sum() < MIN_ROWS:
            return None
        use_train = train.sum() >= MIN_ROWS
        ref = train if use_train else base
        if ref.sum() < MIN_ROWS:
            return None
        prior = base if base.sum() >= MIN_ROWS else ref
        ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        origin = ns[serving].min() // HOUR_NS * HOUR_NS
        bucket = np.where(serving, (ns - origin) // HOUR_NS, -1)
        n_buckets = int(bucket.max()) + 1
        starts = [(pd.Timestamp(origin, tz="UTC") + pd.Timedelta(hours=h)).to_pydatetime() for h in range(n_buckets)]
        return cls(ref=ref, prior=prior, cur=cur, serving=serving, bucket=bucket, starts=starts,
                   b_base=np.array([inc.baseline.contains(s) for s in starts]),
                   b_cur=np.array([inc.current.contains(s) for s in starts]),
                   b_upto=np.array([s < inc.current.end for s in starts]),
                   times=ts.to_numpy(dtype="datetime64[ns]"), ref_name="training" if use_train else "baseline")

    def onset(self, series: np.ndarray, floor: float) -> datetime | None:
        return bucket_onset(series, self.b_base, self.b_upto, self.starts, self.b_cur, floor)

    def per_bucket(self, mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``weights`` (or count) of the serving rows in ``mask``, per bucket."""
        m = mask & self.serving
        w = None if weights is None else weights[m]
        return np.bincount(self.bucket[m], weights=w, minlength=len(self.starts)).astype(float)


@dataclass
class _Measured:
    """One feature's tests, and how to compute its per-bucket series (deferred: only a changed feature
    needs them). ``series`` maps a Test's name to (per-bucket series, floor of its onset threshold)."""

    shift: Test
    top: Test
    constant: bool
    series: dict[str, Callable[[], tuple[np.ndarray, float]]]
    out_of_range: Test | None = None
    unseen: Test | None = None
    detect: Callable[[datetime], datetime | None] | None = None
    finish: Callable[[], None] | None = None   # the costlier descriptive features, for a changed feature


def _unmeasured() -> _Measured:
    """A feature with too few values of its type in a window to compare distributions: no shift, no freeze."""
    return _Measured(shift=Test(effect=0.0, p_value=1.0), top=Test(effect=0.0, p_value=1.0), constant=False,
                     series={})


# --------------------------------------------------------------------------------------------- value types
def _blank_as_null(col: pd.Series) -> pd.Series:
    """``col`` with its blank or whitespace-only strings as nulls: a CSV or a text column of numbers writes a
    missing value as ``""``, and read as text it made the feature a schema change instead of missing values.
    Each distinct value is looked at once (a feature column repeats a few)."""
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return col
    codes, distinct = pd.factorize(col)
    blank = np.fromiter((isinstance(v, str) and not v.strip() for v in distinct), dtype=bool, count=len(distinct))
    if not blank.any():
        return col
    return col.mask(np.append(blank, False)[codes])   # code -1 (a null already): kept


def _type_classes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(numeric value or NaN, type class) of each row; nulls get class -1."""
    null = col.isna().to_numpy()
    if pd.api.types.is_bool_dtype(col):
        num = col.astype("float64").to_numpy()
        return num, np.where(null, -1, TEXT)  # booleans are two categories
    if pd.api.types.is_numeric_dtype(col):
        num = col.to_numpy(dtype=float, na_value=np.nan)
        return num, np.where(np.isnan(num), -1, NUMERIC)
    if isinstance(col.dtype, pd.StringDtype):
        # Every value is text: parse each distinct value once (a feature column repeats a few categories).
        is_text = ~null
        codes, distinct = pd.factorize(col)
        parsed = pd.to_numeric(pd.Series(distinct).astype("string"), errors="coerce")
        num = np.append(parsed.to_numpy(dtype=float, na_value=np.nan), np.nan)[codes]  # code -1 (null): NaN
    else:
        values = col.to_numpy(dtype=object)
        is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=values.size)
        num = pd.to_numeric(col.astype("string") if is_text.any() else col, errors="coerce")
        num = num.to_numpy(dtype=float, na_value=np.nan)
    cls = np.where(is_text, np.where(np.isnan(num), TEXT, NUMERIC_TEXT), NUMERIC)
    return num, np.where(null, -1, cls)


def _class_share(cls: np.ndarray, mask: np.ndarray, dominant: int) -> tuple[float, float]:
    c = cls[mask]
    c = c[c >= 0]
    return float((c != dominant).sum()), float(c.size)


# --------------------------------------------------------------------------------------------- one feature
def feature_change(col: pd.Series, feature: str, ctx: _Context, bundle: Bundle) -> FeatureChange | None:
    """Measure one feature column's change; None when the reference has too few non-null values.

    A feature whose current window (or baseline) holds too few values of the reference's type to compare
    distributions, because it went null or turned into another type, is still measured: its null-rate and
    value-type tests speak, its distribution tests are absent (NaN to the ranker)."""
    col = _blank_as_null(col)
    num, cls = _type_classes(col)
    ref_cls = cls[ctx.ref]
    ref_cls = ref_cls[ref_cls >= 0]
    if ref_cls.size < MIN_ROWS:
        return None
    dominant = int(np.bincount(ref_cls).argmax())
    numeric = dominant != TEXT and np.isin(ref_cls, (NUMERIC, NUMERIC_TEXT)).mean() >= 0.95
    f: dict[str, float] = {f"{NS}.categorical": float(not numeric)}
    evidence: list[Evidence] = []

    # Type change: the share of current values of another type class than the reference's usual one.
    d0, d1, p_d = share_test(*_class_share(cls, ctx.prior, dominant), *_class_share(cls, ctx.cur, dominant))
    dtype = Test(effect=d1 - d0, p_value=p_d, baseline=d0, current=d1)
    dtype_changed = dtype.passes(0.01)
    f[f"{NS}.type_share_delta"], f[f"{NS}.dtype_changed"] = d1 - d0, float(dtype_changed)

    # Null rate, counting a value that stands for missing ones (-999) as null.
    null = cls < 0
    sentinel = _sentinel(num, ctx) if numeric else None
    missing = null if sentinel is None else null | (num == sentinel)
    r0, r1, p_null = share_test(missing[ctx.prior].sum(), ctx.prior.sum(), missing[ctx.cur].sum(), ctx.cur.sum())
    nulls = Test(effect=r1 - r0, p_value=p_null, baseline=r0, current=r1)
    f[f"{NS}.null_jump"], f[f"{NS}.null_p_log10"] = r1 - r0, log10p(p_null)

    measure = _numeric if numeric else _categorical
    m = measure(num if numeric else col, ctx, f, evidence, feature) or _unmeasured()
    change = FeatureChange(feature=feature, signal=SIGNAL, shift=m.shift,
                           shift_test=("ks" if numeric else "chi2") if m.series else "none",
                           nulls=nulls, out_of_range=m.out_of_range, unseen=m.unseen, top_share=m.top,
                           dtype_changed=dtype_changed, constant=m.constant, features=f, evidence=evidence)
    if not propose(change, bundle, "samples"):
        return change  # unchanged: no onset work, but it still counts in the incident's ranks

    # Onsets, only for a feature that changed.
    obs = ctx.per_bucket(np.ones_like(null))
    other_type = (cls >= 0) & (cls != dominant)
    with np.errstate(invalid="ignore", divide="ignore"):
        m.series["nulls"] = lambda: (ctx.per_bucket(missing) / obs, r0 + 0.005)
        m.series["dtype"] = lambda: (ctx.per_bucket(other_type) / ctx.per_bucket(~null), d0 + 0.005)
        tests = {"shift": m.shift, "nulls": nulls, "dtype": dtype, "out_of_range": m.out_of_range,
                 "unseen": m.unseen, "top": m.top}
        drift = None
        for name, make in m.series.items():
            series, floor = make()
            tests[name].onset = ctx.onset(series, floor)
            if name == "shift":
                drift = series
    change.dtype_onset = dtype.onset
    if m.finish is not None:
        m.finish()
    if m.shift.onset is not None and m.detect is not None:
        m.shift.onset = m.detect(m.shift.onset) or m.shift.onset
    change.step_score = step_vs_trend(drift[ctx.b_upto]).score if drift is not None else 0.0
    onset = m.shift.onset or nulls.onset or dtype.onset or bundle.incident.current.start
    f[f"{NS}.step_vs_trend"] = change.step_score
    f[f"{NS}.onset_hours"] = hours_between(bundle.incident.current.start, onset)   # samples are events: no grid
    f.update(deploy_features(bundle, feature, onset, 1.0, NS))
    if nulls.effect > 0:
        evidence.append(Evidence(signal=SIGNAL, test="null_rate", value=r1 - r0, baseline=r0, current=r1,
                                 p_value=p_null, onset=nulls.onset,
                                 detail=None if sentinel is None else f"counting {sentinel:g} as missing: the one "
                                 f"value outside the {ctx.ref_name} range the current window holds"))
    if dtype_changed:
        evidence.append(Evidence(signal=SIGNAL, test="dtype", value=d1 - d0, baseline=d0, current=d1, p_value=p_d,
                                 onset=dtype.onset, detail="share of values of another type than in "
                                 f"{ctx.ref_name} ({_CLASS_NAMES[dominant]})"))
    onset_of = {"ks": m.shift, "chi2": m.shift, "psi": m.shift, "wasserstein": m.shift, "mean_shift": m.shift,
                "top_share": m.top,
                "out_of_range_share": m.out_of_range, "unseen_categories": m.unseen}
    for e in evidence:
        if e.onset is None and onset_of.get(e.test) is not None:
            e.onset = onset_of[e.test].onset
    change.features = {k: float(v) for k, v in f.items()}
    return change


def _sentinel(num: np.ndarray, ctx: _Context) -> float | None:
    """The value a pipeline writes for a missing one (-999, -1 for a share), if the current window has one: a
    single value outside the reference's range, farther from it than the range is wide (chosen as no value the
    feature can take), holding at least `SENTINEL_SHARE` of the current values and `SENTINEL_PURITY` of those
    outside the range (a unit change spreads them over many values); the reference never holds it. None when
    there is none.

    Such a fill reads as numbers out of range, a schema change, and the null rate did not move: the feature's
    values went missing without a missing_values cause. A value next to the range (a 0 below amounts from 1.5, a
    count's new maximum) is not taken for one: a default a failing lookup returns is its dependency's failure,
    and a new value may be real."""
    ok = ~np.isnan(num)
    ref = num[ctx.ref & ok]
    if ref.size < MIN_ROWS:
        return None
    cur = num[ctx.cur & ok]
    lo, hi = ref.min(), ref.max()
    outside = cur[(cur < lo) | (cur > hi)]
    if outside.size == 0 or outside.size < SENTINEL_SHARE * cur.size:
        return None
    values, counts = np.unique(outside, return_counts=True)
    i = int(np.argmax(counts))
    if counts[i] < SENTINEL_SHARE * cur.size or counts[i] < SENTINEL_PURITY * outside.size:
        return None
    value = float(values[i])
    return value if max(lo - value, value - hi) > hi - lo else None


_CLASS_NAMES = {NUMERIC: "numbers", NUMERIC_TEXT: "numbers as text", TEXT: "text"}


def _numeric(num: np.ndarray, ctx: _Context, f: dict, evidence: list, feature: str) -> _Measured | None:
    ok = ~np.isnan(num)
    ref = np.sort(num[ctx.ref & ok])
    prior = ref if ctx.prior is ctx.ref else np.sort(num[ctx.prior & ok])
    cur = np.sort(num[ctx.cur & ok])
    if ref.size < MIN_ROWS or prior.size < MIN_ROWS or cur.size < MIN_ROWS:
        return None
    gate = ks_sorted(prior, cur)
    edges = np.unique(np.quantile(ref, np.linspace(0.1, 0.9, 9)))

    def deciles(x):
        return np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1)

    ref_d, cur_d = deciles(ref), deciles(cur)
    psi_ref, psi_prior = psi(ref_d, cur_d), psi(ref_d if prior is ref else deciles(prior), cur_d)
    lo, hi = ref[0], ref[-1]
    o0, o1, p_oor = share_test(float(((prior < lo) | (prior > hi)).sum()), prior.size,
                               float(((cur < lo) | (cur > hi)).sum()), cur.size)
    # Frozen values: the current window's most common value, its share then and now; spread and distinct values.
    starts = np.flatnonzero(np.r_[True, cur[1:] != cur[:-1]])
    runs = np.diff(np.r_[starts, cur.size])
    top_val = cur[starts[np.argmax(runs)]]
    top_prior_n = np.searchsorted(prior, top_val, "right") - np.searchsorted(prior, top_val, "left")
    t0, t1, p_top = share_test(float(top_prior_n), prior.size, float(runs.max()), cur.size)
    prior_top = _max_run(prior) / prior.size
    uniq_prior, uniq_cur = _n_unique(prior) / prior.size, starts.size / cur.size
    std_prior, std_cur = float(np.std(prior)), float(np.std(cur))
    # Constant: the current window ends in a run of hours where one value holds >= 98% of the values.
    with np.errstate(invalid="ignore", divide="ignore"):
        top_hourly = ctx.per_bucket(ok & (num == top_val)) / ctx.per_bucket(ok)
    constant = prior_top < 0.9 and (starts.size == 1 or std_cur <= 1e-3 * std_prior
                                    or onset_index(top_hourly[ctx.b_cur] >= CONSTANT_SHARE) is not None)
    f.update({f"{NS}.ks_d_vs_baseline": gate.statistic, f"{NS}.shift_p_log10": log10p(gate.p_value),
              f"{NS}.psi": psi_ref, f"{NS}.psi_vs_baseline": psi_prior,
              f"{NS}.mean_log_ratio": _log_ratio(float(np.mean(ref)), float(np.mean(cur))),
              f"{NS}.oor_share_delta": o1 - o0, f"{NS}.top_share_delta": t1 - prior_top,
              f"{NS}.std_ratio": std_cur / std_prior if std_prior > 0 else 1.0,
              f"{NS}.unique_ratio": uniq_cur / uniq_prior if uniq_prior > 0 else 1.0,
              f"{NS}.constant": float(constant)})
    evidence += [Evidence(signal=SIGNAL, test="ks", value=gate.statistic, p_value=gate.p_value,
                          detail=f"{feature}: exact KS, current window vs "
                                 f"{'baseline window' if prior is not ref else ctx.ref_name}"),
                 Evidence(signal=SIGNAL, test="psi", value=psi_ref, baseline=0.0, current=psi_ref,
                          detail=f"PSI on {ctx.ref_name} deciles")]
    # A mean that moved by a tenth of a standard deviation is a shift even when the PSI on deciles stays under
    # its floor, as it does for a 0.2-sd shift of a normal feature (~0.04); Evidently's drift threshold on
    # large samples, a Wasserstein distance of 0.1 standard deviations, is the same size for a mean shift.
    # The KS gate still has to pass, so small windows are not blamed for noise.
    mean_shift = abs(float(np.mean(cur)) - float(np.mean(prior))) / std_prior if std_prior > 0 else 0.0
    shift_effect = psi_prior
    if psi_prior < SHIFT_PSI and mean_shift >= MEAN_SHIFT_SD and gate.p_value < P_GATE:
        shift_effect = SHIFT_PSI
        evidence.append(Evidence(signal=SIGNAL, test="mean_shift", value=mean_shift,
                                 baseline=float(np.mean(prior)), current=float(np.mean(cur)), p_value=gate.p_value,
                                 detail="mean moved, in standard deviations of the "
                                        f"{'baseline window' if prior is not ref else ctx.ref_name}"))
    if o1 > o0:
        evidence.append(Evidence(signal=SIGNAL, test="out_of_range_share", value=o1 - o0, baseline=o0, current=o1,
                                 p_value=p_oor, detail=f"outside the {ctx.ref_name} range [{lo:.6g}, {hi:.6g}]"))
    if constant:
        evidence.append(Evidence(signal=SIGNAL, test="top_share", value=t1 - prior_top, baseline=prior_top, current=t1,
                                 p_value=p_top, detail=f"values frozen: {starts.size} distinct, std {std_cur:.4g}"))
    shift = Test(effect=shift_effect, p_value=gate.p_value, baseline=0.0, current=psi_ref)
    oor = Test(effect=o1 - o0, p_value=p_oor, baseline=o0, current=o1)
    top = Test(effect=t1 - prior_top, p_value=p_top, baseline=prior_top, current=t1)
    srv = ctx.serving & ok
    outside = (num < lo) | (num > hi)
    series = {"shift": lambda: (ks_statistic_groups(ref, num[srv], ctx.bucket[srv], len(ctx.starts)), 0.0),
              "out_of_range": lambda: (ctx.per_bucket(outside & ok) / ctx.per_bucket(ok), o0 + 0.005),
              "top": lambda: (top_hourly, prior_top + 0.05)}

    def finish() -> None:
        vs_ref = gate if prior is ref else ks_sorted(ref, cur)
        scale, w = float(np.std(ref)), wasserstein_sorted(ref, cur)
        f.update({f"{NS}.ks_d": vs_ref.statistic, f"{NS}.ks_p_log10": log10p(vs_ref.p_value),
                  f"{NS}.wasserstein_rel": w / scale if scale > 0 else 0.0})
        evidence.append(Evidence(signal=SIGNAL, test="wasserstein", value=w,
                                 detail=f"in feature units, vs {ctx.ref_name} (std {scale:.4g})"))

    def detect(hour: datetime) -> datetime | None:
        """First rolling-KS detection in the serving stream from ``2 * ROLLING_WINDOW`` values before
        ``hour`` to two hours after it."""
        t = np.datetime64(pd.Timestamp(hour).tz_convert(None).to_datetime64(), "ns")
        stream = np.flatnonzero(srv & (ctx.times < t + np.timedelta64(2, "h")))
        first = int(np.searchsorted(ctx.times[stream], t))
        idx = stream[max(0, first - 2 * ROLLING_WINDOW):]
        hit = first_detection(prior, num[idx], window_size=ROLLING_WINDOW, alpha=ROLLING_ALPHA)
        return None if hit is None else pd.Timestamp(ctx.times[idx[hit]], tz="UTC").to_pydatetime(warn=False)

    return _Measured(shift=shift, top=top, constant=constant, series=series, out_of_range=oor, detect=detect,
                     finish=finish)


def _categorical(col: pd.Series, ctx: _Context, f: dict, evidence: list, feature: str) -> _Measured | None:
    codes, cats = pd.factorize(col.astype("string"), sort=True)
    valid = codes >= 0
    k = len(cats)
    if k == 0:
        return None

    def counts(mask):
        return np.bincount(codes[mask & valid], minlength=k).astype(float)

    ref, prior, cur = counts(ctx.ref), counts(ctx.prior), counts(ctx.cur)
    if ref.sum() < MIN_ROWS or prior.sum() < MIN_ROWS or cur.sum() < MIN_ROWS:
        return None
    gate = chi2_counts(prior, cur)
    psi_ref, psi_prior = psi(ref, cur), psi(prior, cur)
    new = ref == 0
    u0, u1, p_new = share_test(float(prior[new].sum()), prior.sum(), float(cur[new].sum()), cur.sum())
    i = int(np.argmax(cur))
    prior_top = prior.max() / prior.sum()
    t0, t1, p_top = share_test(prior[i], prior.sum(), cur[i], cur.sum())
    f.update({f"{NS}.chi2_p_log10": log10p(chi2_counts(ref, cur).p_value), f"{NS}.shift_p_log10": log10p(gate.p_value),
              f"{NS}.psi": psi_ref, f"{NS}.psi_vs_baseline": psi_prior, f"{NS}.js": js_distance(ref, cur),
              f"{NS}.unseen_share": u1, f"{NS}.top_share_delta": t1 - prior_top, f"{NS}.constant": 0.0})
    evidence += [Evidence(signal=SIGNAL, test="chi2", value=gate.statistic, p_value=gate.p_value,
                          detail=f"{feature}: current window vs "
                                 f"{'baseline window' if ctx.prior is not ctx.ref else ctx.ref_name}"),
                 Evidence(signal=SIGNAL, test="psi", value=psi_ref, baseline=0.0, current=psi_ref,
                          detail=f"PSI over categories vs {ctx.ref_name}")]
    if u1 > u0:
        evidence.append(Evidence(signal=SIGNAL, test="unseen_categories", value=u1, baseline=u0, current=u1,
                                 p_value=p_new, detail=", ".join(str(c) for c in cats[new][:20])[:200]))
    srv = ctx.serving & valid

    def rows() -> np.ndarray:
        flat = ctx.bucket[srv] * k + codes[srv]
        return np.bincount(flat, minlength=len(ctx.starts) * k).reshape(len(ctx.starts), k).astype(float)

    series = {"shift": lambda: (psi_rows(ref, rows()), 0.05),
              "unseen": lambda: (rows()[:, new].sum(1) / rows().sum(1), u0 + 0.005),
              "top": lambda: (ctx.per_bucket(valid & (codes == i)) / ctx.per_bucket(valid), prior_top + 0.05)}
    shift = Test(effect=psi_prior, p_value=gate.p_value, baseline=0.0, current=psi_ref)
    unseen = Test(effect=u1 - u0, p_value=p_new, baseline=u0, current=u1)
    top = Test(effect=t1 - prior_top, p_value=p_top, baseline=prior_top, current=t1)
    return _Measured(shift=shift, top=top, constant=False, series=series, unseen=unseen)


def _max_run(sorted_values: np.ndarray) -> int:
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    return int(np.diff(np.r_[starts, sorted_values.size]).max())


def _n_unique(sorted_values: np.ndarray) -> int:
    return int(1 + np.count_nonzero(sorted_values[1:] != sorted_values[:-1]))


def _log_ratio(m0: float, m1: float) -> float:
    """|log10| of the ratio of means (a unit change such as cents shows as ~2); 0 when undefined."""
    if m0 == 0 or m1 == 0 or (m0 > 0) != (m1 > 0):
        return 0.0
    return abs(float(np.log10(m1 / m0)))
