"""`simulate_incident`: one seeded, labeled incident bundle, written deterministically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from rca.contract.models import CauseKind, Label
from rca.contract.timestamps import format_timestamp
from rca.errors import ConfigError
from rca.simulate import signals, traces, traffic
from rca.simulate.decoys import Decoys
from rca.simulate.faults import NEEDS_LABELS, Fault, make_fault
from rca.simulate.world import build_world
from rca.simulate.write import write_json, write_jsonl, write_table

CALENDAR_START = datetime(2026, 1, 5, tzinfo=UTC)
ALL_KINDS = tuple(CauseKind)
# pairs that would blur each other's signal beyond what a label could honestly claim
_INCOMPATIBLE = {frozenset({CauseKind.MODEL_REGRESSION, CauseKind.CONCEPT_DRIFT})}


@dataclass(frozen=True)
class SimSize:
    """How big a simulated bundle is; 0 means "draw it at random in the corpus range".

    Parameters
    ----------
    predictions : rows of predictions.parquet (corpus: 2000-5000).
    features : model features (corpus: 20-80).
    traces : traced requests (corpus: 200-500).
    hours : hourly buckets covering baseline and current windows (>= current_hours + 6).
    current_hours : length of the current window.
    population : simulated requests behind histograms and KPIs (0: max(12000, 2 x predictions)).
    metric_step_minutes : resolution of metrics.parquet.
    samples : serving rows in feature_samples when that family is present.
    """

    predictions: int = 0
    features: int = 0
    traces: int = 0
    hours: int = 30
    current_hours: int = 6
    population: int = 0
    metric_step_minutes: int = 10
    samples: int = 300

    def check(self) -> None:
        for name in ("predictions", "features", "traces", "population"):
            if getattr(self, name) < 0:
                raise ConfigError(f"SimSize.{name}", getattr(self, name), "an integer >= 0 (0 = random)")
        if self.features and self.features < 5:
            raise ConfigError("SimSize.features", self.features, "0 or at least 5")
        if self.current_hours < 2 or self.hours < self.current_hours + 6:
            raise ConfigError("SimSize.hours", (self.hours, self.current_hours),
                              "current_hours >= 2 and hours >= current_hours + 6")
        if self.metric_step_minutes < 1 or 60 % self.metric_step_minutes:
            raise ConfigError("SimSize.metric_step_minutes", self.metric_step_minutes, "a divisor of 60")


def plan_kinds(rng: np.random.Generator) -> list[CauseKind]:
    """One random cause kind, or two (about 10% of incidents)."""
    first = ALL_KINDS[rng.integers(len(ALL_KINDS))]
    if rng.uniform() >= 0.1:
        return [first]
    others = [k for k in ALL_KINDS if k != first and frozenset({first, k}) not in _INCOMPATIBLE]
    return [first, others[rng.integers(len(others))]]


def simulate_incident(out_dir: Path, *, seed: int, kinds: list[CauseKind] | None = None,
                      size: SimSize | None = None, detected_at: datetime | None = None,
                      incident_id: str | None = None, all_families: bool = False, deploys: bool = False) -> Label:
    """Simulate one labeled incident and write its bundle (with ``label.json``) into ``out_dir``.

    Parameters
    ----------
    out_dir : a new or empty directory.
    seed : everything follows from it; the same arguments give byte-identical files.
    kinds : the true cause kinds to inject (one or two); random when None (about 10% get two).
    size : sizes of the signals (`SimSize`); the corpus defaults when None.
    detected_at : when the incident is detected; the windows end at its hour. Random in 2026 when None.
    incident_id : ``incident.json`` id; ``sim-<seed>`` when None.
    all_families : keep every signal family (tests, benchmarks); otherwise some are dropped at random.
    deploys : the benign model rollover (a decoy) may land in the current window (`Decoys`).

    Returns
    -------
    Label
        What was written to ``label.json``: the causes (node, kind, onset, magnitude, notes), the decoys.

    Raises
    ------
    ConfigError
        For a non-empty ``out_dir``, bad sizes, or an incompatible pair of kinds.
    """
    size = size or SimSize()
    size.check()
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError("out_dir", str(out_dir), "a new or empty directory")
    rng = np.random.default_rng(seed)
    kinds = [CauseKind(k) for k in kinds] if kinds else plan_kinds(rng)
    if len(set(kinds)) != len(kinds) or frozenset(kinds) in _INCOMPATIBLE or not 1 <= len(kinds) <= 2:
        raise ConfigError("kinds", [str(k) for k in kinds], "one or two distinct, compatible cause kinds")
    if detected_at is None:
        detected_at = CALENDAR_START + timedelta(hours=int(rng.integers(0, 360 * 24)),
                                                 minutes=int(rng.integers(5, 25)))
    n_pred = size.predictions or int(rng.integers(2000, 5001))
    world = build_world(rng, detected_at=detected_at, n_features=size.features or None, hours=size.hours,
                        current_hours=size.current_hours)
    subtle = bool(rng.uniform() < 1 / 3)

    needs_labels = any(k in NEEDS_LABELS for k in kinds)
    has_labels = all_families or needs_labels or rng.uniform() >= 0.15
    has_traces = all_families or rng.uniform() >= 0.15
    has_graph = all_families or rng.uniform() >= 0.15
    has_samples = all_families or rng.uniform() < 0.25
    kpi_names = _kpis(world.kpis, kinds, has_labels)

    population = size.population or max(12_000, 2 * n_pred)
    sim = traffic.Sim(world=world, rng=rng, n=population, n_train=min(population, 8000))
    current_start = (size.hours - size.current_hours) * 60
    taken: set[str] = set()
    faults: list[Fault] = []
    for kind in kinds:
        onset = current_start + int(rng.integers(0, min(150, size.current_hours * 60 - 120)))
        fault = make_fault(kind, world, rng, onset=onset, subtle=subtle, taken=taken)
        taken.add(fault.node)
        faults.append(fault)
    decoys = Decoys(world, rng, taken=taken, current_start=current_start, minutes=size.hours * 60, deploys=deploys)
    hooks = [decoys, *faults]

    traffic.setup(sim)
    for h in hooks:
        h.world_shape(sim)
    traffic.requests(sim)
    traffic.true_features(sim)
    for h in hooks:
        h.true_features(sim)
    traffic.service_calls(sim)
    traffic.served_features(sim)
    for h in hooks:
        h.served_features(sim)
    traffic.default_versions(sim)
    for h in hooks:
        h.scoring(sim)
    traffic.scores(sim)
    for h in hooks:
        h.labels(sim)
    traffic.true_labels(sim)
    for h in hooks:
        h.observed_labels(sim)

    rows = np.sort(rng.choice(population, min(n_pred, population), replace=False))
    n_traces = size.traces or int(rng.integers(200, 501))
    traced = np.sort(rng.choice(rows, min(n_traces, len(rows)), replace=False)) if has_traces else rows[:0]
    ids = traces.trace_ids(sim, traced)

    out_dir.mkdir(parents=True, exist_ok=True)
    incident = {"id": incident_id or f"sim-{seed}", "model": world.model,
                "detected_at": format_timestamp(detected_at),
                "baseline": {"start": format_timestamp(world.baseline_start),
                             "end": format_timestamp(world.current_start)},
                "current": {"start": format_timestamp(world.current_start),
                            "end": format_timestamp(world.current_end)},
                "symptom": signals.symptom(sim, kpi_names)}
    write_json(out_dir / "incident.json", incident)
    write_table(out_dir / "predictions.parquet", signals.predictions(sim, rows, with_labels=has_labels,
                                                                     trace_ids=ids))
    write_jsonl(out_dir / "histograms.jsonl", signals.histograms(sim))
    if has_samples:
        sample_rows = np.sort(rng.choice(rows, min(size.samples, len(rows)), replace=False))
        write_table(out_dir / "feature_samples.parquet", signals.feature_samples(sim, sample_rows, 200))
    if has_traces:
        write_jsonl(out_dir / "traces.jsonl", traces.traces(sim, ids))
    write_table(out_dir / "kpis.parquet", signals.kpis(sim, kpi_names))
    write_table(out_dir / "metrics.parquet", signals.metrics(sim, size.metric_step_minutes))
    write_jsonl(out_dir / "events.jsonl", sorted(sim.events, key=lambda e: (e["timestamp"], e["target"])))
    if has_graph:
        write_json(out_dir / "graph.json", traces.graph(sim, kpi_names, with_labels=has_labels))
    missing = [name for name, ok in (("labels", has_labels), ("traces", has_traces), ("graph", has_graph),
                                     ("feature_samples", has_samples)) if not ok]
    label = {"causes": [f.cause() for f in faults], "source": "simulated",
             "notes": "; ".join(f.notes for f in faults), "seed": seed, "missing": missing,
             "decoys": decoys.listed}
    write_json(out_dir / "label.json", label)
    return Label.model_validate(label)


def _kpis(names: tuple[str, ...], kinds: list[CauseKind], has_labels: bool) -> tuple[str, ...]:
    out = list(names)
    if not has_labels and "model_precision" in out:
        out.remove("model_precision")
    if has_labels and {CauseKind.LABEL_ISSUE, CauseKind.CONCEPT_DRIFT} & set(kinds) and "model_precision" not in out:
        out.append("model_precision")
    for extra in ("requests", "p95_latency_ms"):
        if len(out) < 2 and extra not in out:
            out.append(extra)
    return tuple(out)
