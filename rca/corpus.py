"""The labeled corpus: deterministic bundle archives plus a manifest that gives each incident its split.

Layout::

    labeled_incidents/
      manifest.csv            id, detected_at, split, kinds, nodes, n_causes, source, path, sha256
      bundles/<id>.tar.gz     one incident bundle each, with its label.json
      <name>/manifest.csv     optional nested corpora of the same layout (`training_corpora`)
      <name>/recipe.json      ... or a nested simulated corpus kept as its recipe and manifest only: the bundles
                              are regenerated once, on first use, and checked against it (`materialize`)

Splits are by time, as in production: incidents sorted by ``detected_at`` (then id); the first 60% are
``train``, the next 20% ``validation``, the last 20% ``test``. `add_incident` (called by the review service's
retraining with confirmed reviews) appends an incident and re-assigns the splits over the whole manifest
with the same rule, so the newest incidents are always the test set.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rca.contract.archive import is_archive
from rca.contract.load import bundle_directory
from rca.contract.models import CauseKind, Label
from rca.contract.timestamps import format_timestamp, parse_timestamp
from rca.errors import BundleError, ConfigError, shown
from rca.fingerprint import fingerprint_archive, same_content
from rca.simulate.write import archive, write_json

MANIFEST = "manifest.csv"
RECIPE = "recipe.json"
FINGERPRINTS = "fingerprints.json"
"""Beside a recipe: per incident the `rca.fingerprint` of its archive, what the recipe must reproduce."""
_CHECKED = ".reproduces"
COLUMNS = ("id", "detected_at", "split", "kinds", "nodes", "n_causes", "source", "path", "sha256")
SPLITS = (("train", 0.6), ("validation", 0.2), ("test", 0.2))
SPLIT_NAMES = ("train", "review", "validation", "test")
"""What a manifest's ``split`` may say: the three `assign_splits` deals, and ``review``, which training reads as a
training split too (`rca.ranking.train.TRAIN_SPLITS`) though nothing here writes it."""


@dataclass(frozen=True)
class Entry:
    """One manifest row. ``kinds`` and ``nodes`` are the label's causes, in order."""

    id: str
    detected_at: datetime
    split: str
    kinds: tuple[str, ...]
    nodes: tuple[str, ...]
    source: str
    path: Path  # the bundle archive, absolute
    sha256: str

    def row(self, corpus_dir: Path) -> dict[str, str]:
        return {"id": self.id, "detected_at": format_timestamp(self.detected_at), "split": self.split,
                "kinds": ";".join(self.kinds), "nodes": ";".join(self.nodes), "n_causes": str(len(self.kinds)),
                "source": self.source, "path": self.path.relative_to(corpus_dir).as_posix(), "sha256": self.sha256}


def read_manifest(corpus_dir: str | Path) -> list[Entry]:
    """The manifest's entries in file order (time order). An absent manifest is an empty corpus.

    Raises
    ------
    BundleError
        For a manifest row with a missing value, an unreadable timestamp, a split not in `SPLIT_NAMES` (which
        training would leave out of every split), a kind that is not a `CauseKind`, not one node per kind, an
        ``n_causes`` that is not their number, a ``sha256`` (optional) that is not 64 lowercase hex digits, values
        past the header's columns (a path holding an unquoted comma), or an id an earlier row has (both rows
        named): names the manifest's path (a nested corpus' is told apart), the row and the field.
    """
    corpus_dir = Path(corpus_dir).resolve()
    path = corpus_dir / MANIFEST
    if not path.exists():
        return []
    entries: list[Entry] = []
    rows: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=1):
            entry = _entry(row, corpus_dir, where := {"file": str(path), "row": i})
            first = rows.setdefault(entry.id, i)
            if first != i:  # one ranking group of both incidents' rows, in training and in evaluation
                raise BundleError(f"{shown(entry.id)} again, first at row {first}; expected each incident id once in "
                                  "a manifest", **where, field="id")
            entries.append(entry)
    return entries


