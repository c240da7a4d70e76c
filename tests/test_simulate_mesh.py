"""The metrics-only service-mesh simulator: valid bundles, the fault visible where it should be, determinism."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from rca.contract import CauseKind, load_bundle, validate_bundle
from rca.errors import ConfigError
from rca.generators.metrics import metric_family
from rca.simulate.mesh import (KINDS, Fanout, Mesh, Regime, Traffic, build_mesh, render_step,
                               simulate_mesh_incident)

SEEDS = (3, 4, 5, 6)


def _sim(tmp_path: Path, kind: CauseKind, seed: int):
    out = tmp_path / f"{kind}-{seed}"
    label = simulate_mesh_incident(out, seed=seed, kind=kind)
    assert validate_bundle(out) == []
    return out, load_bundle(out), label


def _windows(bundle, series: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The rows' values in the baseline window and in the current window."""
    inc, ts = bundle.incident, series["timestamp"]
    return (series.loc[(ts >= inc.baseline.start) & (ts < inc.baseline.end), "value"],
            series.loc[(ts >= inc.current.start) & (ts <= inc.current.end), "value"])


def _current(bundle, service: str, family: str) -> tuple[float, float]:
    """Median of the service's series of ``family``: baseline and current."""
    m = bundle.metrics
    base, cur = _windows(bundle, m[(m["service"] == service)
                                   & m["name"].map(lambda n: metric_family(n)[0] == family)])
    return float(base.median()), float(cur.median())


def _failed(bundle, service: str) -> tuple[float, float]:
    """Mean failed share of requests, baseline and current, whatever the world's naming style."""
    m = bundle.metrics
    for name, to_failed in (("availability", lambda v: 1 - v / 100), ("error_rate", lambda v: v),
                            ("success_rate", lambda v: 1 - v)):
        s = m[(m["service"] == service) & (m["name"] == name)]
        if len(s):
            base, cur = _windows(bundle, s)
            return float(to_failed(base).mean()), float(to_failed(cur).mean())
    raise AssertionError(f"no availability-like series for {service}")


@pytest.mark.parametrize("seed", SEEDS)
def test_latency_fault_slows_the_cause_and_the_entry_kpi(tmp_path, seed):
    out, bundle, label = _sim(tmp_path, CauseKind.DEPENDENCY_LATENCY, seed)
    service = label.causes[0].node.split(":", 1)[1]
    before, after = _current(bundle, service, "latency")
    assert after > 1.2 * before, (service, before, after)
    symptom = bundle.incident.symptom
    assert symptom.direction == "up" and metric_family(symptom.node.split(":", 1)[1])[0] == "latency"


@pytest.mark.parametrize("seed", SEEDS)
def test_error_fault_fails_the_causes_requests(tmp_path, seed):
    out, bundle, label = _sim(tmp_path, CauseKind.DEPENDENCY_ERRORS, seed)
    service = label.causes[0].node.split(":", 1)[1]
    before, after = _failed(bundle, service)
    assert after > before + 0.005, (service, before, after)
    assert metric_family(bundle.incident.symptom.node.split(":", 1)[1])[0] in ("errors", "availability")


@pytest.mark.parametrize("seed", SEEDS)
def test_saturation_floods_a_leaf_with_requests(tmp_path, seed):
    out, bundle, label = _sim(tmp_path, CauseKind.RESOURCE_SATURATION, seed)
    service = label.causes[0].node.split(":", 1)[1]
    before, after = _current(bundle, service, "traffic")
    assert after > 1.5 * before, (service, before, after)
    graph = json.loads((out / "graph.json").read_text()) if (out / "graph.json").exists() else None
    if graph is not None:   # a leaf: nothing feeds into it
        assert not any(e["target"] == label.causes[0].node for e in graph["edges"])


def test_graph_points_from_callee_to_caller_and_reaches_the_symptom(tmp_path):
    for seed in range(8):
        out = tmp_path / str(seed)
        label = simulate_mesh_incident(out, seed=seed)
        if not (out / "graph.json").exists():
            continue
        g = nx.node_link_graph(json.loads((out / "graph.json").read_text()), edges="edges")
        symptom = json.loads((out / "incident.json").read_text())["symptom"]["node"]
        assert nx.is_directed_acyclic_graph(g)
        assert label.causes[0].node in nx.ancestors(g, symptom)
        return
    pytest.fail("no seed in 0-7 wrote a graph.json")


