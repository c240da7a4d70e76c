"""One injector per cause kind, registered by kind.

A fault picks its target in the world, then changes the simulation through the hooks of
`rca.simulate.traffic.Hooks`. It never writes a signal directly: every trace of it in the bundle comes from
rendering, so what the label names is what the data shows (and what it causes downstream is a trap).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import numpy as np

from rca.contract.models import CauseKind
from rca.contract.nodes import labels_node, model_node, node_id, segment_node
from rca.contract.timestamps import format_timestamp
from rca.errors import UnknownNameError
from rca.simulate.traffic import Sim, sample_feature
from rca.simulate.world import Feature, World

NEEDS_LABELS = frozenset({CauseKind.CONCEPT_DRIFT, CauseKind.LABEL_ISSUE, CauseKind.MODEL_REGRESSION,
                          CauseKind.SEGMENT_SHIFT})
_REGISTRY: dict[CauseKind, type[Fault]] = {}


def register(kind: CauseKind):
    def wrap(cls: type[Fault]) -> type[Fault]:
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return wrap


def make_fault(kind: CauseKind | str, world: World, rng: np.random.Generator, *, onset: int, subtle: bool,
               taken: set[str]) -> Fault:
    """The injector of ``kind``, with its target chosen among nodes not in ``taken``."""
    try:
        cls = _REGISTRY[CauseKind(kind)]
    except (KeyError, ValueError):
        raise UnknownNameError("cause kind", str(kind), [str(k) for k in _REGISTRY]) from None
    return cls(world, rng, onset=onset, subtle=subtle, taken=taken)


def add_event(sim: Sim, minute: int, kind: str, target: str, description: str) -> None:
    when = sim.world.baseline_start + timedelta(minutes=int(minute), seconds=int(sim.rng.integers(0, 60)))
    sim.events.append({"timestamp": format_timestamp(when), "kind": kind, "target": target,
                       "description": description})


class Fault:
    """Base injector: every hook is a no-op. ``onset`` is a minute index on the simulation grid."""

    kind: ClassVar[CauseKind]

    def __init__(self, world: World, rng: np.random.Generator, *, onset: int, subtle: bool,
                 taken: set[str]) -> None:
        self.world, self.rng, self.onset, self.subtle = world, rng, onset, subtle
        self.notes = ""
        self.node = self.choose(taken)

    def choose(self, taken: set[str]) -> str:
        raise NotImplementedError

    def big(self, clear: tuple[float, float], subtle: tuple[float, float]) -> float:
        return float(self.rng.uniform(*(subtle if self.subtle else clear)))

    def world_shape(self, sim: Sim) -> None: ...
    def true_features(self, sim: Sim) -> None: ...
    def served_features(self, sim: Sim) -> None: ...
    def scoring(self, sim: Sim) -> None: ...
    def labels(self, sim: Sim) -> None: ...
    def observed_labels(self, sim: Sim) -> None: ...

    def cause(self) -> dict:
        when = self.world.baseline_start + timedelta(minutes=int(self.onset))
        return {"node": self.node, "kind": str(self.kind), "onset": format_timestamp(when),
                "magnitude": "subtle" if self.subtle else "clear", "notes": self.notes}


# ------------------------------------------------------------------------------------------ feature faults
class _FeatureFault(Fault):
    types: ClassVar[tuple[str, ...]] = ("amount", "count", "ratio", "category", "flag")

    def choose(self, taken: set[str]) -> str:
        taken_services = {n.split(":", 1)[1] for n in taken if n.startswith("service:")}
        pool = [f for f in self.world.features if f.ftype in self.types and node_id("feature", f.name) not in taken
                and f.service not in taken_services]
        important = [f for f in pool if abs(f.weight) >= 0.3]
        choice = important if important and self.rng.uniform() < 0.75 else pool
        self.feature: Feature = choice[self.rng.integers(len(choice))]
        return node_id("feature", self.feature.name)

    def pipeline_event(self, sim: Sim, minute: int, kind: str = "pipeline_deploy") -> None:
        f = self.feature
        add_event(sim, minute, kind, node_id("pipeline", f.pipeline), f"{f.pipeline}: release "
                  f"{int(self.rng.integers(100, 999))}")


@register(CauseKind.DATA_DRIFT)
class DataDrift(_FeatureFault):
    """The world changed: the true values drift gradually, no deploy; the model's inputs follow."""

    types = ("amount", "count", "ratio", "category")

    def true_features(self, sim: Sim) -> None:
        f = self.feature
        ramp = sim.ramp(self.onset, int(self.rng.integers(60, 240)))
        delta = self.big((1.0, 2.0), (0.35, 0.6)) * self.rng.choice([-1.0, 1.0])
        drifted = sample_feature(sim.rng, f, sim.n, shift=delta * ramp)
        sim.true[f.name] = np.where(ramp > 0, drifted, sim.true[f.name])
        self.notes = f"{f.name} drifts by {delta:+.2f} sd over the current window"