def _entry(row: dict, corpus_dir: Path, where: dict) -> Entry:
    """One manifest row (`COLUMNS`) as an `Entry`, or `BundleError` at ``where`` (its file and row)."""
    missing = [c for c in COLUMNS if not row.get(c) and c != "sha256"]
    if missing:
        raise BundleError("empty or missing value", **where, field=missing[0])
    extra = row.get(None)   # `csv.DictReader`'s place for the values past the header's columns
    if extra:
        raise BundleError(f"{len(extra)} value(s) past the header's {len(row) - 1} columns, the first "
                          f"{shown(extra[0])}; expected one value per column (quote a value holding a comma)",
                          **where)
    try:
        when = parse_timestamp(row["detected_at"])
    except ValueError as exc:
        raise BundleError(str(exc), **where, field="detected_at") from exc
    if row["split"] not in SPLIT_NAMES:
        raise BundleError(f"{shown(row['split'])} is not a split; expected {', '.join(SPLIT_NAMES[:-1])} or "
                          f"{SPLIT_NAMES[-1]}", **where, field="split")
    kinds, nodes = tuple(row["kinds"].split(";")), tuple(row["nodes"].split(";"))
    known = [k.value for k in CauseKind]
    for kind in kinds:
        if kind not in known:
            raise BundleError(f"{shown(kind)} is not a cause kind; expected kinds separated by ';' among "
                              f"{', '.join(known)}", **where, field="kinds")
    if len(nodes) != len(kinds):
        raise BundleError(f"kinds lists {len(kinds)} causes and nodes {len(nodes)}; expected one node per kind, in "
                          "the same order", **where, field="nodes")
    if not _integer(row["n_causes"], len(kinds)):
        raise BundleError(f"{shown(row['n_causes'])}; expected {len(kinds)}, the number of causes kinds and nodes "
                          "list", **where, field="n_causes")
    sha256 = row.get("sha256") or ""
    if sha256 and (len(sha256) != 64 or not set(sha256) <= set("0123456789abcdef")):  # as `sha256_of` writes it
        raise BundleError(f"{shown(sha256)} is not a sha256; expected 64 lowercase hex digits (the archive's) or "
                          "nothing", **where, field="sha256")
    return Entry(row["id"], when, row["split"], kinds, nodes, row["source"], corpus_dir / row["path"], sha256)


def _integer(text: str, value: int) -> bool:
    """Whether ``text`` is the integer ``value`` (``2``, `` 2``, ``02``)."""
    try:
        return int(text) == value
    except ValueError:
        return False


def training_corpora(corpus_dir: str | Path) -> list[Path]:
    """A corpus and the corpora nested in it (subdirectories with their own ``manifest.csv``), sorted.

    Training and the champion/challenger gate read all of them (each with its own time split); reports
    evaluate the top corpus' test split, so adding a nested corpus (more incidents of one family, say)
    leaves the test set unchanged.
    """
    root = Path(corpus_dir)
    nested = sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()) if root.is_dir() else []
    return [root, *nested]


@dataclass(frozen=True)
class Recipe:
    """How a simulated corpus was built: ``rca corpus build --n N --mesh M --seed S [--views] [--traffic]
    [--deploys] [--fanout]``."""

    n: int
    mesh: int
    seed: int
    views: bool = False
    traffic: bool = False
    deploys: bool = False
    fanout: bool = False

    @property
    def options(self) -> dict[str, bool]:
        """The simulator's options (`RECIPE_FLAGS`) as keyword arguments of `build_corpus` and `build_planned`."""
        return {name: getattr(self, name) for name in RECIPE_FLAGS}

    @property
    def flags(self) -> str:
        """The recipe's options as ``rca corpus build`` flags ('' when none)."""
        return "".join(f" --{name}" for name, on in self.options.items() if on)


RECIPE_FLAGS = ("views", "traffic", "deploys", "fanout")
"""The simulator's options a recipe may set (`Recipe`), each false unless ``recipe.json`` says true."""


def read_recipe(corpus_dir: str | Path) -> Recipe | None:
    """The corpus' ``recipe.json``, or None when it has none (its bundles are in the corpus itself).

    Raises
    ------
    BundleError
        When the file is not a JSON object of non-negative integers ``n``, ``mesh`` and ``seed`` (and, optionally,
        booleans of `RECIPE_FLAGS`).
    """
    path = Path(corpus_dir) / RECIPE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"not JSON: {exc}", file=str(path)) from exc
    if not isinstance(data, dict):
        raise BundleError("expected an object with n, mesh and seed", file=str(path))
    for key in ("n", "mesh", "seed"):
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BundleError(f"expected a non-negative integer, got {value!r}", file=str(path), field=key)
    flags = {name: data.get(name, False) for name in RECIPE_FLAGS}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise BundleError(f"expected true or false, got {value!r}", file=str(path), field=name)
    return Recipe(data["n"], data["mesh"], data["seed"], **flags)


