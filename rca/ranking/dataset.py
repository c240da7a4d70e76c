"""The hypothesis table of a labeled corpus: every incident's feature rows, marked with the true causes.

`corpus_incidents` is the single place that reads a corpus layout (``manifest.csv`` with at least ``id`` and
``split``; bundles at ``path``, ``bundles/<id>.tar.gz`` or ``<id>/``; a folder of bundles without a manifest
is a test set, like the real data). When `rca.corpus.incidents` lands, swap this one function.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, replace
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from rca.contract.timestamps import format_timestamp
from rca.corpus import MANIFEST, materialize, read_manifest, read_recipe
from rca.errors import BundleError, ConfigError
from rca.generators.windows import baseline_layout
from rca.ranking.families import bundle_without, droppable, dropout
from rca.ranking.features import BASE_FEATURES, ID_COLUMNS, incident_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusEntry:
    id: str
    path: Path
    split: str
    detected_at: str = ""
    reduced: bool = False
    """The incident's reduced training copy: its bundle without the families `rca.ranking.families.dropout` picks."""
    without: tuple[str, ...] = ()
    """A copy of the incident without these families (evaluation: how the ranker does on sparser bundles)."""


INCIDENT_COLUMNS = ("incident_id", "split", "detected_at", "causes", "n_hypotheses", "baseline")


@dataclass
class HypothesisTable:
    """``rows``: one per hypothesis (ID_COLUMNS, split, is_cause, features). ``incidents``: one per incident
    (`INCIDENT_COLUMNS`: incident_id, split, detected_at, causes as JSON ``[[node, kind], ...]``, n_hypotheses,
    and how its baseline lies, `rca.generators.windows.baseline_layout`), so incidents whose true cause no
    generator proposed still count as misses."""

    rows: pd.DataFrame
    incidents: pd.DataFrame

    def split(self, *splits: str) -> HypothesisTable:
        return self.subset(self.incidents.loc[self.incidents["split"].isin(splits), "incident_id"])

    def subset(self, incident_ids) -> HypothesisTable:
        """The rows and records of these incidents only."""
        ids = set(incident_ids)
        return HypothesisTable(self.rows[self.rows["incident_id"].isin(ids)].reset_index(drop=True),
                               self.incidents[self.incidents["incident_id"].isin(ids)].reset_index(drop=True))

    def truths(self) -> dict[str, set[tuple[str, str]]]:
        return {r.incident_id: {tuple(c) for c in json.loads(r.causes)} for r in self.incidents.itertuples()}

    @classmethod
    def concat(cls, tables: list[HypothesisTable]) -> HypothesisTable:
        return cls(pd.concat([t.rows for t in tables], ignore_index=True),
                   pd.concat([t.incidents for t in tables], ignore_index=True))


def corpus_incidents(corpus_dir: Path, splits: tuple[str, ...] | None = None) -> list[CorpusEntry]:
    """The incidents of a corpus, optionally only those of ``splits``, sorted by detection time then id."""
    corpus_dir = Path(corpus_dir)
    if (corpus_dir / MANIFEST).is_file():
        entries = [CorpusEntry(e.id, e.path, e.split, format_timestamp(e.detected_at))
                   for e in read_manifest(corpus_dir)]
    elif corpus_dir.is_dir():
        entries = [CorpusEntry(p.name, p, "test", "") for p in sorted(corpus_dir.iterdir())
                   if (p / "incident.json").is_file()]
    else:
        raise BundleError(f"no such corpus: {corpus_dir}; expected a directory with manifest.csv or bundles")
    if splits is not None:
        entries = [e for e in entries if e.split in splits]
    return sorted(entries, key=lambda e: (e.detected_at, e.id))


def materialized(corpus_dir: Path, *, progress: bool = True) -> Path:
    """The directory holding the corpus' bundles (`rca.corpus.materialize`): the corpus itself, or for a recipe
    corpus its generated copy, made on first use with a progress bar."""
    recipe = read_recipe(corpus_dir)
    if recipe is None:
        return Path(corpus_dir)
    bar = None

    def step(k: int) -> None:  # a bar only when the recipe's bundles are being generated
        nonlocal bar
        if bar is None:
            bar = tqdm(total=recipe.n + recipe.mesh, desc=f"corpus {Path(corpus_dir).name}", unit="inc",
                       disable=quiet(progress))
        bar.update(k)

    try:
        return materialize(corpus_dir, progress=step)
    finally:
        if bar is not None:
            bar.close()