def test_worlds_vary_baselines_and_decoys(tmp_path):
    modes, decoys, styles = set(), 0, set()
    for seed in range(12):
        out = tmp_path / str(seed)
        simulate_mesh_incident(out, seed=seed)
        label = json.loads((out / "label.json").read_text())
        modes.add(label["baseline"])
        decoys += len(label["decoys"])
        styles.add(frozenset(pd.read_parquet(out / "metrics.parquet")["name"].unique()))
        assert label["causes"][0]["node"] not in {d["node"] for d in label["decoys"]}
    assert modes == {"before", "other_run", "short"}
    assert decoys >= 6 and len(styles) >= 2


def test_same_seed_same_bytes(tmp_path):
    digests = []
    for run in ("a", "b"):
        out = tmp_path / run
        simulate_mesh_incident(out, seed=21, kind="dependency_errors", incident_id="x")
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())})
    assert digests[0] == digests[1]


def test_rejects_a_kind_it_cannot_simulate_and_a_used_directory(tmp_path):
    with pytest.raises(ConfigError, match="kind"):
        simulate_mesh_incident(tmp_path / "k", seed=1, kind="data_drift")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(ConfigError, match="out_dir"):
        simulate_mesh_incident(tmp_path / "used", seed=1)
    assert set(KINDS) == {CauseKind.DEPENDENCY_LATENCY, CauseKind.DEPENDENCY_ERRORS, CauseKind.RESOURCE_SATURATION}


def test_fault_waxes_and_wanes_with_the_symptom_while_run_differences_do_not(tmp_path):
    """The cause moves with the front end's KPI through the current window; chronic decoys do not."""
    from rca.generators.metrics import symptom_correlations

    causes, decoys = [], []
    for seed in range(24):
        out = tmp_path / str(seed)
        label = simulate_mesh_incident(out, seed=seed)
        corr = symptom_correlations(load_bundle(out))
        causes.append(corr.get(label.causes[0].node.split(":", 1)[1], np.nan))
        decoys += [corr[d["node"].split(":", 1)[1]] for d in json.loads((out / "label.json").read_text())["decoys"]
                   if d["node"].split(":", 1)[1] in corr]
    assert len(decoys) >= 5
    assert np.nanmean(causes) > np.mean(decoys) + 0.15, (causes, decoys)


def test_fault_profile_peaks_at_one():
    from rca.simulate.mesh import fault_profile

    shapes = [fault_profile(np.random.default_rng(s), 6) for s in range(30)]
    assert all(p.shape == (6,) and p.max() == 1.0 and p.min() > 0 for p in shapes)
    assert np.mean([p.std() for p in shapes]) > 0.1          # not a clean step: the strength varies


@pytest.mark.parametrize("kind", [CauseKind.DEPENDENCY_LATENCY, CauseKind.DEPENDENCY_ERRORS])
def test_views_echo_the_service_behind_them_and_change_the_services_nothing(tmp_path, kind):
    echoed = 0
    for seed in range(20, 27):
        plain = simulate_mesh_incident(tmp_path / f"plain-{seed}", seed=seed, kind=kind)
        label = simulate_mesh_incident(tmp_path / f"views-{seed}", seed=seed, kind=kind, views=True)
        assert validate_bundle(tmp_path / f"views-{seed}") == []
        assert "views" not in plain.model_dump() and label.causes == plain.causes
        views, bundle = label.model_dump()["views"], load_bundle(tmp_path / f"views-{seed}")
        names = {v["node"].split(":", 1)[1] for v in views}
        assert 1 <= len(views) <= 3 and label.causes[0].node not in {v["node"] for v in views}
        # the services' rows are the plain world's, the views only add theirs
        base = load_bundle(tmp_path / f"plain-{seed}").metrics
        pd.testing.assert_frame_equal(bundle.metrics[~bundle.metrics["service"].isin(names)].reset_index(drop=True),
                                      base.reset_index(drop=True))
        if bundle.graph is not None:       # a view is a leaf callee of its caller
            for v in views:
                assert list(bundle.graph.successors(v["node"])) == [v["caller"]]
                assert bundle.graph.in_degree(v["node"]) == 0
        for v in views:                    # and its change follows (and amplifies) the service behind it
            if v["of"] != label.causes[0].node:
                continue
            of, view = v["of"].split(":", 1)[1], v["node"].split(":", 1)[1]
            if kind is CauseKind.DEPENDENCY_LATENCY:
                (b0, c0), (b1, c1) = _current(bundle, of, "latency"), _current(bundle, view, "latency")
            else:
                (b0, c0), (b1, c1) = _failed(bundle, of), _failed(bundle, view)
            if c0 - b0 > 0.2 * max(b0, 1e-3):
                assert c1 - b1 > 0.7 * (c0 - b0), (seed, of, view, (b0, c0), (b1, c1))
                echoed += 1
    assert echoed >= 2