@register(CauseKind.TRAINING_SERVING_SKEW)
class TrainingServingSkew(_FeatureFault):
    """A pipeline deploy makes serving compute the feature differently, from the first bucket after it."""

    def served_features(self, sim: Sim) -> None:
        f, rng = self.feature, self.rng
        self.pipeline_event(sim, self.onset)
        self.onset = (self.onset // 60 + 1) * 60  # the first hourly serving bucket after the deploy
        rows = sim.after(self.onset) & ~np.isnan(sim.served[f.name])
        x = sim.true[f.name]
        if f.ftype in ("amount", "count"):
            factor = self.big((0.25, 0.5), (0.75, 0.85)) if rng.uniform() < 0.5 else self.big((2.0, 4.0), (1.2, 1.35))
            new = np.round(x * factor, 2 if f.ftype == "amount" else 0)
            self.notes = f"serving computes {f.name} x{factor:.2f} (window or currency bug)"
        elif f.ftype == "ratio":
            new = 1 - x if not self.subtle else np.round(x * 0.75, 4)
            self.notes = f"serving computes {f.name} {'inverted' if not self.subtle else 'x0.75'}"
        elif f.ftype == "flag":
            flip = rng.uniform(size=sim.n) < (0.3 if self.subtle else 1.0)
            new = np.where(flip, 1 - x, x)
            self.notes = f"serving inverts {f.name}"
        else:
            n_levels = len(f.categories)
            top = min(n_levels, 6)
            perm = np.arange(n_levels)
            perm[:top] = rng.permutation(top) if top > 1 else perm[:top]
            if top > 1 and np.all(perm[:top] == np.arange(top)):
                perm[:2] = [1, 0]
            moved = rng.uniform(size=sim.n) < (0.3 if self.subtle else 0.9)
            codes = np.nan_to_num(x, nan=0).astype(int)
            new = np.where(moved, perm[codes], x).astype(float)
            self.notes = f"serving maps {f.name} levels with a different dictionary"
        sim.served[f.name] = np.where(rows, new, sim.served[f.name])


@register(CauseKind.MISSING_VALUES)
class MissingValues(_FeatureFault):
    """A feature's null rate jumps (a broken join upstream); the model imputes the training mean."""

    def served_features(self, sim: Sim) -> None:
        f = self.feature
        rate = self.big((0.25, 0.9), (0.06, 0.15))
        ramp = sim.ramp(self.onset, int(self.rng.integers(1, 60)))
        hit = self.rng.uniform(size=sim.n) < rate * ramp
        sim.served[f.name] = np.where(hit, np.nan, sim.served[f.name])
        if self.rng.uniform() < 0.35:
            self.pipeline_event(sim, self.onset - int(self.rng.integers(0, 20)))
        self.notes = f"{rate:.0%} of {f.name} null from onset"


@register(CauseKind.SCHEMA_CHANGE)
class SchemaChange(_FeatureFault):
    """Type, unit or encoding changed upstream: x100 units, unseen categories, or int -> string."""

    def served_features(self, sim: Sim) -> None:
        f, rng = self.feature, self.rng
        share = 1.0 if not self.subtle else float(rng.uniform(0.15, 0.35))
        rows = sim.after(self.onset) & (rng.uniform(size=sim.n) < share) & ~np.isnan(sim.served[f.name])
        x = sim.served[f.name]
        variant = "unit" if f.ftype in ("amount", "ratio") and rng.uniform() < 0.75 else (
            "encoding" if f.ftype == "category" else "dtype")
        if variant == "unit":
            sim.served[f.name] = np.where(rows, np.round(x * 100, 4), x)
            self.notes = f"{f.name} sent in {'cents' if f.ftype == 'amount' else 'percent'} (x100)"
        elif variant == "encoding":
            sim.new_categories[f.name] = tuple(c.lower() for c in f.categories)
            sim.served[f.name] = np.where(rows, x + len(f.categories), x)
            self.notes = f"{f.name} re-encoded in lower case: unseen categories"
        else:
            start_ms = sim.t0_ms + self.onset * 60_000
            sim.serving_dtype[f.name] = (start_ms, "string")
            sim.model_null[f.name] = sim.after(self.onset)
            self.notes = f"{f.name} now sent as a string ({f.dtype} -> string); the model reads null"
        if rng.uniform() < 0.7:
            if rng.uniform() < 0.5:
                source = self.world.pipelines[f.pipeline][0]
                add_event(sim, self.onset - int(rng.integers(0, 15)), "schema_change", node_id("source", source),
                          f"{source}: schema migration")
            else:
                self.pipeline_event(sim, self.onset - int(rng.integers(0, 15)))


@register(CauseKind.STALE_FEATURE)
class StaleFeature(_FeatureFault):
    """A feature stops updating: the online store keeps returning the last values it got."""

    types = ("amount", "count", "ratio", "category")

    def served_features(self, sim: Sim) -> None:
        f = self.feature
        after = sim.after(self.onset)
        share = 1.0 if not self.subtle else float(self.rng.uniform(0.4, 0.6))
        frozen = after & (self.rng.uniform(size=sim.n) < share)
        x = sim.served[f.name]
        first = int(np.argmax(after))
        values = x[first:first + 3]
        values = values[~np.isnan(values)] if np.any(~np.isnan(values)) else np.array([f.default])
        stuck = values[self.rng.integers(len(values), size=sim.n)]
        sim.served[f.name] = np.where(frozen, stuck, x)
        self.notes = f"{f.name} frozen at {len(np.unique(values))} value(s) since onset"


# ------------------------------------------------------------------------------------------ service faults
class _ServiceFault(Fault):
    def choose(self, taken: set[str]) -> str:
        eligible = [s for s in self.world.services if s.role in ("feature", "other")]
        # A second service fault in a world whose only downstream service the first one took: that service
        # both slows down and fails (two causes on one node), rather than no incident at all.
        pool = [s for s in eligible if node_id("service", s.name) not in taken] or eligible
        store = [s for s in pool if s.name == "feature-store"]
        choice = store if store and self.rng.uniform() < 0.5 else pool
        self.service = choice[self.rng.integers(len(choice))]
        return node_id("service", self.service.name)

    def maybe_event(self, sim: Sim) -> None:
        if self.rng.uniform() < 0.3:
            kind = "infra_change" if self.rng.uniform() < 0.5 else "config_change"
            add_event(sim, self.onset - int(self.rng.integers(0, 20)), kind, self.node,
                      f"{self.service.name}: {'node pool change' if kind == 'infra_change' else 'pool size'}")


@register(CauseKind.DEPENDENCY_LATENCY)
class DependencyLatency(_ServiceFault):
    """One downstream service gets slow; lookups to it time out and its features take their defaults."""

    def world_shape(self, sim: Sim) -> None:
        factor = self.big((4.0, 15.0), (1.6, 2.6))
        ramp = np.clip((np.arange(sim.minutes) - self.onset) / max(int(self.rng.integers(1, 40)), 1), 0, 1)
        sim.latency_factor[self.service.name] *= 1 + (factor - 1) * ramp
        sim.cpu_extra[self.service.name] += 0.1 * ramp
        self.maybe_event(sim)
        self.notes = f"{self.service.name} {factor:.1f}x slower"


@register(CauseKind.DEPENDENCY_ERRORS)
class DependencyErrors(_ServiceFault):
    """One downstream service returns errors; failed lookups take defaults."""

    def world_shape(self, sim: Sim) -> None:
        rate = self.big((0.15, 0.6), (0.06, 0.12))
        after = np.arange(sim.minutes) >= self.onset
        sim.error_prob[self.service.name] = np.where(after, rate, sim.error_prob[self.service.name])
        self.maybe_event(sim)
        self.notes = f"{self.service.name} fails {rate:.0%} of calls"


@register(CauseKind.RESOURCE_SATURATION)
class ResourceSaturation(_ServiceFault):
    """The model server is starved: inference slow in every trace, CPU and memory up."""

    def choose(self, taken: set[str]) -> str:
        self.service = self.world.model_server
        return node_id("service", self.service.name)

    def world_shape(self, sim: Sim) -> None:
        factor = self.big((2.5, 6.0), (1.6, 2.0))
        ramp = np.clip((np.arange(sim.minutes) - self.onset) / max(int(self.rng.integers(10, 60)), 1), 0, 1)
        sim.latency_factor[self.service.name] *= 1 + (factor - 1) * ramp
        sim.cpu_extra[self.service.name] += self.big((0.35, 0.5), (0.15, 0.25)) * ramp
        self.maybe_event(sim)
        self.notes = f"{self.service.name} inference {factor:.1f}x slower, CPU saturated"


# --------------------------------------------------------------------------- model, segment, label faults
@register(CauseKind.MODEL_REGRESSION)
class ModelRegression(Fault):
    """A new model version (full rollout or canary) scores worse."""

    def choose(self, taken: set[str]) -> str:
        last = self.world.versions[-1]
        self.version = f"v{int(last[1:]) + 1}"
        return model_node(self.world.model, self.version)

    def scoring(self, sim: Sim) -> None:
        rng = self.rng
        sim.versions.append(self.version)
        index = len(sim.versions) - 1
        share = 1.0 if rng.uniform() < 0.5 else self.big((0.4, 0.7), (0.1, 0.25))
        rows = sim.after(self.onset) & (rng.uniform(size=sim.n) < share)
        sim.version = np.where(rows, index, sim.version)
        scale = self.big((0.8, 1.2), (0.35, 0.5))
        noise = {f.name: float(rng.normal(0, scale) * (abs(f.weight) + 0.2)) for f in self.world.features}
        if not self.subtle:
            top = max(self.world.features, key=lambda f: abs(f.weight))
            noise[top.name] = -2 * top.weight
        sim.version_noise[index] = noise
        add_event(sim, self.onset, "model_deploy", self.node, f"rollout of {self.version} to {share:.0%}")
        self.notes = f"{self.version} rolled out to {share:.0%} of traffic"


@register(CauseKind.SEGMENT_SHIFT)
class SegmentShift(Fault):
    """Traffic moves toward the segment where the model is weak."""

    def choose(self, taken: set[str]) -> str:
        return segment_node(self.world.dimension, self.world.weak_level)

    def world_shape(self, sim: Sim) -> None:
        w = self.world
        weak = w.levels.index(w.weak_level)
        base = float(w.level_shares[weak])
        target = self.big((0.3, 0.55), (2.2 * base, 3.0 * base))
        ramp = np.clip((np.arange(sim.minutes) - self.onset) / max(int(self.rng.integers(20, 120)), 1), 0, 1)
        share = sim.level_share[:, weak] + (target - sim.level_share[:, weak]) * ramp
        others = np.delete(sim.level_share, weak, axis=1)
        others = others / others.sum(axis=1, keepdims=True) * (1 - share)[:, None]
        sim.level_share = np.insert(others, weak, share, axis=1)
        if self.rng.uniform() < 0.2:
            add_event(sim, self.onset - 10, "campaign_start", self.node, f"marketing push in {w.weak_level}")
        self.notes = f"{w.dimension}={w.weak_level} share {w.level_shares[weak]:.0%} -> {target:.0%}"


@register(CauseKind.CONCEPT_DRIFT)
class ConceptDrift(Fault):
    """The input-label relation changes; inputs do not move. Names the version serving when quality fell."""

    def choose(self, taken: set[str]) -> str:
        return model_node(self.world.model, self.world.versions[-1])  # refined in `labels`

    def labels(self, sim: Sim) -> None:
        ranked = sorted(self.world.features, key=lambda f: -abs(f.weight))
        for f in ranked[: int(self.rng.integers(1, 3)) + (0 if self.subtle else 1)]:
            new = -f.weight * self.big((0.8, 1.2), (0.0, 0.3))
            sim.true_weight_after[f.name] = (self.onset, new)
        serving = np.bincount(sim.version[sim.after(self.onset)], minlength=len(sim.versions))
        self.node = model_node(self.world.model, sim.versions[int(np.argmax(serving))])
        self.notes = f"relation of {', '.join(sim.true_weight_after)} to the label changed"


@register(CauseKind.LABEL_ISSUE)
class LabelIssue(Fault):
    """The label pipeline is late or wrong: measured quality falls, the predictions do not change."""

    def choose(self, taken: set[str]) -> str:
        return labels_node(self.world.model)

    def observed_labels(self, sim: Sim) -> None:
        rng, obs = self.rng, sim.label_obs
        after = sim.after(self.onset)
        variant = ("late", "flipped", "shifted")[rng.integers(3)]
        if variant == "late":
            gone = after & (rng.uniform(size=sim.n) < self.big((0.7, 0.95), (0.35, 0.5)))
            obs = np.where(gone & (obs == 1), 0.0, obs)  # positives not arrived yet read as negatives
            obs = np.where(after & (rng.uniform(size=sim.n) < 0.3), np.nan, obs)
        elif variant == "flipped":
            flip = after & (rng.uniform(size=sim.n) < self.big((0.15, 0.35), (0.05, 0.1))) & ~np.isnan(obs)
            obs = np.where(flip, 1 - obs, obs)
        else:
            rows = np.flatnonzero(after & (rng.uniform(size=sim.n) < self.big((0.5, 0.9), (0.2, 0.3))))
            obs = obs.copy()
            obs[rows] = obs[rng.permutation(rows)]
        sim.label_obs = obs
        if rng.uniform() < 0.4:
            add_event(sim, self.onset - int(rng.integers(0, 15)), "pipeline_deploy", self.node,
                      f"{self.world.label_pipeline}: new join logic")
        self.notes = f"label pipeline {variant}"
