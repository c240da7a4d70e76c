"""The evidence data (known answers on a hand-built bundle) and the SVG charts (valid, deterministic, marked)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import numpy as np
import pytest

from rca.console import charts, evidence
from rca.contract import bundle_from_dict
from rca.stats.quality import auc
from tests.console.incident import ONSET, incident_body

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def bundle():
    return bundle_from_dict(incident_body(), source="test")


def _ids(svg: str) -> set[str]:
    return {el.get("id") for el in ET.fromstring(svg).iter() if el.get("id")}


def test_feature_histogram_shares_match_the_counts(bundle):
    data = evidence.feature_histograms(bundle, "amount")
    assert data.bins == ["0–10", "10–50", "50–100", "100–500", "500–1000", "> 1000", "null"]
    assert data.training == pytest.approx(np.array([300, 400, 200, 90, 10, 0, 2]) / 1002)
    current = [h for h in bundle.histograms["amount"].serving if h.start >= ONSET]
    counts = np.sum([h.counts + [h.overflow, h.nulls] for h in current], axis=0)
    assert data.current == pytest.approx(counts / counts.sum())
    assert evidence.feature_histograms(bundle, "no_such_feature") is None


def test_latency_percentiles_come_from_the_window_spans(bundle):
    data = evidence.latency(bundle)
    assert data.source == "traces" and [r.service for r in data.rows] == ["api", "feature-store", "model-server"]
    spans = bundle.spans
    fs = spans[(spans["service"] == "feature-store") & (spans["start"] >= ONSET)
               & (spans["start"] < datetime(2026, 11, 20, 14, tzinfo=UTC))]["duration_ms"]
    assert data.rows[1].p95_after == pytest.approx(np.quantile(fs, 0.95))


def test_quality_is_auc_by_version_and_segment(bundle):
    data = evidence.quality(bundle)
    assert data.metric == "AUC"
    p = bundle.predictions
    cur = p[(p["timestamp"] >= ONSET) & (p["timestamp"] < datetime(2026, 11, 20, 14, tzinfo=UTC))]
    br = cur[cur["country"] == "BR"]
    row = next(r for r in data.rows if r.group == "country=BR")
    assert row.current == pytest.approx(auc(br["label"], br["score"])) and row.n_current == len(br)
    assert row.baseline > row.current  # the simulated incident made the scores noisier


def test_charts_are_valid_deterministic_svg_with_their_marks(bundle):
    kpi = evidence.kpi_series(bundle, onset=ONSET.to_pydatetime())
    svg = charts.kpi_svg(kpi)
    assert svg == charts.kpi_svg(kpi)
    ET.fromstring(svg)  # well-formed XML
    assert {"onset", "event-0", "kpi-series"} <= _ids(svg)
    assert "pipeline_deploy pipeline:features" in svg and "approval_rate" in svg
    no_onset = charts.kpi_svg(evidence.kpi_series(bundle, onset=None))
    assert "onset" not in _ids(no_onset)
    for draw, data, text in ((charts.histogram_svg, evidence.feature_histograms(bundle, "amount"), "training"),
                             (charts.latency_svg, evidence.latency(bundle), "p95 after"),
                             (charts.quality_svg, evidence.quality(bundle), "country=BR")):
        svg = draw(data)
        assert ET.fromstring(svg).tag == SVG + "svg" and text in svg and svg == draw(data)


def test_absent_families_give_no_chart_data(bundle):
    body = incident_body()
    for family in ("kpis", "traces", "metrics", "predictions"):
        body.pop(family)
    bare = bundle_from_dict(body, source="test")
    assert evidence.kpi_series(bare, onset=None) is None
    assert evidence.latency(bare) is None
    assert evidence.quality(bare) is None


def test_a_kpi_with_a_single_point_is_still_drawn(bundle):
    """One KPI row is a line of one point, which matplotlib draws as nothing: the chart showed the windows and
    an empty axis. The point is marked then (and only then: a series keeps its plain line)."""
    kpi = evidence.kpi_series(bundle, onset=None)
    one = dataclasses.replace(kpi, times=kpi.times[-1:], values=kpi.values[-1:])

    def marks(svg: str) -> list:
        series = next(el for el in ET.fromstring(svg).iter() if el.get("id") == "kpi-series")
        return [el for el in series.iter() if el.tag == SVG + "use"]

    assert len(marks(charts.kpi_svg(one))) == 1
    assert marks(charts.kpi_svg(kpi)) == []


def test_long_names_leave_every_text_inside_the_chart(monkeypatch):
    """Long service names pushed the axes right and the axes-centred title off the figure's edge."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figures = []

    def lay_out(draw) -> str:     # what `charts._svg` does, on the Agg canvas, keeping the figure
        with matplotlib.rc_context(charts.SVG_RC):
            fig = draw()
            FigureCanvasAgg(fig).draw()   # lays the figure out and places every text
        figures.append(fig)
        return ""

    monkeypatch.setattr(charts, "_svg", lay_out)
    names = ["lambdastatusupdater_AWS::Lambda::Function", "servi-searc.us-west-2.elb.amazonaws.com_remote", "db"]
    charts.latency_svg(evidence.LatencyData("metrics", [evidence.LatencyRow(n, 10, 20, 30, 400) for n in names]))
    charts.quality_svg(evidence.QualityData("AUC", [evidence.QualityRow(f"segment={'x' * 60}", 0.9, 0.7, 50)]))
    for fig in figures:
        box = fig.bbox
        texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text() and t.get_visible()]
        assert any("latency per service" in t.get_text() or "AUC by" in t.get_text() for t in texts)
        for t in texts:
            extent = t.get_window_extent()
            assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, t.get_text()
    assert charts._short("a" * 100) == "a" * 16 + "…" + "a" * 17 and charts._short("db") == "db"


def test_a_label_with_a_control_character_still_makes_an_svg():
    """A category 'x\x01y' (or a KPI name with a NUL) was written into the SVG as it came: no XML, a broken image."""
    data = evidence.HistogramData(feature="f\x00<x>", bins=["x\x01y", "null"], training=[0.5, 0.5],
                                  baseline=[0.5, 0.5], current=[0.9, 0.1])
    root = ET.fromstring(charts.histogram_svg(data))
    texts = "".join(el.text or "" for el in root.iter())
    assert "x\ufffdy" in texts