def _chain(early: float, retries: tuple[int, int]) -> tuple[Mesh, Traffic]:
    """entry -> mid -> leaf, every call synchronous and passing failures on; ``mid`` calls ``leaf`` half the time.
    ``retries``: of the entry's calls to mid, of mid's to the leaf."""
    mesh = Mesh(names=["entry", "mid", "leaf"], layer=np.array([0, 1, 2]),
                calls=[[(1, 1.0, True, 1.0)], [(2, 0.5, True, 1.0)], []], own_s=np.full(3, 0.01),
                sigma=np.full(3, 0.3), err=np.zeros(3), external=np.zeros(3), entry_volume=100.0)
    return mesh, Traffic(retries=[[retries[0]], [retries[1]], []], early=np.array([0.0, early, 0.0]))


def test_traffic_retries_failed_calls_and_early_failures_call_nothing():
    mesh, traffic = _chain(early=0.0, retries=(0, 2))
    np.testing.assert_allclose(traffic.volumes(mesh, Regime.healthy(3)), mesh.volumes())   # nothing fails
    failing = Regime.healthy(3)
    failing.err[2] = 0.5                   # the leaf fails half its requests: mid tries up to 3 times
    np.testing.assert_allclose(traffic.volumes(mesh, failing), [100, 100, 50 * (1 + 0.5 + 0.25)])
    mesh, traffic = _chain(early=0.8, retries=(0, 0))
    failing = Regime.healthy(3)
    failing.err[1] = 0.5                   # mid fails half its requests, 80% of those before calling the leaf
    np.testing.assert_allclose(traffic.volumes(mesh, failing), [100, 100, 50 * (1 - 0.8 * 0.5)])
    mesh, traffic = _chain(early=0.0, retries=(1, 1))
    failing.err[1] = 0.0
    failing.err[2] = 0.4                   # mid fails when half its calls to the leaf fail twice: the entry retries
    assert traffic.volumes(mesh, failing)[1] == pytest.approx(100 * (1 + 0.5 * 0.4 ** 2))


def test_traffic_raises_the_failing_services_request_count(tmp_path):
    moved = []
    for seed in range(30, 36):
        plain = simulate_mesh_incident(tmp_path / f"plain-{seed}", seed=seed, kind="dependency_errors")
        label = simulate_mesh_incident(tmp_path / f"traffic-{seed}", seed=seed, kind="dependency_errors",
                                       traffic=True)
        assert validate_bundle(tmp_path / f"traffic-{seed}") == [] and label.causes == plain.causes
        service = label.causes[0].node.split(":", 1)[1]
        ratios = []
        for name in ("plain", "traffic"):
            bundle = load_bundle(tmp_path / f"{name}-{seed}")
            base, cur = _current(bundle, service, "traffic")
            ratios.append(cur / base)
        moved.append(ratios[1] / ratios[0])
    # callers retry the failing service: its request count rises against the same world without retries
    assert np.median(moved) > 1.02, moved


