"""Training a ranker on a hypothesis table, calibrating it, and the champion/challenger gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rca.corpus import training_corpora
from rca.errors import ConfigError, ConflictError
from rca.ranking.calibration import fit_calibration
from rca.ranking.dataset import HypothesisTable, build_training_table, code_version, count_copies, materialized
from rca.ranking.evaluate import calibration_groups, evaluate_scores
from rca.ranking.families import family_mix
from rca.ranking.lgbm import LgbmRanker, fit_lgbm
from rca.ranking.registry import RankerRegistry, packaged_champion

TRAIN_SPLITS = ("train", "review")
VALIDATION_SPLIT = "validation"
FAMILY_DROPOUT = True
"""Train on each training incident and on a reduced copy of it (`rca.ranking.families.dropout`)."""
MIN_VALIDATION = 30
"""Fewer validation incidents than this tell two rankers apart by chance (one incident moves AC@1 by 1/n): the gate
does not replace a champion on them. A `rca train --corpus` experiment on a small corpus replaced the champion in use
on 3 validation incidents."""
MIN_KNOWN_VALIDATION = 30
"""The gate also compares challenger and champion on the validation incidents the champion was validated on
(`known_validation`) when at least this many of them are still validation incidents."""


def train_ranker(table: HypothesisTable, *, params: dict | None = None) -> LgbmRanker:
    """Fit on the train(+review) incidents, calibrate on validation, record metadata and validation metrics.

    Raises
    ------
    ConfigError
        When the train/review splits have no hypothesis rows.
    """
    train = table.split(*TRAIN_SPLITS)
    if train.rows.empty:
        raise ConfigError("table", "no hypothesis rows in the train/review splits", "a labeled training split")
    ranker = fit_lgbm(train.rows, params=params)
    validation = table.split(VALIDATION_SPLIT)
    if not validation.rows.empty:
        scores = ranker.score_table(validation.rows)
        ranker.calibration = fit_calibration(calibration_groups(validation, scores))
        metrics = evaluate_scores(validation, scores, calibration=ranker.calibration)
        ranker.meta["validation_metrics"] = {"overall": metrics["overall"], "node_level": metrics["node_level"],
                                             "ece": metrics["ece"]}
    ranker.meta.update({
        "training_incidents": sorted(train.incidents["incident_id"]),
        "validation_incidents": sorted(validation.incidents["incident_id"]),
        "code_version": code_version(),
        "family_mix": family_mix(train.rows),   # rca.ranking.families: what the model has seen
    })
    return ranker


def challenger_wins(challenger: dict, champion: dict | None) -> bool:
    """The gate: promote unless the challenger is worse on validation AC@1 (ties broken by MRR)."""
    if champion is None:
        return True
    c, b = challenger["overall"], champion["overall"]
    if not np.isclose(c["AC@1"], b["AC@1"]):
        return c["AC@1"] > b["AC@1"]
    return c["MRR"] >= b["MRR"] - 1e-12


def known_validation(validation: HypothesisTable, champion) -> HypothesisTable | None:
    """The validation incidents the champion was also validated on (``validation_incidents`` in its metadata),
    or None when they are the whole split, fewer than `MIN_KNOWN_VALIDATION`, or not recorded.

    A corpus added since the champion was chosen joins the validation split, and only the challenger has trained
    on its kind of incident: the whole split alone would then favour the challenger. On 2026-12-03 a challenger
    trained with a new corpus won on the whole split (AC@1 0.864 vs 0.845) and lost on the champion's own
    validation incidents (0.878 vs 0.884), and it was worse on the test split and on PetShop.
    """
    ids = set((getattr(champion, "meta", None) or {}).get("validation_incidents", []))
    current = validation.incidents["incident_id"]
    known = current[current.isin(ids)]
    if len(known) < MIN_KNOWN_VALIDATION or len(known) == len(current):
        return None
    return validation.subset(known)


def refusal(challenger: dict, champion: dict | None, known: dict | None = None) -> str | None:
    """Why the gate refuses a challenger, or None to promote it: fewer than `MIN_VALIDATION` validation incidents
    to judge it against a champion on, worse than the champion on the validation split (`challenger_wins`), or on
    the part of it the champion was validated on (``known``: ``{"n", "challenger", "champion"}`` metrics of
    `known_validation`)."""
    n = challenger.get("overall", {}).get("n")
    if champion is not None and n is not None and n < MIN_VALIDATION:
        return (f"only {n} validation incidents, fewer than the {MIN_VALIDATION} the gate needs to replace a "
                "champion (promote it by hand to use it anyway)")
    if not challenger_wins(challenger, champion):
        return "worse than the champion on validation"
    if known is not None and not challenger_wins(known["challenger"], known["champion"]):
        return f"worse than the champion on the {known['n']} validation incidents it was validated on"
    return None


def training_table(corpus_dirs: list[Path], *, processes: int = 2, progress: bool = True,
                   family_dropout: bool = FAMILY_DROPOUT) -> HypothesisTable:
    """The train, review and validation rows of every corpus and of the corpora nested in them
    (`rca.corpus.training_corpora`; a recipe corpus is generated on first use, `rca.corpus.materialize`),
    each read once; never the test split. With ``family_dropout`` each train/review incident also has a
    reduced copy (`build_training_table`); validation incidents never do."""
    corpora = _corpora(corpus_dirs)
    dirs = [materialized(c, progress=progress) for c in corpora]
    reduced = TRAIN_SPLITS if family_dropout else ()
    tables = [build_training_table(d, ("train", "review", "validation"), processes=processes, progress=progress,
                                   reduced_splits=reduced) for d in dirs]
    _one_incident_once(dict(zip(corpora, tables)))
    return HypothesisTable.concat(tables)


def _corpora(corpus_dirs: list[Path]) -> list[Path]:
    """The corpora training reads: each of ``corpus_dirs`` and those nested in it (`rca.corpus.training_corpora`),
    resolved, each once."""
    return list(dict.fromkeys(p.resolve() for d in corpus_dirs for p in training_corpora(Path(d))))


def _one_incident_once(tables: dict[Path, HypothesisTable]) -> None:
    """`ConfigError` for an incident id in two corpora. Each incident is one ranking group, so a second copy merged
    with the first into one group of twice the rows (an NDCG@5 of 1.23 on validation), or trained on an incident
    the gate then validated on: a corpus copied into another, a reviewed incident that is also a corpus incident.
    (A manifest row written twice is refused as the manifest is read, `rca.corpus.read_manifest`.)"""
    seen: dict[str, Path] = {}
    for corpus, table in tables.items():
        for incident_id in table.incidents["incident_id"].astype(str):
            if incident_id in seen:
                raise ConfigError(str(corpus), incident_id, f"incident ids not already in {seen[incident_id]}: "
                                  "each incident once among the training corpora")
            seen[incident_id] = corpus


def _packaged_better(champion, validation: HypothesisTable, challenger: dict) -> str | None:
    """A warning when the ranker packaged with the code beats the challenger on validation while another champion
    is in use: the gate compares with the champion alone, so after a weak ranker was promoted by hand (the gate
    skipped) a weekly retrain promotes whatever beats it, and a rollback returns to it, not to the packaged one."""
    packaged = packaged_champion()
    if packaged is None or champion is None or champion.name == packaged.name:
        return None
    theirs = evaluate_scores(validation, packaged.score_table(validation.rows))
    if challenger_wins(challenger, theirs):
        return None
    return (f"the packaged ranker {packaged.name} is better on this validation split than the challenger (AC@1 "
            f"{theirs['overall']['AC@1']:.3f} vs {challenger['overall']['AC@1']:.3f}): the champion in use may have "
            "been promoted by hand past the gate; `rca rankers rollback` back to the packaged ranker (or promote "
            "it) to use it")


def _rolled_back_twin(registry: RankerRegistry, challenger: LgbmRanker) -> tuple[str, str] | None:
    """``(version, why it is not promoted again)`` for a challenger that is the model of a version someone rolled
    back, else None: the same data train the same model byte for byte, and promoting it would undo that rollback
    without a word (nor is it stored again: that version is it)."""
    for version, reason in registry.rolled_back().items():
        if registry.load(version).model_strings() == challenger.model_strings():
            return version, f"the same model as {version}, which was rolled back ({reason})"
    return None


def retrain(corpus_dirs: list[Path], registry_dir: Path, *, processes: int = 2, progress: bool = True,
            family_dropout: bool = FAMILY_DROPOUT) -> dict:
    """Build the table from every corpus, train a challenger, and promote it if it is not worse.

    Only the train/review splits train and only validation decides; the test split is never read here.
    A challenger identical to the champion (same model files: no new data since) is neither stored nor promoted
    (``twin``; ``challenger`` is then the champion's version);
    one worse on validation, or on the validation incidents the champion was validated on, is refused
    (`refusal`, `known_validation`), and so is one that is the model of a version rolled back
    (`_rolled_back_twin`) or gated against a champion that was replaced while it trained (`RankerRegistry.promote`'s
    ``replacing``). Without validation incidents nothing is stored: `ConfigError`.
    Returns ``{"challenger": version, "champion": version or None, "promoted": bool, "twin": bool, "refused": reason
    or None, "known": {"n", "challenger", "champion"} or None, "warning": `_packaged_better` or None, "metrics":
    {"challenger": ..., "champion": ...}, "training": {...}}``, the validation metrics overall and per cause kind
    (`rca.ranking.report.write_retrain_report` makes the platform team's report of it).
    """
    table = training_table(corpus_dirs, processes=processes, progress=progress, family_dropout=family_dropout)
    registry = RankerRegistry(registry_dir)
    gated_against = registry.champion_version()
    champion = registry.champion() or packaged_champion()  # the one in use is the one to beat
    challenger = train_ranker(table)
    validation = table.split(VALIDATION_SPLIT)
    if validation.rows.empty:  # the gate has nothing to decide on: store and promote nothing
        raise ConfigError("table", "no hypothesis rows in the validation split", "a labeled validation split in one "
                          f"of the corpora read: {', '.join(map(str, _corpora(corpus_dirs)))}")
    # the same code and data train the same model byte for byte: a twin of the champion is no change to promote,
    # nor to store (a weekly retrain without new reviews stored the same 3 MB every week)
    twin = isinstance(champion, LgbmRanker) and challenger.model_strings() == champion.model_strings()
    rolled_back = None if twin else _rolled_back_twin(registry, challenger)
    version = champion.name if twin else rolled_back[0] if rolled_back else registry.save(challenger)
    ch_scores = challenger.score_table(validation.rows)
    cp_scores = champion.score_table(validation.rows) if champion is not None else None
    ch_metrics = evaluate_scores(validation, ch_scores)
    cp_metrics = evaluate_scores(validation, cp_scores) if champion is not None else None
    part = known_validation(validation, champion)
    if part is not None:          # the same scores, on the part's rows (a subset keeps the rows' order)
        rows = validation.rows["incident_id"].isin(part.incidents["incident_id"]).to_numpy()
        known = {"n": len(part.incidents), "challenger": evaluate_scores(part, ch_scores[rows]),
                 "champion": evaluate_scores(part, cp_scores[rows])}
    else:
        known = None
    refused = None if twin else (refusal(ch_metrics, cp_metrics, known) or (rolled_back[1] if rolled_back else None))
    promoted = not twin and refused is None
    if promoted:
        champion_ac1 = f"{cp_metrics['overall']['AC@1']:.3f}" if cp_metrics else "none"
        also = (f"; on the champion's {known['n']} validation incidents {known['challenger']['overall']['AC@1']:.3f}"
                f" vs {known['champion']['overall']['AC@1']:.3f}" if known else "")
        try:
            registry.promote(version, reason=f"validation AC@1 {ch_metrics['overall']['AC@1']:.3f} vs champion "
                                             f"{champion_ac1}{also}", replacing=gated_against)
        except ConflictError as exc:   # promoted or rolled back by hand meanwhile: this gate's verdict is stale
            promoted, refused = False, str(exc)
    n_training, n_copies = count_copies(challenger.meta["training_incidents"])
    return {"challenger": version, "champion": champion.name if champion is not None else None,
            "promoted": promoted, "twin": twin, "refused": refused, "known": known,
            "warning": _packaged_better(champion, validation, ch_metrics),
            "metrics": {"challenger": ch_metrics, "champion": cp_metrics},
            "training": {"incidents": n_training, "reduced_copies": n_copies,
                         "validation_incidents": len(validation.incidents)}}