def materialize(corpus_dir: str | Path, *, cache_root: Path | None = None, progress=None) -> Path:
    """The directory that holds the corpus' bundles: the corpus itself, or for a recipe corpus its copy under
    ``cache_root`` (default ``<RCA_DATA_DIR>/corpora``), generated the first time and reused from then on.

    A recipe corpus keeps only ``recipe.json``, ``manifest.csv`` and ``fingerprints.json`` in the repository:
    the simulator is deterministic, so the regenerated incidents must be the manifest's (same ids, times,
    splits and labels) and each archive must say what its fingerprint says (`rca.fingerprint`: equal up to the
    last digits of its numbers, which differ from one CPU to another). An archive with the manifest's exact
    bytes needs no fingerprint; a recipe without ``fingerprints.json`` (written before it existed) is checked
    by bytes alone.

    Raises
    ------
    ConfigError
        When the regenerated corpus differs: the simulator has changed since the recipe was written; rebuild
        it with ``rca corpus build --recipe`` (the message says how, and which incident differs).
    """
    corpus_dir = Path(corpus_dir).resolve()
    recipe = read_recipe(corpus_dir)
    if recipe is None:
        return corpus_dir
    rebuild = (f"rewrite it with `rca corpus build --out {corpus_dir} --n {recipe.n} --mesh {recipe.mesh} "
               f"--seed {recipe.seed}{recipe.flags} --recipe`")
    if not (corpus_dir / MANIFEST).is_file():
        raise ConfigError(str(corpus_dir / MANIFEST), "no file", f"the manifest of {RECIPE}; {rebuild}")
    stamp = _stamp(corpus_dir)
    target = _recipe_target(corpus_dir, cache_root)
    if _holds(target, stamp):
        return target
    _generate(target, recipe, progress)
    try:
        problem = _reproduces(read_manifest(corpus_dir), read_manifest(target), _read_fingerprints(corpus_dir))
    except (KeyError, TypeError, ValueError) as exc:      # a fingerprint without digest or sums, or not a pair
        raise BundleError(f"expected rca.fingerprint's shape for every incident, got {exc!r}",
                          file=str(corpus_dir / FINGERPRINTS)) from exc
    if problem is not None:
        raise ConfigError(str(corpus_dir), f"a recipe the simulator no longer reproduces ({problem})",
                          f"the corpus of {RECIPE}; {rebuild}")
    (target / _CHECKED).write_text(stamp, encoding="utf-8")
    return target


def _recipe_target(corpus_dir: Path, cache_root: Path | None) -> Path:
    if cache_root is None:
        from rca.config import get_settings

        cache_root = get_settings().data_dir / "corpora"
    return Path(cache_root).resolve() / corpus_dir.name


def _generate(target: Path, recipe: Recipe, progress) -> None:
    if target.exists():
        shutil.rmtree(target)
    build_corpus(target, n=recipe.n, seed=recipe.seed, mesh=recipe.mesh, **recipe.options, progress=progress)


def _stamp(corpus_dir: Path) -> str:
    """What a checked cache was checked against: the recipe, manifest and fingerprints files, as they are."""
    return hashlib.sha256(b"".join((corpus_dir / f).read_bytes() if (corpus_dir / f).is_file() else b"-"
                                   for f in (RECIPE, MANIFEST, FINGERPRINTS))).hexdigest()


def _holds(target: Path, stamp: str) -> bool:
    """Whether ``target`` was checked against this very recipe (``stamp``) and every archive it lists is intact."""
    checked = target / _CHECKED
    if not checked.is_file() or checked.read_text(encoding="utf-8") != stamp:
        return False
    return all(e.path.is_file() and sha256_of(e.path) == e.sha256 for e in read_manifest(target))


def _reproduces(committed: list[Entry], built: list[Entry], fingerprints: dict | None) -> str | None:
    """None when ``built`` is the committed corpus; else the first difference, in words."""
    def plan(e: Entry) -> tuple:
        return e.id, e.detected_at, e.split, e.kinds, e.nodes, e.source

    if [plan(e) for e in built] != [plan(e) for e in committed]:
        return "other incidents, times, splits or labels"
    for mine, theirs in zip(built, committed):
        if mine.sha256 == theirs.sha256:
            continue
        if fingerprints is None or mine.id not in fingerprints:
            return f"{mine.id}: other bytes and no fingerprint to compare"
        problem = same_content(fingerprint_archive(mine.path), fingerprints[mine.id])
        if problem is not None:
            return f"{mine.id}: {problem}"
    return None


