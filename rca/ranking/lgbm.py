"""The LightGBM learning-to-rank model (lambdarank, one group per incident) as a versioned artifact."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from rca.errors import NotFittedError, NotFoundError
from rca.ranking.base import TableRanker
from rca.ranking.calibration import Calibration
from rca.ranking.features import BASE_FEATURES, feature_matrix, generator_feature_names

PARAMS = {"objective": "lambdarank", "num_iterations": 300, "learning_rate": 0.05, "num_leaves": 15,
          "min_data_in_leaf": 40, "feature_fraction": 0.8, "lambda_l2": 1.0, "lambdarank_truncation_level": 10,
          "seed": 7, "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1}
"""Training parameters. ``deterministic``, one thread and a fixed seed: same table -> same model bytes.

These are `lightgbm.LGBMRanker`'s (lambdarank, one group per incident) under LightGBM's native names: we call
`lightgbm.train` directly, the function LGBMRanker wraps, because the sklearn wrapper needs scikit-learn."""


@dataclass
class LgbmRanker(TableRanker):
    """A trained lambdarank booster, its exact feature list, its calibration and its metadata."""

    booster: lgb.Booster | None = None
    feature_names: list[str] = field(default_factory=list)
    calibration: Calibration = field(default_factory=Calibration)
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:  # the answer's ``ranker`` field
        return self.meta.get("version", "lgbm")

    def score_table(self, table: pd.DataFrame) -> np.ndarray:
        if self.booster is None:
            raise NotFittedError("LgbmRanker used before it was trained or loaded")
        if len(table) == 0:
            return np.array([])
        return self.booster.predict(feature_matrix(table, self.feature_names), num_threads=1)

    def save(self, directory: Path) -> Path:
        """Write ``model.txt`` and ``meta.json`` (feature list and calibration included) into ``directory``."""
        if self.booster is None:
            raise NotFittedError("cannot save an untrained LgbmRanker")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "model.txt").write_text(self.booster.model_to_string())
        meta = {**self.meta, "feature_names": self.feature_names, "calibration": self.calibration.to_dict()}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        return directory

    @classmethod
    def load(cls, directory: Path) -> LgbmRanker:
        model, meta_file = directory / "model.txt", directory / "meta.json"
        if not model.is_file() or not meta_file.is_file():
            raise NotFoundError(f"{directory}: no ranker artifact (expected model.txt and meta.json)")
        meta = json.loads(meta_file.read_text())
        booster = lgb.Booster(model_str=model.read_text())
        return cls(booster=booster, feature_names=list(meta["feature_names"]),
                   calibration=Calibration.from_dict(meta.get("calibration")), meta=meta)


def fit_lgbm(rows: pd.DataFrame, *, params: dict | None = None) -> LgbmRanker:
    """Train on a hypothesis table (``incident_id``, ``is_cause`` and feature columns).

    Rows are sorted by incident (then node, kind) so that each incident is one consecutive group; the
    feature list is `BASE_FEATURES` plus every generator feature present in the table.
    """
    params = {**PARAMS, **(params or {})}
    rows = rows.sort_values(["incident_id", "node", "kind"], kind="mergesort").reset_index(drop=True)
    names = [*BASE_FEATURES, *generator_feature_names(rows)]
    groups = rows.groupby("incident_id", sort=True).size().to_numpy()
    data = lgb.Dataset(feature_matrix(rows, names), label=rows["is_cause"].astype(int).to_numpy(), group=groups,
                       feature_name=[_safe(n) for n in names], params={"verbose": -1})
    booster = lgb.train(params, data)
    return LgbmRanker(booster=booster, feature_names=names,
                      meta={"params": params, "n_rows": len(rows), "n_incidents": len(groups)})


def _safe(name: str) -> str:
    # LightGBM refuses some characters in feature names (JSON specials); keep the real names in meta.json.
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
