"""The incident simulator: seeded, labeled incident bundles in the contract's format.

`simulate_incident` writes one bundle (with ``label.json``); `SimSize` sets how big its signals are.
Modules: `world` (the random healthy system), `traffic` (rendering requests through it), `faults` (one
injector per cause kind), `decoys` (what changes without being the cause), `signals` and `traces` (the
signal families), `write` (deterministic files and archives).
"""

from rca.simulate.incident import ALL_KINDS, SimSize, plan_kinds, simulate_incident

__all__ = ["ALL_KINDS", "SimSize", "plan_kinds", "simulate_incident"]