def incident_rows(entry: CorpusEntry) -> tuple[pd.DataFrame, dict | None]:
    """Load one labeled incident, generate its candidates, and return (feature rows, incident record).

    A copy's incident is ``<id>~without=<families>`` (`lacking`); (no rows, None) when the copy would lack no
    family the bundle has, or when `rca.ranking.families.dropout` finds none worth removing."""
    from rca.contract import load_bundle, load_label
    from rca.generators import generate_candidates

    bundle = load_bundle(entry.path)
    incident_id = entry.id
    if entry.reduced or entry.without:
        present = droppable(bundle)
        drop = dropout(entry.id, present) if entry.reduced else entry.without
        if not drop or not set(drop) & set(present):
            return pd.DataFrame(), None
        bundle, incident_id = bundle_without(bundle, drop), f"{entry.id}{COPY_MARK}{'+'.join(drop)}"
    candidates = generate_candidates(bundle, strict=True)  # a generator's bug stops training
    it = incident_table(bundle, candidates)
    truth = {(c.node, str(c.kind)) for c in load_label(entry.path).causes}
    rows = it.rows.assign(incident_id=incident_id)
    rows.insert(3, "split", entry.split)
    rows.insert(4, "is_cause", [float((n, k) in truth) for n, k in zip(rows["node"], rows["kind"])])
    record = {"incident_id": incident_id, "split": entry.split,
              "detected_at": entry.detected_at or bundle.incident.detected_at.isoformat(),
              "causes": json.dumps(sorted([list(t) for t in truth])), "n_hypotheses": len(rows),
              "baseline": baseline_layout(bundle.incident)}
    return rows, record


def corpus_rows(corpus_dir: Path, entry: CorpusEntry) -> tuple[pd.DataFrame, dict | None]:
    """`incident_rows` of an incident of ``corpus_dir``, whose bundle or label, if it does not load, is named:
    `BundleError` "incident <id> of corpus <dir>: " and the loader's message (a bare ``label.json`` said neither)."""
    try:
        return incident_rows(entry)
    except BundleError as exc:
        raise BundleError(f"incident {entry.id} of corpus {corpus_dir}: {exc}") from exc


def build_training_table(corpus_dir: Path, splits: tuple[str, ...] | None = None, *, processes: int = 2,
                         cache_dir: Path | None = None, progress: bool = True,
                         reduced_splits: tuple[str, ...] = (),
                         without: tuple[tuple[str, ...], ...] = ()) -> HypothesisTable:
    """The hypothesis table of a corpus, cached as Parquet under ``cache_dir``.

    Each incident of ``reduced_splits`` also gets a reduced copy, its bundle without some signal families
    (`rca.ranking.families.dropout`), so that a ranker trained on them has seen incidents from sources that send
    fewer signals. Only for training splits: the gate's validation incidents stay as they came.

    ``without`` (family combinations, e.g. ``(("kpis",), ("metrics", "traces"))``) adds, for every incident, a
    copy without each combination that removes a family it has: for reports on sparser bundles.

    The default cache is ``<RCA_DATA_DIR>/cache/<corpus name>`` (never inside the corpus: it may be read-only).

    The cache key hashes the source the rows are computed from (`feature_sources`) and the corpus' entries, so
    a change in either rebuilds it.
    """
    if processes < 1:
        raise ConfigError("processes", processes, "an integer >= 1")
    entries = corpus_incidents(corpus_dir, splits)
    entries += [replace(e, reduced=True) for e in entries if e.split in reduced_splits]
    entries += [replace(e, without=tuple(d)) for d in without for e in entries if not (e.reduced or e.without)]
    if cache_dir is None:
        from rca.config import get_settings

        cache_dir = get_settings().data_dir / "cache" / Path(corpus_dir).resolve().name
    key = _cache_key(entries)
    rows_file, inc_file = cache_dir / f"rows-{key}.parquet", cache_dir / f"incidents-{key}.parquet"
    if rows_file.is_file() and inc_file.is_file():
        try:
            table = HypothesisTable(pd.read_parquet(rows_file), pd.read_parquet(inc_file))
            _used(rows_file, inc_file)
            return table
        except Exception as exc:  # damaged (written before writes were atomic, or the disk): rebuilt, not fatal
            log.warning("feature cache %s unreadable (%s: %s); building it again", rows_file.parent,
                        type(exc).__name__, exc)
    bar = tqdm(total=len(entries), desc=f"features {Path(corpus_dir).name}", disable=quiet(progress), unit="inc")
    rows_of = partial(corpus_rows, Path(corpus_dir).resolve())
    results = []
    if processes > 1 and len(entries) > 1:
        with get_context("spawn").Pool(processes, initializer=_leave_interrupts_to_the_parent) as pool:
            for result in pool.imap(rows_of, entries, chunksize=4):
                results.append(result)
                bar.update()
    else:
        for entry in entries:
            results.append(rows_of(entry))
            bar.update()
    bar.close()
    rows = [r for r, _ in results if len(r)]
    table = HypothesisTable(
        pd.concat(rows, ignore_index=True) if rows
        else pd.DataFrame(columns=[*ID_COLUMNS, "split", "is_cause", *BASE_FEATURES]),
        pd.DataFrame([rec for _, rec in results if rec is not None],
                     columns=list(INCIDENT_COLUMNS)))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # written aside and renamed, the rows last: a kill mid-write left a file every later run failed to read
        for frame, target in ((table.incidents, inc_file), (table.rows, rows_file)):
            tmp = target.with_name(f".{target.name}.tmp")
            frame.to_parquet(tmp)
            tmp.replace(target)
        _drop_unused(cache_dir)
    except OSError as exc:  # a read-only data directory: the table is still good, only not kept
        log.warning("feature cache %s not written (%s: %s); it is built again next time", cache_dir,
                    type(exc).__name__, exc)
    return table


