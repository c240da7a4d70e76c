"""The console's evidence charts: plain data in (`rca.console.evidence`), SVG text out. The only drawing here.

matplotlib's object API (no pyplot state) with the Agg canvas; the SVG is deterministic (fixed hash salt, no
date) and keeps text as text (so the page's fonts apply and tests can find the labels).
"""

from __future__ import annotations

import io
import re
import threading
import warnings

import numpy as np

from rca.console.evidence import HistogramData, KpiData, LatencyData, QualityData

BEFORE, AFTER, TRAINING = "#7f8c9a", "#c0392b", "#2e6f9e"
SVG_RC = {"svg.hashsalt": "rca-console", "svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
          "axes.spines.right": False}
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 does not allow, which matplotlib writes as they come: a category or KPI name holding one
(``x\x01y``) made the chart no SVG at all (the browser showed a broken image). Each shows as U+FFFD."""
_lock = threading.Lock()  # rcParams are process-global; one figure at a time
LABEL_CHARS = 34
"""Longer tick labels (service names, segment values) are cut in the middle: the axes keep room to draw, and
the page's tables carry the whole names."""


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _title(fig, text: str) -> None:
    """The chart's title, over the whole figure: an axes title is centred on the axes, which long tick labels
    push right, and ran off the figure's edge."""
    fig.suptitle(text)


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    """``label``, or its start and end around an ellipsis when longer than ``limit`` characters."""
    if len(label) <= limit:
        return label
    head = (limit - 1) // 2
    return f"{label[:head]}…{label[len(label) - (limit - 1 - head):]}"


def _svg(draw) -> str:
    import matplotlib

    with _lock, matplotlib.rc_context(SVG_RC), warnings.catch_warnings():
        # a name's character the font lacks (a control character, a script DejaVu does not cover) is text in the SVG
        # all the same, which the browser's fonts draw: no cause for a warning per chart in the service's log
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig = draw()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "rca"})
    return NOT_XML.sub("\ufffd", buf.getvalue())


def histogram_svg(data: HistogramData) -> str:
    """Training vs serving (baseline and current window) shares per bin of one feature."""
    series = [(name, values, color) for name, values, color in
              (("training", data.training, TRAINING), ("serving, baseline", data.baseline, BEFORE),
               ("serving, current", data.current, AFTER)) if values is not None]

    def draw():
        fig = _figure(6.4, 3.1)
        ax = fig.add_subplot()
        x = np.arange(len(data.bins))
        width = 0.8 / max(len(series), 1)
        for i, (name, values, color) in enumerate(series):
            ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name, color=color)
        ax.set_xticks(x, data.bins, rotation=30 if len(data.bins) > 6 else 0, ha="right" if len(data.bins) > 6
                      else "center")
        ax.set_ylabel("share of rows")
        _title(fig, f"feature {_short(data.feature, 2 * LABEL_CHARS)}: training vs serving")
        fig.legend(frameon=False, fontsize=7, loc="outside lower center", ncols=3)
        return fig

    return _svg(draw)


def latency_svg(data: LatencyData) -> str:
    """p50 and p95 per service, before (baseline window) and after (current window)."""

    def draw():
        fig = _figure(6.4, 1.3 + 0.45 * len(data.rows))
        ax = fig.add_subplot()
        y = np.arange(len(data.rows))
        names = [_short(r.service) for r in data.rows]
        for offset, attr, label, color, alpha in ((-0.3, "p50_before", "p50 before", BEFORE, 0.55),
                                                  (-0.1, "p95_before", "p95 before", BEFORE, 1.0),
                                                  (0.1, "p50_after", "p50 after", AFTER, 0.55),
                                                  (0.3, "p95_after", "p95 after", AFTER, 1.0)):
            ax.barh(y + offset, [getattr(r, attr) for r in data.rows], 0.2, label=label, color=color, alpha=alpha)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlabel("latency (ms)")
        source = "span durations" if data.source == "traces" else "reported latency metrics"
        _title(fig, f"latency per service, baseline vs current ({source})")
        fig.legend(frameon=False, ncols=4, loc="outside lower center", fontsize=7)
        return fig

    return _svg(draw)


def kpi_svg(data: KpiData) -> str:
    """The KPI series with the baseline and current windows shaded, the onset line and change events."""

    def draw():
        import matplotlib.dates as mdates

        fig = _figure(6.4, 3.1)
        ax = fig.add_subplot()
        ax.axvspan(*data.baseline, color=BEFORE, alpha=0.12, label="baseline window")
        ax.axvspan(*data.current, color=AFTER, alpha=0.12, label="current window")
        # a single point draws no line: mark the points then, or the chart shows only the windows
        ax.plot(data.times, data.values, color="#222", linewidth=1.2, gid="kpi-series",
                marker="o" if len(data.times) < 2 else None, markersize=4)
        if data.onset is not None:
            ax.axvline(data.onset, color=AFTER, linewidth=1.6, label="onset", gid="onset")
        for i, (when, label) in enumerate(data.events):
            ax.axvline(when, color="#8e44ad", linestyle="--", linewidth=1, gid=f"event-{i}", label=label)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        _title(fig, f"KPI {_short(data.name, 2 * LABEL_CHARS)}")
        fig.legend(frameon=False, fontsize=7, loc="outside lower center", ncols=3)
        return fig

    return _svg(draw)


def quality_svg(data: QualityData) -> str:
    """Quality by model version and by segment value, baseline vs current window."""

    def draw():
        fig = _figure(6.4, 1.3 + 0.4 * len(data.rows))
        ax = fig.add_subplot()
        y = np.arange(len(data.rows))
        nan = float("nan")
        ax.barh(y - 0.18, [nan if r.baseline is None else r.baseline for r in data.rows], 0.36,
                label="baseline", color=BEFORE)
        ax.barh(y + 0.18, [nan if r.current is None else r.current for r in data.rows], 0.36,
                label="current", color=AFTER)
        ax.set_yticks(y, [f"{_short(r.group)} (n={r.n_current})" for r in data.rows])
        ax.invert_yaxis()
        ax.set_xlabel(data.metric)
        if data.metric == "AUC":
            ax.set_xlim(0, 1)
        _title(fig, f"{data.metric} by model version and segment")
        fig.legend(frameon=False, fontsize=7, loc="outside lower center", ncols=2)
        return fig

    return _svg(draw)