def _read_fingerprints(corpus_dir: Path) -> dict | None:
    path = corpus_dir / FINGERPRINTS
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"not JSON: {exc}", file=str(path)) from exc


def write_recipe(corpus_dir: str | Path, *, n: int, seed: int, mesh: int = 0, views: bool = False,
                 traffic: bool = False, deploys: bool = False, fanout: bool = False, cache_root: Path | None = None,
                 progress=None) -> list[Entry]:
    """Build a simulated corpus as a recipe: ``recipe.json``, ``manifest.csv`` and ``fingerprints.json`` in
    ``corpus_dir``, the archives in the cache `materialize` reads (so nothing is generated twice)."""
    corpus_dir = Path(corpus_dir).resolve()
    if (corpus_dir / "bundles").exists():
        raise ConfigError("out", str(corpus_dir), "a directory without bundles/ (a recipe corpus keeps none)")
    _check_counts(n, mesh)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    recipe = Recipe(n, mesh, seed, views, traffic, deploys, fanout)
    target = _recipe_target(corpus_dir, cache_root)
    _generate(target, recipe, progress)
    entries = read_manifest(target)
    write_json(corpus_dir / RECIPE, asdict(recipe))
    shutil.copyfile(target / MANIFEST, corpus_dir / MANIFEST)
    write_fingerprints(corpus_dir, entries)
    (target / _CHECKED).write_text(_stamp(corpus_dir), encoding="utf-8")
    return entries


def write_fingerprints(corpus_dir: Path, entries: list[Entry]) -> Path:
    """``fingerprints.json`` of a recipe corpus: each archive's `rca.fingerprint`, one incident per line."""
    lines = [f"{json.dumps(e.id)}: {json.dumps(fingerprint_archive(e.path), sort_keys=True, separators=(',', ':'))}"
             for e in entries]
    path = Path(corpus_dir) / FINGERPRINTS
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    return path


def incidents(corpus_dir: str | Path, split: str | None = None) -> list[Entry]:
    """Entries of the corpus, optionally of one split (``train``, ``validation``, ``test``)."""
    if split is not None and split not in {s for s, _ in SPLITS}:
        raise ConfigError("split", split, "one of train, validation, test")
    return [e for e in read_manifest(corpus_dir) if split is None or e.split == split]


def assign_splits(entries: list[Entry]) -> list[Entry]:
    """Sort by (detected_at, id) and split 60/20/20 by time: the test incidents come last."""
    ordered = sorted(entries, key=lambda e: (e.detected_at, e.id))
    n = len(ordered)
    cut_train = round(n * SPLITS[0][1])
    cut_val = round(n * (SPLITS[0][1] + SPLITS[1][1]))
    out = []
    for i, e in enumerate(ordered):
        split = "train" if i < cut_train else "validation" if i < cut_val else "test"
        out.append(Entry(e.id, e.detected_at, split, e.kinds, e.nodes, e.source, e.path, e.sha256))
    return out


def write_manifest(corpus_dir: Path, entries: list[Entry]) -> Path:
    corpus_dir = Path(corpus_dir).resolve()
    path = corpus_dir / MANIFEST
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for e in entries:
            writer.writerow(e.row(corpus_dir))
    return path


def check_corpus(corpus_dir: str | Path, *, progress=None) -> tuple[int, list[tuple[str, str]]]:
    """Check every incident of a corpus and of the corpora nested in it against the contract and its manifest row.

    Returns ``(incidents checked, [(incident id, problem), ...])``. Problems: what `validate_bundle` finds (the
    bundle and its ``label.json``), an archive whose sha256 is not the manifest's (a corpus of archives; a recipe
    corpus' bundles are checked by `materialize` against their fingerprints), label causes (node and kind, in
    order) other than the manifest's. ``progress`` is called once per incident. A manifest that does not read
    raises its `BundleError`, as training would.
    """
    from rca.contract import load_label, validate_bundle

    problems: list[tuple[str, str]] = []
    n = 0
    for corpus in training_corpora(corpus_dir):
        root = materialize(corpus)
        for entry in read_manifest(root):
            n += 1
            found = [str(p) for p in validate_bundle(entry.path)]
            digest = sha256_of(entry.path) if root == Path(corpus).resolve() and entry.sha256 \
                and entry.path.is_file() else entry.sha256
            if digest != entry.sha256:
                found.append(f"sha256 {digest[:12]}... differs from the manifest's {entry.sha256[:12]}...")
            if not found:  # a label that does not load is among validate_bundle's problems already
                causes = tuple((c.node, c.kind.value) for c in load_label(entry.path).causes)
                listed = tuple(zip(entry.nodes, entry.kinds))
                if causes != listed:
                    found.append(f"label.json's causes {_causes_text(causes)} differ from the manifest's "
                                 f"{_causes_text(listed)}")
            problems += [(entry.id, p) for p in found]
            if progress is not None:
                progress()
    return n, problems


