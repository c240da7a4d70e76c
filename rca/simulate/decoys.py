"""Decoys: what changes in every incident without being its cause.

Benign drift in unimportant features, unrelated deploys and config changes (some inside the current window),
a benign model-version rollover (in the baseline; with ``deploys``, half of them in the current window), latency blips and error bursts on other services, CPU bumps. Diurnal
seasonality and noise come from `rca.simulate.traffic` itself.
"""

from __future__ import annotations

import numpy as np

from rca.contract.nodes import model_node, node_id
from rca.simulate.faults import add_event
from rca.simulate.traffic import Sim, sample_feature
from rca.simulate.world import World


class Decoys:
    """The decoys of one incident, chosen away from the true causes' nodes (``taken``)."""

    def __init__(self, world: World, rng: np.random.Generator, *, taken: set[str], current_start: int,
                 minutes: int, deploys: bool = False) -> None:
        self.world, self.rng, self.taken = world, rng, taken
        self.current_start, self.minutes = current_start, minutes
        self.listed: list[dict] = []
        taken_features = {n.split(":", 1)[1] for n in taken if n.startswith("feature:")}
        unimportant = [f for f in world.features if abs(f.weight) < 0.15 and f.name not in taken_features
                       and f.ftype != "flag"]
        k = min(len(unimportant), int(rng.integers(1, 5)))
        self.drifting = [unimportant[i] for i in sorted(rng.choice(len(unimportant), k, replace=False))]
        taken_services = {n.split(":", 1)[1] for n in taken if n.startswith("service:")}
        self.other_services = [s for s in world.services if s.name not in taken_services]
        self.rollover = rng.uniform() < 0.4 and len(world.versions) >= 2
        # ``deploys``: half the rollovers land in the current window, a harmless deploy during the incident (unless
        # a true cause names a model version, whose label would then be ambiguous). Without it they all come in the
        # baseline, and a ranker learns that a version new in the current window is the cause, whatever its
        # quality says. No draw is made without it: the incidents of recipes without it stay what they were.
        self.rollover_current = (deploys and self.rollover and not any(n.startswith("model:") for n in taken)
                                 and rng.uniform() < 0.5)

    def note(self, node: str, what: str) -> None:
        self.listed.append({"node": node, "what": what})

    def any_minute(self, *, current_share: float = 0.5) -> int:
        if self.rng.uniform() < current_share:
            return int(self.rng.integers(self.current_start, self.minutes - 20))
        return int(self.rng.integers(30, self.current_start))

    def world_shape(self, sim: Sim) -> None:
        rng = self.rng
        for _ in range(int(rng.integers(1, 4))):
            s = self.other_services[rng.integers(len(self.other_services))]
            start, length = self.any_minute(), int(rng.integers(8, 40))
            factor = float(rng.uniform(1.8, 5.0))
            sim.latency_factor[s.name][start:start + length] *= factor
            self.note(node_id("service", s.name), f"latency blip x{factor:.1f} for {length} min")
        if rng.uniform() < 0.4:
            s = self.other_services[rng.integers(len(self.other_services))]
            start, length = self.any_minute(), int(rng.integers(5, 20))
            sim.error_prob[s.name][start:start + length] = float(rng.uniform(0.03, 0.15))
            self.note(node_id("service", s.name), f"error burst for {length} min")
        if rng.uniform() < 0.4:
            s = self.other_services[rng.integers(len(self.other_services))]
            start, length = self.any_minute(), int(rng.integers(20, 90))
            sim.cpu_extra[s.name][start:start + length] += float(rng.uniform(0.15, 0.35))
            self.note(node_id("service", s.name), "cpu bump (batch job on the node)")
        self.unrelated_events(sim)

    def unrelated_events(self, sim: Sim) -> None:
        rng, w = self.rng, self.world
        pipelines = [p for p in w.pipelines if node_id("pipeline", p) not in self.taken]
        sources = sorted({s for srcs in w.pipelines.values() for s in srcs})
        in_current = 0
        for _ in range(int(rng.integers(2, 6))):
            minute = self.any_minute()
            in_current += minute >= self.current_start
            roll = rng.uniform()
            if roll < 0.35 and pipelines:
                target = node_id("pipeline", pipelines[rng.integers(len(pipelines))])
                add_event(sim, minute, "pipeline_deploy", target, f"release {int(rng.integers(100, 999))}")
            elif roll < 0.65:
                s = self.other_services[rng.integers(len(self.other_services))]
                target = node_id("service", s.name)
                add_event(sim, minute, "config_change", target, "feature flag toggled")
            elif roll < 0.8:
                s = self.other_services[rng.integers(len(self.other_services))]
                target = node_id("service", s.name)
                add_event(sim, minute, "infra_change", target, "kernel patch, rolling restart")
            else:
                target = node_id("source", sources[rng.integers(len(sources))])
                add_event(sim, minute, "data_backfill", target, "backfill of last week")
            self.note(target, "unrelated change event")

    def true_features(self, sim: Sim) -> None:
        for f in self.drifting:
            start = int(self.rng.integers(self.current_start - 240, self.minutes - 120))
            ramp = sim.ramp(start, int(self.rng.integers(1, 180)))
            delta = float(self.rng.uniform(0.6, 1.6)) * self.rng.choice([-1.0, 1.0])
            drifted = sample_feature(sim.rng, f, sim.n, shift=delta * ramp)
            sim.true[f.name] = np.where(ramp > 0, drifted, sim.true[f.name])
            self.note(node_id("feature", f.name), f"benign drift {delta:+.2f} sd (unimportant feature)")

    def scoring(self, sim: Sim) -> None:
        if not self.rollover:
            return
        w = self.world
        if self.rollover_current:
            # in the current window's first half: the new version serves long enough to be seen
            switch = int(self.rng.integers(self.current_start,
                                           self.current_start + max(1, (self.minutes - self.current_start) // 2)))
        else:
            switch = int(self.rng.integers(90, self.current_start - 120))
        rollout = int(self.rng.integers(10, 60))
        new_share = np.clip((sim.minute - switch) / rollout, 0, 1)
        old = self.rng.uniform(size=sim.n) >= new_share
        sim.version = np.where(old, len(w.versions) - 2, sim.version)
        sim.version_noise[len(w.versions) - 2] = {f.name: float(self.rng.normal(0, 0.03)) for f in w.features}
        target = model_node(w.model, w.versions[-1])
        add_event(sim, switch, "model_deploy", target, f"rollout of {w.versions[-1]}")
        self.note(target, f"benign model rollover in the {'current window' if self.rollover_current else 'baseline'}")

    def served_features(self, sim: Sim) -> None: ...
    def labels(self, sim: Sim) -> None: ...
    def observed_labels(self, sim: Sim) -> None: ...
