"""The benchmarks keep running: tiny sizes, checked for shape and for what they measure, never for speed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import drift, run_all
from bench.common import loglog_slope


def test_loglog_slope_recovers_known_exponents():
    sizes = np.array([10, 100, 1000, 10000])
    assert loglog_slope(sizes, 3e-4 * sizes) == pytest.approx(1.0)
    assert loglog_slope(sizes, 2e-6 * sizes**2) == pytest.approx(2.0)
    assert loglog_slope(sizes, np.sqrt(sizes)) == pytest.approx(0.5)


def test_drift_agreement_counts_sets():
    a = drift.agreement({"f1", "f2", "f3"}, {"f2", "f3", "f4", "f5"})
    assert a == {"jaccard": pytest.approx(2 / 5), "precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 4)}


def test_drift_samples_drift_where_the_truth_says():
    reference, current, truth = drift.make_samples(20, 4000)
    assert list(reference.columns) == list(current.columns) and len(truth) == 4
    for name in reference.columns:
        if not pd.api.types.is_numeric_dtype(reference[name]):
            continue
        moved = abs(current[name].mean() - reference[name].mean()) / reference[name].std()
        ratio = current[name].std() / reference[name].std()
        assert (moved > 0.1 or abs(ratio - 1) > 0.2) == (name in truth), name


def test_run_all_quick_drift_writes_the_document(tmp_path):
    results = run_all.main(["--quick", "--only", "drift", "--out", str(tmp_path / "b.md")])
    text = (tmp_path / "b.md").read_text()
    assert "## The drift stage against Evidently" in text
    ours = results["drift"]["ours"]
    assert ours["recall"] > 0 and ours["precision"] > 0  # the quick data has large drifts our stage must find
    assert (tmp_path / "figures" / "bench-results.json").is_file()
    machine = results["machine"]
    assert machine["reference_s_at_start"] > 0 and machine["reference_s_at_end"] > 0
    assert f"took {machine['reference_s_at_start']:.3f} s at the start" in text


def test_run_all_rejects_an_unknown_benchmark(tmp_path):
    with pytest.raises(SystemExit):
        run_all.main(["--quick", "--only", "nope", "--out", str(tmp_path / "b.md")])