def _causes_text(causes: tuple[tuple[str, str], ...]) -> str:
    return "; ".join(f"{node} {kind}" for node, kind in causes) or "(none)"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def archive_incident(corpus_dir: Path, bundle_dir: Path, incident_id: str, label: Label, *,
                     source: str, detected_at: datetime) -> Entry:
    """Archive one bundle directory into ``bundles/<id>.tar.gz`` and describe it (split not yet assigned)."""
    corpus_dir = Path(corpus_dir).resolve()
    out = archive(bundle_dir, corpus_dir / "bundles" / f"{incident_id}.tar.gz", root_name=incident_id)
    return Entry(incident_id, detected_at, "", tuple(str(c.kind) for c in label.causes),
                 tuple(c.node for c in label.causes), source, out, sha256_of(out))


def add_incident(corpus_dir: str | Path, bundle: str | Path, label: Label, *, source: str,
                 detected_at: datetime | str) -> Entry:
    """Add one labeled incident (a bundle directory or archive) to the corpus and re-split by time.

    The bundle is copied with ``label`` written as its ``label.json`` and archived deterministically;
    the manifest gains a row and every row's split is re-assigned (`assign_splits`).

    Parameters
    ----------
    corpus_dir : the corpus (created if absent).
    bundle : the incident's bundle directory or archive; its ``incident.json`` id names it.
    label : the confirmed causes (from a review).
    source : where the label comes from, e.g. ``review`` or ``simulated``.
    detected_at : when the incident was detected (places it in time for the split).

    Returns
    -------
    Entry
        The new manifest row, with its split.

    Raises
    ------
    ConfigError
        When the corpus already holds an incident with the same id.
    """
    corpus_dir = Path(corpus_dir).resolve()
    when = parse_timestamp(detected_at) if not isinstance(detected_at, datetime) else detected_at
    entries = read_manifest(corpus_dir)
    with bundle_directory(bundle) as root, tempfile.TemporaryDirectory(prefix="rca-corpus-") as tmp:
        from rca.contract import load_bundle

        incident_id = load_bundle(root).incident.id or (Path(bundle).name.split(".")[0] if is_archive(
            Path(bundle)) else Path(bundle).name)
        if any(e.id == incident_id for e in entries):
            raise ConfigError("incident id", incident_id, "an id not already in the corpus manifest")
        staged = Path(tmp) / incident_id
        shutil.copytree(root, staged)
        write_json(staged / "label.json", label.model_dump(mode="json", exclude_none=True))
        entry = archive_incident(corpus_dir, staged, incident_id, label, source=source, detected_at=when)
    entries = assign_splits([*entries, entry])
    write_manifest(corpus_dir, entries)
    return next(e for e in entries if e.id == incident_id)


