"""In-memory bundles with raw feature samples (training rows + hourly serving rows), for the samples tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import Event
from tests.builders import T0
from tests.hist_builders import HOURS, incident


def samples_frame(rng, columns: dict, *, n_train: int = 3000, per_hour: int = 400) -> pd.DataFrame:
    """A feature_samples table. ``columns[name] = (training_maker, serving_maker)``: ``training_maker(rng, n)``
    gives the training values; ``serving_maker(rng, hour_of_each_row)`` gives the serving values."""
    n_srv = HOURS * per_hour
    offsets = np.sort(rng.uniform(0, HOURS * 3600, n_srv))
    ts = T0 + pd.to_timedelta(offsets, unit="s")
    hour = (offsets // 3600).astype(int)
    train_ts = T0 - pd.Timedelta(days=30) + pd.to_timedelta(np.arange(n_train), unit="s")
    data = {"timestamp": np.concatenate([train_ts.to_numpy(), ts.to_numpy()]),
            "role": ["training"] * n_train + ["serving"] * n_srv}
    for name, (train, serve) in columns.items():
        a, b = train(rng, n_train), serve(rng, hour)
        data[name] = np.concatenate([np.asarray(a, dtype=object), np.asarray(b, dtype=object)]) \
            if (np.asarray(a).dtype == object or np.asarray(b).dtype == object) else np.concatenate([a, b])
    frame = pd.DataFrame(data)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.sort_values("timestamp", kind="stable", ignore_index=True)


def normal(rng, n):
    return rng.normal(size=n if np.isscalar(n) else len(n))


def changed_from(hour0: int, change):
    """Serving maker: standard normal before ``hour0``, ``change(rng, values, after_mask)`` from it on."""
    def make(rng, hour):
        x = rng.normal(size=len(hour)).astype(object if change is None else float)
        return change(rng, x, hour >= hour0)
    return make


def bundle(frame: pd.DataFrame, events=()) -> Bundle:
    return Bundle(incident=incident(), feature_samples=frame,
                  events=tuple(Event.model_validate(e) for e in events))
