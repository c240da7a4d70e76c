"""Families sent with no data in the current or the baseline window: named in the answer (``empty_windows``),
in `rca analyze`'s table, and given there as the reason for an answer without causes."""

from __future__ import annotations

import json

import pandas as pd

from rca.cli import render_table
from rca.contract import Answer, EmptyWindow, empty_windows, load_bundle
from rca.generators.histograms import feature_change
from rca.generators.kpis import score_kpis
from rca.generators.metrics import score_series
from rca.generators.windows import first_observation
from tests.builders import INCIDENT, add_current_trace
from tests.test_contract_errors import run_cli

CURRENT_START, CURRENT_END = (pd.Timestamp(INCIDENT["current"][k]) for k in ("start", "end"))


def _gaps(bundle) -> list[tuple[str, str]]:
    return [(gap.family, gap.window) for gap in empty_windows(bundle)]


def _keep_metrics(root, keep) -> None:
    frame = pd.read_parquet(root / "metrics.parquet")
    frame[keep(frame["timestamp"])].to_parquet(root / "metrics.parquet")


def _keep_kpis(root, keep) -> None:
    frame = pd.read_csv(root / "kpis.csv")
    frame[keep(pd.to_datetime(frame["timestamp"], unit="ms", utc=True))].to_csv(root / "kpis.csv", index=False)


def _edit_histograms(root, edit) -> None:
    lines = [json.loads(x) for x in (root / "histograms.jsonl").read_text().splitlines()]
    lines = [h for h in map(edit, lines) if h is not None]
    (root / "histograms.jsonl").write_text("\n".join(json.dumps(h) for h in lines) + "\n")


def test_a_bundle_with_data_in_both_windows_names_none(bundle_dir, capsys):
    assert _gaps(load_bundle(bundle_dir)) == [("traces", "current")]   # the builder's two spans are at its start
    add_current_trace(bundle_dir)
    assert _gaps(load_bundle(bundle_dir)) == []
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code in (0, None), out.err
    assert "window data" not in out.out
    code, out = run_cli(capsys, "analyze", str(bundle_dir), "--format", "json")
    assert json.loads(out.out)["empty_windows"] == []


def test_families_with_rows_in_one_window_only_are_named_in_the_answer_and_the_table(bundle_dir, capsys):
    add_current_trace(bundle_dir)
    _keep_metrics(bundle_dir, lambda ts: ts < CURRENT_START)     # a collection gap: baseline rows only
    _keep_kpis(bundle_dir, lambda ts: ts >= CURRENT_START)       # a late backfill: current rows only
    bundle = load_bundle(bundle_dir)
    assert score_series(bundle) == [] and score_kpis(bundle) == []   # what the generators compared: nothing
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code in (0, None), out.err
    lines = [line for line in out.out.splitlines() if "-window data" in line]
    assert lines == ["no current-window data  metrics (nothing to compare: check the windows or the collection)",
                     "no baseline-window data  kpis (nothing to compare: check the windows or the collection)"]
    code, out = run_cli(capsys, "analyze", str(bundle_dir), "--format", "json")
    assert json.loads(out.out)["empty_windows"] == [{"family": "metrics", "window": "current"},
                                                    {"family": "kpis", "window": "baseline"}]


def test_windows_are_read_as_the_generators_slice_them(bundle_dir):
    add_current_trace(bundle_dir)
    # a row at the current window's end is after it ([start, end)), as for every generator
    _keep_metrics(bundle_dir, lambda ts: (ts < CURRENT_START) | (ts == CURRENT_END - pd.Timedelta(hours=1)))
    assert _gaps(load_bundle(bundle_dir)) == []
    _keep_metrics(bundle_dir, lambda ts: ts != CURRENT_END - pd.Timedelta(hours=1))
    frame = pd.read_parquet(bundle_dir / "metrics.parquet")
    pd.concat([frame, frame.iloc[:1].assign(timestamp=CURRENT_END)]).to_parquet(bundle_dir / "metrics.parquet")
    bundle = load_bundle(bundle_dir)
    assert _gaps(bundle) == [("metrics", "current")] and score_series(bundle) == []

    # a serving bucket counts by its start, as the histogram generator takes it: one opening half an hour before
    # the window overlaps it, yet is not compared
    def early(h):
        if h["role"] == "serving":
            start = CURRENT_START - pd.Timedelta(minutes=30)
            h["start"], h["end"] = start.isoformat(), (start + pd.Timedelta(hours=1)).isoformat()
        return h

    _edit_histograms(bundle_dir, early)
    bundle = load_bundle(bundle_dir)
    assert ("histograms", "current") in _gaps(bundle)
    assert feature_change(bundle.histograms["amount"], bundle, first_observation(bundle)) is None


def test_a_training_reference_makes_the_baseline_window_unneeded(bundle_dir):
    add_current_trace(bundle_dir)
    samples = pd.DataFrame({"timestamp": pd.date_range(CURRENT_START, periods=40, freq="5min"), "amount": 1.0})
    samples.to_csv(bundle_dir / "feature_samples.csv", index=False)               # serving rows, current only
    assert _gaps(load_bundle(bundle_dir)) == [("feature_samples", "baseline")]     # histograms: training reference
    training = samples.assign(role="training")   # stamped in the current window, as an export might date them
    pd.concat([training, samples.assign(role="serving")]).to_csv(bundle_dir / "feature_samples.csv", index=False)
    _edit_histograms(bundle_dir, lambda h: None if h["role"] == "training" else h)
    assert _gaps(load_bundle(bundle_dir)) == [("histograms", "baseline")]
    # training rows, whatever their time, are no current-window data: serving rows in the baseline only are not
    # compared
    baseline = samples.assign(timestamp=samples["timestamp"] - pd.Timedelta(hours=20), role="serving")
    pd.concat([training, baseline]).to_csv(bundle_dir / "feature_samples.csv", index=False)
    assert _gaps(load_bundle(bundle_dir)) == [("feature_samples", "current"), ("histograms", "baseline")]


def test_the_table_gives_the_empty_windows_as_the_reason_for_no_causes():
    gaps = [EmptyWindow(family="kpis", window="current"), EmptyWindow(family="metrics", window="current"),
            EmptyWindow(family="traces", window="baseline")]
    blind = render_table(Answer(incident="inc-1", ranker="r", causes=[], empty_windows=gaps))
    assert blind.splitlines()[1] == ("no current-window data  kpis, metrics (nothing to compare: check the windows "
                                     "or the collection)")
    assert blind.splitlines()[-1] == ("(no candidate causes: no current-window data of kpis, metrics and no "
                                      "baseline-window data of traces to compare; check the windows or the "
                                      "collection)")
    quiet = render_table(Answer(incident="inc-1", ranker="r", causes=[]))
    assert quiet.splitlines()[-1].startswith("(no candidate causes: no signal changed against its baseline")