def corpus_plan(n: int, seed: int, mesh: int = 0) -> list[tuple[str, int, list[str], datetime]]:
    """What `build_corpus` generates: (id, seed, kinds, detected_at) per incident, in time order.

    ``n`` model-serving incidents (``sim-<seed>-<i>``, `rca.simulate.simulate_incident`): kinds come in shuffled
    rounds of all twelve, so every kind is spread evenly over time (and so over the splits); about 10% get
    a second, different cause; they are ~7 hours apart. ``mesh`` metrics-only service incidents
    (``mesh-<seed>-<j>``, `rca.simulate.mesh`) are spread evenly over the same calendar (~7 hours apart of
    their own when ``n`` is 0, a mesh-only corpus), their three kinds in shuffled rounds too. The mesh plan
    draws from its own random stream, so adding mesh incidents leaves the model-serving incidents
    byte-identical.
    """
    import numpy as np

    from rca.simulate.incident import _INCOMPATIBLE, ALL_KINDS, CALENDAR_START
    from rca.simulate.mesh import KINDS as MESH_KINDS

    rng = np.random.default_rng(seed)
    plan = []
    schedule: list = []
    for i in range(n):
        if not schedule:
            schedule = [ALL_KINDS[j] for j in rng.permutation(len(ALL_KINDS))]
        first = schedule.pop()
        kinds = [first]
        if rng.uniform() < 0.1:
            others = [k for k in ALL_KINDS if k != first and frozenset({first, k}) not in _INCOMPATIBLE]
            kinds.append(others[rng.integers(len(others))])
        when = CALENDAR_START + timedelta(hours=7 * i, minutes=int(rng.integers(5, 60)))
        incident_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        plan.append((f"sim-{seed}-{i:04d}", incident_seed, [str(k) for k in kinds], when))
    mesh_rng = np.random.default_rng([seed, 10**6 - 1])
    schedule = []
    span_hours = 7 * (n if n > 0 else mesh)
    for j in range(mesh):
        if not schedule:
            schedule = [MESH_KINDS[k] for k in mesh_rng.permutation(len(MESH_KINDS))]
        when = CALENDAR_START + timedelta(hours=span_hours * (j + 0.5) / mesh, minutes=int(mesh_rng.integers(0, 60)))
        when = when.replace(second=0, microsecond=0)
        incident_seed = int(np.random.SeedSequence([seed, 10**6 + j]).generate_state(1)[0])
        plan.append((f"mesh-{seed}-{j:04d}", incident_seed, [str(schedule.pop())], when))
    return sorted(plan, key=lambda p: (p[3], p[0]))


def _check_counts(n: int, mesh: int) -> None:
    if n < 0 or mesh < 0 or n + mesh < 1:
        raise ConfigError("n, mesh", (n, mesh), "n >= 0 and mesh >= 0, at least one incident")


def build_planned(corpus_dir: Path, planned: tuple[str, int, list[str], datetime], *, views: bool = False,
                  traffic: bool = False, deploys: bool = False, fanout: bool = False) -> Entry:
    """Simulate one incident of a `corpus_plan` and archive it into ``corpus_dir`` (its split not yet set);
    ``views``: service-mesh incidents get load-balancer views (`rca.simulate.mesh.View`); ``traffic``: their
    failed calls are retried and early failures call nothing (`rca.simulate.mesh.Traffic`); ``deploys``: a
    model-serving incident's benign model rollover may land in the current window (`rca.simulate.decoys`);
    ``fanout``: some of their calls are made once per item (`rca.simulate.mesh.Fanout`)."""
    from rca.simulate import simulate_incident
    from rca.simulate.mesh import simulate_mesh_incident

    incident_id, incident_seed, kinds, when = planned
    with tempfile.TemporaryDirectory(prefix="rca-corpus-") as tmp:
        bundle_dir = Path(tmp) / incident_id
        if incident_id.startswith("mesh-"):
            label = simulate_mesh_incident(bundle_dir, seed=incident_seed, kind=kinds[0], detected_at=when,
                                           incident_id=incident_id, views=views, traffic=traffic, fanout=fanout)
        else:
            label = simulate_incident(bundle_dir, seed=incident_seed, kinds=kinds, detected_at=when,
                                      incident_id=incident_id, deploys=deploys)
        return archive_incident(corpus_dir, bundle_dir, incident_id, label, source="simulated", detected_at=when)


def build_corpus(corpus_dir: str | Path, *, n: int, seed: int, mesh: int = 0, views: bool = False,
                 traffic: bool = False, deploys: bool = False, fanout: bool = False, progress=None) -> list[Entry]:
    """(Re)generate the simulated part of the corpus deterministically; reviewed incidents are kept.

    The same ``n``, ``mesh`` and ``seed`` give byte-identical archives and manifest (`corpus_plan`).
    ``progress`` (optional) is called with 1 after each incident.
    """
    _check_counts(n, mesh)
    corpus_dir = Path(corpus_dir).resolve()
    previous = read_manifest(corpus_dir)
    entries = [e for e in previous if e.source != "simulated"]
    for planned in corpus_plan(n, seed, mesh):
        entries.append(build_planned(corpus_dir, planned, views=views, traffic=traffic, deploys=deploys,
                                     fanout=fanout))
        if progress is not None:
            progress(1)
    entries = assign_splits(entries)
    write_manifest(corpus_dir, entries)
    # only now, with the new manifest written: a build that stops half-way leaves the old corpus whole
    current = {e.path for e in entries}
    for old in previous:
        if old.source == "simulated" and old.path not in current:
            old.path.unlink(missing_ok=True)
    return entries
