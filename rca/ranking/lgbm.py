"""The LightGBM learning-to-rank model (lambdarank, one group per incident) as a versioned artifact.

A ranker is a small seed ensemble: `N_SEEDS` boosters trained on the same table with seeds 7, 8, ... (each
draws its own feature subsets), their scores averaged. One booster's AC@1 moves by several points with its seed
alone (validation AC@1 0.833-0.860 over seeds 7-11 on our corpus); ensembles of five stayed within 0.851-0.860,
for five times the training time (seconds) and a negligible scoring time. Fifteen boosters (2026-12-05, base seeds 7,
107, 207, 307) gave validation AC@1 0.878-0.884 against 0.881-0.891 for five: no better, for three times the time.

Relevance is binary (``is_cause``). Graded relevance (2 for the cause, 1 for another kind on the cause's node, so
that the right service with the wrong kind ranks above a wrong service) was tried on 2026-12-05 through the same
training and validation splits (four seed ensembles, seeds 7, 107, 207, 307; scratch script): validation AC@1
0.867-0.878 and AC@3 0.939-0.942 (node and kind) against 0.881-0.891 and 0.966-0.969 with binary labels, and
service-level AC@1 of the validation meshes 0.887-0.900 against 0.880-0.887. The gate refuses a ranker that is
worse on AC@1, so binary stayed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from rca.errors import NotFittedError, NotFoundError
from rca.ranking.base import TableRanker
from rca.ranking.calibration import Calibration
from rca.ranking.features import BASE_FEATURES, UNPORTABLE_FEATURES, feature_matrix, generator_feature_names

PARAMS = {"objective": "lambdarank", "num_iterations": 300, "learning_rate": 0.05, "num_leaves": 15,
          "min_data_in_leaf": 40, "feature_fraction": 0.8, "lambda_l2": 1.0, "lambdarank_truncation_level": 10,
          "seed": 7, "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1}
"""Training parameters. ``deterministic``, one thread and a fixed seed: same table -> same model bytes.

These are `lightgbm.LGBMRanker`'s (lambdarank, one group per incident) under LightGBM's native names: we call
`lightgbm.train` directly, the function LGBMRanker wraps, because the sklearn wrapper needs scikit-learn.