def test_fanout_multiplies_the_callees_requests_and_a_delay_there_in_the_caller():
    mesh, _ = _chain(early=0.0, retries=(0, 0))
    fanned = replace(mesh, per_request=[[1.0], [4.0], []])     # mid looks up 4 items a request, on average
    np.testing.assert_allclose(fanned.volumes(), [100, 100, 100 * 0.5 * 4])
    slow = Regime.healthy(3)
    slow.delay_s[2], slow.delay_share[2] = 0.5, 1.0             # every leaf request 0.5 s slower

    def added(m: Mesh) -> float:
        rng = np.random.default_rng(0)
        healthy = np.mean([render_step(m, Regime.healthy(3), rng, 1.0)[1]["lat"].mean() for _ in range(20)])
        return np.mean([render_step(m, slow, rng, 1.0)[1]["lat"].mean() for _ in range(20)]) - healthy

    # mid calls the leaf on half its requests: 0.25 s added once per request, about 1 s with four calls each
    assert added(mesh) == pytest.approx(0.25, rel=0.15)
    assert added(fanned) == pytest.approx(1.0, rel=0.15)


def test_fanout_traffic_counts_every_call_and_a_failure_of_any():
    mesh, traffic = _chain(early=0.0, retries=(1, 0))
    fanned = replace(mesh, per_request=[[1.0], [3.0], []])
    failing = Regime.healthy(3)
    failing.err[2] = 0.2
    # mid calls the leaf 3 times on half its requests and fails when any call fails: 0.5 * (1 - 0.8 ** 3) of its
    # requests; the entry retries those once, and every attempt makes mid's 3 calls
    fails = 0.5 * (1 - 0.8 ** 3)
    np.testing.assert_allclose(traffic.volumes(fanned, failing), [100, 100 * (1 + fails), 100 * (1 + fails) * 1.5])


def test_fanout_keeps_the_world_and_the_cause_and_changes_the_incident(tmp_path):
    for seed in (3, 4):
        plain = simulate_mesh_incident(tmp_path / f"plain-{seed}", seed=seed)
        out = tmp_path / f"fan-{seed}"
        label = simulate_mesh_incident(out, seed=seed, fanout=True)
        assert validate_bundle(out) == []
        assert [(c.node, c.kind) for c in label.causes] == [(c.node, c.kind) for c in plain.causes]
        assert (out / "metrics.parquet").read_bytes() != (tmp_path / f"plain-{seed}" / "metrics.parquet").read_bytes()
    mesh = build_mesh(np.random.default_rng(1))
    plan = Fanout.plan(mesh, np.random.default_rng(2))
    assert [len(per) for per in plan] == [len(calls) for calls in mesh.calls]
    means = [(sync, m) for calls, per in zip(mesh.calls, plan) for (_, _, sync, _), m in zip(calls, per)]
    assert all(m == 1.0 for sync, m in means if not sync)                  # an asynchronous call is made once
    fanned = [m for sync, m in means if m != 1.0]
    assert fanned and all(Fanout.MEAN[0] <= m <= Fanout.MEAN[1] for m in fanned)


def test_a_forced_baseline_of_one_step_keeps_the_world_and_the_cause(tmp_path):
    for seed in range(4):
        plain = simulate_mesh_incident(tmp_path / f"plain-{seed}", seed=seed)
        out = tmp_path / f"one-{seed}"
        label = simulate_mesh_incident(out, seed=seed, baseline_steps=1)
        incident = json.loads((out / "incident.json").read_text())
        metrics = pd.read_parquet(out / "metrics.parquet")
        ts = pd.to_datetime(metrics["timestamp"], unit="ms", utc=True)
        base = metrics.loc[ts < pd.Timestamp(incident["baseline"]["end"]), "timestamp"]
        assert base.nunique() == 1 and incident["baseline"]["end"] == incident["current"]["start"]
        assert json.loads((out / "label.json").read_text())["baseline"] == "short"
        assert [(c.node, c.kind) for c in label.causes] == [(c.node, c.kind) for c in plain.causes]


def test_a_baseline_of_no_steps_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="baseline_steps"):
        simulate_mesh_incident(tmp_path / "x", seed=1, baseline_steps=0)