def _leave_interrupts_to_the_parent() -> None:
    """A pool process ignores Ctrl-C (SIGINT goes to the terminal's whole process group): the parent stops and
    ends the pool, instead of every process printing a KeyboardInterrupt traceback of the incident in hand."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


CACHE_UNUSED_DAYS = 30
"""A cached table neither written nor read for this many days goes when another is written to its directory
(`_drop_unused`): each change of the feature code leaves a set of tables behind that no code reads again."""


def _used(*files: Path) -> None:
    """Mark cached files as read now (their modification time), so that `_drop_unused` keeps them."""
    try:
        for path in files:
            os.utime(path)
    except OSError:  # a read-only data directory: nothing is written there, nothing dropped either
        pass


def _drop_unused(cache_dir: Path) -> None:
    cutoff = time.time() - CACHE_UNUSED_DAYS * 86400
    for path in cache_dir.glob("*.parquet"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                log.info("feature cache %s dropped: unused for %d days", path, CACHE_UNUSED_DAYS)
        except OSError:  # dropped meanwhile by another run
            pass


def quiet(progress: bool) -> bool:
    """Whether a progress bar stays off: asked not to show, or standard error is not a terminal (a cron log would
    fill with a bar's carriage returns)."""
    return not progress or not sys.stderr.isatty()


COPY_MARK = "~without="


def lacking(incident_id: str) -> str:
    """The families a copy of an incident lacks, as ``a+b`` (`incident_rows`); "" for an incident as it came.

    >>> lacking("inc-7~without=kpis+metrics"), lacking("inc-7")
    ('kpis+metrics', '')
    """
    return incident_id.partition(COPY_MARK)[2]


def count_copies(incident_ids) -> tuple[int, int]:
    """``(incidents as they came, copies lacking families)`` among these ids (`lacking`)."""
    ids = list(incident_ids)
    copies = sum(1 for i in ids if lacking(i))
    return len(ids) - copies, copies


def code_version() -> str:
    """``git describe`` of the checkout when available, else the package version."""
    import subprocess

    from importlib.metadata import PackageNotFoundError, version

    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True,
                             text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return version("rca")
    except PackageNotFoundError:
        return "unknown"


def feature_sources(start: str = __name__) -> list[Path]:
    """The rca source files a hypothesis table depends on: ``start`` and every rca module it imports, directly
    or through others (imports inside functions included; found by reading the code, not by importing it).

    Editing the ranker, the service or the report leaves the cached tables valid; editing a generator, the graph
    or the feature code rebuilds them."""
    package = Path(__file__).resolve().parents[1]
    seen: set[Path] = set()
    todo = [start]
    while todo:
        parts = todo.pop().split(".")
        # importing rca.a.b runs rca/__init__.py and rca/a/__init__.py too: its parent packages are modules to read
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        base = package.joinpath(*parts[1:])
        path = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)
        if path is None or path in seen:            # not a module (a name imported from one), or read already
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "rca":
                todo += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.split(".")[0] == "rca"]
    return sorted(seen)


def _cache_key(entries: list[CorpusEntry]) -> str:
    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for source in feature_sources():
        h.update(source.relative_to(package).as_posix().encode())
        h.update(source.read_bytes())
    for e in entries:
        stat = e.path.stat() if e.path.exists() else None
        h.update(f"{e.id}|{e.split}|{e.path.name}|{stat.st_size if stat else 0}|"
                 f"{stat.st_mtime_ns if stat else 0}{'|reduced' if e.reduced else ''}"
                 f"{'|without=' + '+'.join(e.without) if e.without else ''}".encode())
    return h.hexdigest()[:16]
