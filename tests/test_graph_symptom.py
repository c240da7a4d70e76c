"""Known-answer tests of the symptom-aligned propagation features (rca.graph.symptom) on tiny graphs."""

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from rca.generators.base import Hypothesis
from rca.graph import SYMPTOM_FEATURES, symptom_features
from rca.graph.symptom import node_symptom_z, symptom_family, symptom_walk
from rca.ranking.heuristic import heuristic_parts, heuristic_scores


def h(node, score, kind="dependency_latency", **features):
    return Hypothesis(node=node, kind=kind, generator="t", score=score, features=features)


@pytest.fixture
def chain():
    # db -> api -> web -> kpi:latency_avg (callee -> caller); cache -> api too
    return nx.DiGraph([("service:db", "service:api"), ("service:cache", "service:api"),
                       ("service:api", "service:web"), ("service:web", "kpi:latency_avg")])


def test_symptom_family_from_the_kpi_name():
    assert symptom_family("kpi:latency_avg") == "latency"
    assert symptom_family("kpi:availability") == "availability"
    assert symptom_family("kpi:error_rate") == "errors"
    assert symptom_family("kpi:approval_rate") is None      # not a latency/errors KPI: no family
    assert symptom_family(None) is None


def test_node_z_takes_the_symptoms_family_only():
    hyps = [h("service:a", 40.0), h("service:a", 5.0, kind="dependency_errors"),
            h("service:b", 30.0, **{"metric.latency_z": 30.0}), h("service:c", 2.0, **{"metric.error_z": 7.0})]
    assert node_symptom_z(hyps, "availability") == {"service:a": 5.0, "service:b": 0.0, "service:c": 7.0}
    assert node_symptom_z(hyps, "latency") == {"service:a": 40.0, "service:b": 30.0, "service:c": 2.0}
    assert node_symptom_z(hyps, None) == {"service:a": 40.0, "service:b": 30.0, "service:c": 2.0}


def test_upstream_most_anomalous_node_is_the_root(chain):
    hyps = [h("service:db", 10.0), h("service:api", 9.0), h("service:web", 8.0)]
    db, api, web = symptom_features(chain, hyps, "kpi:latency_avg")
    assert (db["sym_upstream_most"], api["sym_upstream_most"], web["sym_upstream_most"]) == (1.0, 0.0, 0.0)
    assert db["sym_z_minus_callee"] == 10.0 and api["sym_z_minus_callee"] == -1.0 and web["sym_z_minus_callee"] == -1.0
    assert api["sym_anomalous_callee_share"] == 0.5          # db yes, cache no
    assert db["sym_z_rel"] == 1.0 and web["sym_z_rel"] == pytest.approx(0.8)
    assert (db["sym_z_rank"], api["sym_z_rank"], web["sym_z_rank"]) == (1.0, 2.0, 3.0)
    assert db["sym_ppr_rel"] == 1.0 and api["sym_ppr_rel"] < 1.0 and web["sym_ppr_rel"] < 1.0
    assert all(f["sym_family_known"] == 1.0 for f in (db, api, web))


def test_node_that_does_not_reach_the_symptom_is_not_upstream_most(chain):
    chain.add_node("service:batch")
    f = symptom_features(chain, [h("service:batch", 20.0)], "kpi:latency_avg")[0]
    assert f["sym_upstream_most"] == 0.0 and f["sym_z_rel"] == 1.0


def test_walk_pools_where_the_anomaly_trail_ends(chain):
    r = symptom_walk(chain, {"service:db": 5.0, "service:api": 20.0, "service:web": 20.0}, "kpi:latency_avg")
    assert max(r, key=lambda n: r[n] if n != "kpi:latency_avg" else -1) in ("service:api", "service:db")
    assert r["service:cache"] < r["service:db"]              # the non-anomalous callee collects little
    # without any anomaly the walk still runs, and is 0-1 relative
    r = symptom_walk(chain, {}, "kpi:latency_avg")
    assert max(v for n, v in r.items() if n != "kpi:latency_avg") == 1.0


