"""KPI dimension segments (Adtributor over kpis) on hand-built KPI tables with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rca.contract.bundle import Bundle
from rca.contract.load import load_bundle
from rca.generators import get_generator
from rca.generators.segments import surprise
from tests.builders import INCIDENT, T0
from tests.hist_builders import HOURS, incident

COUNTRIES = {"US": 500.0, "BR": 200.0, "DE": 150.0, "FR": 100.0}
DEVICES = {"web": 0.6, "ios": 0.4}


def kpi_table(rng, *, drop=None, daily=0.0, noise=0.01) -> pd.DataFrame:
    """Hourly ``orders`` per country x device: level x daily cycle x noise; ``drop = (country, share, hour)``
    removes that share of one country's orders from ``hour`` on."""
    rows = []
    for h in range(HOURS):
        cycle = 1 + daily * np.sin(2 * np.pi * (h % 24) / 24)
        for country, level in COUNTRIES.items():
            for device, frac in DEVICES.items():
                v = level * frac * cycle * (1 + rng.normal(0, noise))
                if drop is not None and country == drop[0] and h >= drop[2]:
                    v *= 1 - drop[1]
                rows.append((T0 + pd.Timedelta(hours=h), "orders", v, country, device))
    return pd.DataFrame(rows, columns=["timestamp", "name", "value", "country", "device"])


def run(frame: pd.DataFrame):
    return get_generator("kpi_segments").generate(Bundle(incident=incident(), kpis=frame)).hypotheses


def test_drop_concentrated_in_one_country_is_the_top_segment():
    hyps = run(kpi_table(np.random.default_rng(0), drop=("BR", 0.5, 33)))
    assert hyps, "the BR drop was not explained"
    top = hyps[0]
    assert top.node == "segment:country=BR" and str(top.kind) == "segment_shift"
    ep = top.features["seg.kpi_explanatory_power"]
    assert 0.9 < ep < 1.1
    assert top.onset == T0 + pd.Timedelta(hours=33)
    # No device explains it: the drop is spread over both devices in proportion to their traffic.
    assert not any(h.node.startswith("segment:device=") for h in hyps)


def test_onset_hours_count_from_the_first_kpi_sample_of_the_window():
    """Hourly samples from 08:00: the drop at 09:00 is an hour in, whether the window opened at 08:00 or 07:50."""
    from rca.contract.models import Incident

    frame = kpi_table(np.random.default_rng(0), drop=("BR", 0.5, 33))
    early = Incident.model_validate({**INCIDENT, "current": {"start": "2026-11-20T07:50:00Z",
                                                             "end": "2026-11-20T14:00:00Z"}})
    for inc in (incident(), early):
        top = get_generator("kpi_segments").generate(Bundle(incident=inc, kpis=frame)).hypotheses[0]
        assert top.node == "segment:country=BR" and top.onset == T0 + pd.Timedelta(hours=33)
        assert top.features["seg.kpi_onset_hours"] == 1.0


def test_surprise_feature_is_the_js_term_of_the_shares():
    rng = np.random.default_rng(1)
    top = run(kpi_table(rng, drop=("BR", 0.5, 32)))[0]
    f = top.features
    want = surprise(np.array([f["seg.kpi_share_baseline"]]), np.array([f["seg.kpi_share_current"]]))[0]
    assert f["seg.kpi_surprise"] == pytest.approx(want)
    total = sum(COUNTRIES.values())
    assert f["seg.kpi_share_baseline"] == pytest.approx(COUNTRIES["BR"] / total, rel=0.02)
    assert f["seg.kpi_share_current"] == pytest.approx(100 / (total - 100), rel=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_noise_only_gives_nothing(seed):
    assert run(kpi_table(np.random.default_rng(seed), noise=0.03)) == []


def test_daily_cycle_alone_gives_nothing_when_compared_by_hour_of_day():
    # Current hours (08:00-14:00) sit on the high side of the cycle; against the whole baseline mean they
    # would look like a 30% rise everywhere.
    assert run(kpi_table(np.random.default_rng(2), daily=0.3)) == []


def test_daily_cycle_with_a_drop_still_finds_the_country():
    hyps = run(kpi_table(np.random.default_rng(3), daily=0.3, drop=("DE", 0.6, 33)))
    assert hyps and hyps[0].node == "segment:country=DE"
    assert hyps[0].features["seg.kpi_seasonal"] == 1.0


def test_no_dimension_or_single_value_gives_nothing():
    frame = kpi_table(np.random.default_rng(4), drop=("BR", 0.5, 33))
    assert run(frame.drop(columns=["country", "device"])) == []
    assert run(frame[frame["country"] == "BR"].drop(columns=["device"])) == []


def test_loaded_bundle_is_deterministic_with_evidence(tmp_path: Path):
    (tmp_path / "incident.json").write_text(json.dumps(INCIDENT | {"symptom": {"node": "kpi:orders",
                                                                                "direction": "down"}}))
    frame = kpi_table(np.random.default_rng(5), drop=("US", 0.3, 33))
    frame.assign(timestamp=(frame["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_csv(tmp_path / "kpis.csv", index=False)
    b = load_bundle(tmp_path)
    gen = get_generator("kpi_segments")
    first, second = gen.generate(b).hypotheses, gen.generate(b).hypotheses
    assert [(h.node, h.score, h.onset) for h in first] == [(h.node, h.score, h.onset) for h in second]
    assert first[0].node == "segment:country=US"
    assert {e.test for e in first[0].evidence} == {"explanatory_power", "surprise"}


def test_surprise_sums_to_the_jensen_shannon_divergence():
    from scipy.spatial.distance import jensenshannon
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    assert surprise(p, q).sum() == pytest.approx(jensenshannon(p, q) ** 2)



def test_a_baseline_after_the_current_window():
    """The contract lets the baseline come after the current window (another period, as in some real datasets):
    the current window is compared with it, as the other generators do (`window_masks`); the KPI segments took
    the rows from the baseline's end to the current window's end instead, none here: ZeroDivisionError."""
    from rca.contract.models import Incident

    at = lambda h: (T0 + pd.Timedelta(hours=h)).isoformat()  # noqa: E731
    swapped = Incident.model_validate({**INCIDENT, "current": {"start": at(2), "end": at(8)},
                                       "baseline": {"start": at(14), "end": at(38)}})
    frame = kpi_table(np.random.default_rng(0))
    hit = (frame["timestamp"] >= T0 + pd.Timedelta(hours=2)) & (frame["timestamp"] < T0 + pd.Timedelta(hours=8))
    frame.loc[hit & (frame["country"] == "BR"), "value"] *= 0.5
    hyps = get_generator("kpi_segments").generate(Bundle(incident=swapped, kpis=frame)).hypotheses
    assert hyps and hyps[0].node == "segment:country=BR"


def test_rows_without_a_dimension_value_are_never_the_segment():
    """Orders whose rows carry no country (a source without geolocation) grew from 09:00: the missing value
    explained the whole rise and was named as the segment. It is no segment a user can act on."""
    frame = kpi_table(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    hours = [T0 + pd.Timedelta(hours=h) for h in range(HOURS)]
    extra = pd.DataFrame({"timestamp": hours, "name": "orders", "country": None, "device": "web",
                          "value": np.where(np.arange(HOURS) >= 33, 300.0, 50.0) * (1 + rng.normal(0, 0.01, HOURS))})
    hyps = run(pd.concat([frame, extra], ignore_index=True))
    assert not any(h.node.endswith("=<null>") for h in hyps)