Tried on 2026-12-07 and not kept: monotone constraints (``monotone_constraints_method="advanced"``) making the
score rise with the generator's evidence (``score``, ``log_score``, ``score_rel_max``, ``score_z``,
``metric.kind_z``) and fall with ``score_rank``, so that a stronger signal can never rank lower, as on other
sources' incidents where a failing callee with a capped z ranked below its caller. Seed ensembles from 7, 107, 207
and 307 on the same table (scratch script), validation AC@1 0.884, 0.881, 0.881, 0.881 against 0.878, 0.881,
0.884, 0.881 without; AC@3 0.964 against 0.963 on average; MRR alike. No better on the split that decides, so
no change; the test sets were not read."""

N_SEEDS = 5
"""Boosters per ranker (seeds ``PARAMS["seed"]`` + 0, 1, ...), their scores averaged."""


@dataclass
class LgbmRanker(TableRanker):
    """Trained lambdarank boosters (scores averaged), the exact feature list, calibration and metadata."""

    boosters: list[lgb.Booster] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    calibration: Calibration = field(default_factory=Calibration)
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:  # the answer's ``ranker`` field
        return self.meta.get("version", "lgbm")

    def score_table(self, table: pd.DataFrame) -> np.ndarray:
        if not self.boosters:
            raise NotFittedError("LgbmRanker used before it was trained or loaded")
        if len(table) == 0:
            return np.array([])
        x = feature_matrix(table, self.feature_names)
        return np.mean([b.predict(x, num_threads=1) for b in self.boosters], axis=0)

    def model_strings(self) -> list[str]:
        """Each booster as LightGBM's text format (what ``save`` writes)."""
        return [b.model_to_string() for b in self.boosters]

    def save(self, directory: Path) -> Path:
        """Write ``model.txt`` (``model-<i>.txt`` for the other boosters) and ``meta.json`` (feature list,
        calibration and the model files included) into ``directory``."""
        if not self.boosters:
            raise NotFittedError("cannot save an untrained LgbmRanker")
        directory.mkdir(parents=True, exist_ok=True)
        files = [_model_file(i) for i in range(len(self.boosters))]
        sha256 = {}
        for name, text in zip(files, self.model_strings()):
            (directory / name).write_text(text)
            sha256[name] = hashlib.sha256(text.encode()).hexdigest()
        meta = {**self.meta, "feature_names": self.feature_names, "calibration": self.calibration.to_dict(),
                "model_files": files, "model_sha256": sha256}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        return directory

    @classmethod
    def load(cls, directory: Path) -> LgbmRanker:
        model, meta_file = directory / "model.txt", directory / "meta.json"
        if not model.is_file() or not meta_file.is_file():
            raise NotFoundError(f"{directory}: no ranker artifact (expected model.txt and meta.json)")
        try:
            meta = json.loads(meta_file.read_text())
        except ValueError as exc:  # UnicodeDecodeError too
            raise ValueError(f"meta.json is not JSON ({exc})") from exc
        files = [directory / name for name in meta.get("model_files", ["model.txt"])]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise NotFoundError(f"{directory}: meta.json lists model files that are missing: {', '.join(missing)}")
        texts = [f.read_text() for f in files]
        for f, text in zip(files, texts):
            # LightGBM aborts the whole process (SIGABRT) on some damaged model texts, not raising: a file that is
            # not what was saved is refused before it reaches LightGBM (rankers saved before 2026-12-07 have no sums)
            expected = meta.get("model_sha256", {}).get(f.name)
            if expected is not None and hashlib.sha256(text.encode()).hexdigest() != expected:
                raise ValueError(f"{f.name} is not the file that was saved (its sha256 differs from meta.json's "
                                 "model_sha256): damaged or changed since")
        boosters = []
        for f, text in zip(files, texts):
            try:
                boosters.append(lgb.Booster(model_str=text))
            except lgb.basic.LightGBMError as exc:
                raise ValueError(f"{f.name} is no model LightGBM can read ({str(exc).splitlines()[0]})") from exc
        return cls(boosters=boosters, feature_names=list(meta["feature_names"]),
                   calibration=Calibration.from_dict(meta.get("calibration")), meta=meta)


def fit_lgbm(rows: pd.DataFrame, *, params: dict | None = None, n_seeds: int = N_SEEDS) -> LgbmRanker:
    """Train ``n_seeds`` boosters on a hypothesis table (``incident_id``, ``is_cause`` and feature columns).

    Rows are sorted by incident (then node, kind) so that each incident is one consecutive group; the
    feature list is `BASE_FEATURES` plus every generator feature present in the table, less
    `UNPORTABLE_FEATURES`. Booster ``i`` uses seed ``params["seed"] + i``.
    """
    params = {**PARAMS, **(params or {})}
    rows = rows.sort_values(["incident_id", "node", "kind"], kind="mergesort").reset_index(drop=True)
    names = [n for n in (*BASE_FEATURES, *generator_feature_names(rows)) if n not in UNPORTABLE_FEATURES]
    groups = rows.groupby("incident_id", sort=True).size().to_numpy()
    data = lgb.Dataset(feature_matrix(rows, names), label=rows["is_cause"].astype(int).to_numpy(), group=groups,
                       feature_name=[_safe(n) for n in names], params={"verbose": -1})
    boosters = [lgb.train({**params, "seed": params["seed"] + i}, data) for i in range(max(1, n_seeds))]
    return LgbmRanker(boosters=boosters, feature_names=names,
                      meta={"params": params, "n_seeds": len(boosters), "n_rows": len(rows),
                            "n_incidents": len(groups)})


def _model_file(i: int) -> str:
    return "model.txt" if i == 0 else f"model-{i}.txt"


def _safe(name: str) -> str:
    # LightGBM refuses some characters in feature names (JSON specials); keep the real names in meta.json.
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