def test_heuristic_ranks_the_upstream_root_above_its_louder_callers(chain):
    # the callers' z is larger (amplified along the path), but their callee explains them
    hyps = [h("service:db", 6.0), h("service:api", 12.0), h("service:web", 15.0)]
    table = pd.DataFrame(symptom_features(chain, hyps, "kpi:latency_avg"), columns=list(SYMPTOM_FEATURES))
    table["event_hours_before_onset"] = np.nan
    table["score_rel_max"] = [6 / 15, 12 / 15, 1.0]
    scores = heuristic_scores(table)
    assert int(np.argmax(scores)) == 0


def test_following_weighs_only_anomalies_that_move_with_the_symptom(chain):
    # db follows the front end; cache changed more but stays flat (a difference between runs)
    hyps = [h("service:db", 8.0, **{"metric.symptom_corr": 0.9}), h("service:cache", 40.0, **{"metric.symptom_corr": -0.2}),
            h("service:api", 9.0, **{"metric.symptom_corr": 0.8}), h("service:web", 2.5)]
    db, cache, api, web = symptom_features(chain, hyps, "kpi:latency_avg")
    assert db["sym_follow"] == pytest.approx(0.9) and cache["sym_follow"] == 0.0
    assert api["sym_follow_minus_callee"] == pytest.approx(0.8 - 0.9)        # its callee db follows better
    assert db["sym_follow_minus_callee"] == pytest.approx(0.9)
    assert db["sym_follow_ppr_rel"] == 1.0 and cache["sym_follow_ppr_rel"] < db["sym_follow_ppr_rel"]
    assert cache["sym_ppr_rel"] > cache["sym_follow_ppr_rel"]               # by z alone cache would draw the walk
    assert (db["sym_follow_rank"], api["sym_follow_rank"], cache["sym_follow_rank"]) == (1.0, 2.0, 3.0)
    assert np.isnan(web["sym_follow"]) and np.isnan(web["sym_follow_ppr_rel"])   # no correlation known
    assert np.isnan(web["sym_follow_rank"])


def test_excess_covered_compares_amounts_not_z_scores(chain):
    # db added 2 s x 100 requests; api passes on about the same (its quieter baseline gives it the larger z),
    # web adds as much again of its own; cache has no latency measure at all
    hyps = [h("service:db", 8.0, **{"_metric.latency_excess_share": 200.0}),
            h("service:api", 30.0, **{"_metric.latency_excess_share": 190.0}),
            h("service:web", 12.0, **{"_metric.latency_excess_share": 400.0}),
            h("service:cache", 3.0)]
    db, api, web, cache = symptom_features(chain, hyps, "kpi:latency_avg")
    assert db["sym_excess_covered"] == 0.0                        # no callee added anything
    assert api["sym_excess_covered"] == 1.0                       # db's excess covers all of api's
    assert web["sym_excess_covered"] == pytest.approx(190 / 400)  # about half of web's is its own
    assert np.isnan(cache["sym_excess_covered"])
    # errors: the failed-requests excess is the amount; an unknown symptom family has no amount
    err = [h("service:db", 5.0, kind="dependency_errors", **{"_metric.error_excess_share": 10.0}),
           h("service:api", 5.0, kind="dependency_errors", **{"_metric.error_excess_share": 40.0})]
    db, api = symptom_features(chain, err, "kpi:availability")
    assert (db["sym_excess_covered"], api["sym_excess_covered"]) == (0.0, 0.25)
    assert all(np.isnan(f["sym_excess_covered"]) for f in symptom_features(chain, err, "kpi:approval_rate"))


def test_heuristic_prefers_the_callee_whose_amount_covers_its_caller(chain):
    # api's z is larger (a quiet baseline), but db's added seconds cover all of api's: db is the cause
    hyps = [h("service:db", 6.0, **{"_metric.latency_excess_share": 210.0}),
            h("service:api", 9.0, **{"_metric.latency_excess_share": 200.0})]
    table = pd.DataFrame(symptom_features(chain, hyps, "kpi:latency_avg"), columns=list(SYMPTOM_FEATURES))
    table["event_hours_before_onset"] = np.nan
    table["score_rel_max"] = [6 / 9, 1.0]
    assert list(heuristic_parts(table)["unexplained"]) == [1.0, 0.0]     # by z, api kept a third of its own
    assert int(np.argmax(heuristic_scores(table))) == 0
    without = table.drop(columns="sym_excess_covered")
    assert heuristic_parts(without)["unexplained"][1] == pytest.approx(1 / 3)
