"""The out-of-distribution guard: a trained ranker ranks only incidents whose family mix it trained on."""

import numpy as np
import pandas as pd

from rca.contract import load_bundle
from rca.ranking.base import TableRanker
from rca.ranking.features import FAMILIES
from rca.ranking.guard import MIN_SEEN, FamilyGuard, family_mix, guarded, signature
from tests.builders import write_minimal_bundle


class Const(TableRanker):
    def __init__(self, name, value):
        self.name, self.value, self.meta = name, value, {}

    def score_table(self, table):
        return np.full(len(table), self.value)


def rows(incident, families, n=2):
    data = {"incident_id": [incident] * n, "node": [f"service:s{i}" for i in range(n)], "kind": ["dependency_errors"] * n}
    data.update({f"family={f}": [float(f in families)] * n for f in FAMILIES})
    return pd.DataFrame(data)


def test_family_mix_counts_incidents_not_rows():
    table = pd.concat([rows("a", {"metrics", "kpis"}, n=3), rows("b", {"kpis", "metrics"}),
                       rows("c", {"predictions", "metrics"})], ignore_index=True)
    assert family_mix(table) == {"kpis+metrics": 2, "metrics+predictions": 1}
    assert signature(["metrics", "kpis", "kpis"]) == "kpis+metrics"


def test_unfamiliar_incidents_go_to_the_fallback():
    every = set(FAMILIES)
    mix = {signature(every): 50, signature(every - {"graph"}): MIN_SEEN - 4, signature(every - {"traces"}): MIN_SEEN - 4,
           signature(every - {"graph", "traces"}): 4, signature(every - {"predictions"}): MIN_SEEN - 1}
    guard = FamilyGuard(Const("trained", 1.0), Const("fallback", 2.0), mix)
    assert guard.familiar(signature(every)) and guard.familiar(signature(every - {"graph"}))
    # a combination seen only 4 times is familiar: each absent family was absent in >= MIN_SEEN incidents
    assert guard.familiar(signature(every - {"graph", "traces"}))
    assert not guard.familiar(signature(every - {"predictions"}))      # absent in only MIN_SEEN - 1
    assert not guard.familiar(signature({"metrics", "kpis", "graph"}))  # no training incident lacked histograms
    table = pd.concat([rows("seen", every), rows("rare", every - {"predictions"}),
                       rows("never", {"metrics", "kpis", "graph"})], ignore_index=True)
    assert guard.score_table(table).tolist() == [1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert guard.name == "trained"


def test_guard_picks_the_delegate_from_the_bundle(tmp_path):
    bundle = load_bundle(write_minimal_bundle(tmp_path / "b"))
    trained, fallback = Const("trained", 1.0), Const("fallback", 2.0)
    assert FamilyGuard(trained, fallback, {signature(bundle.families()): MIN_SEEN}).delegate(bundle) is trained
    full = {signature(FAMILIES): 100}
    lacks = set(FAMILIES) - set(bundle.families())
    assert FamilyGuard(trained, fallback, full).delegate(bundle) is (fallback if lacks else trained)


def test_a_model_without_a_recorded_mix_is_used_unguarded():
    trained = Const("trained", 1.0)
    assert guarded(trained, Const("fallback", 2.0)) is trained
    trained.meta = {"family_mix": {"kpis": 20}}
    assert isinstance(guarded(trained, Const("fallback", 2.0)), FamilyGuard)
