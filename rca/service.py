"""The use cases that the CLI and the API both call: analyze, submit an incident, review, export, retrain, prune,
delete an incident.

The API's routers and the CLI's commands stay thin adapters over these functions. Functions that touch the
store take a session (keyword-only) and the settings; nothing here reads the environment by itself except
through `get_settings()` when no settings are given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator
from sqlmodel import Session

from rca.config import Settings, bundles_dir, get_settings, reviewed_dir
from rca.contract import (Answer, Bundle, GeneratorError, NotCompared, Unread, bundle_from_dict, empty_windows,
                          load_bundle)
from rca.contract.load import TOO_DEEP, inline_name, unreadable_json
from rca.contract.models import CauseKind, cause_node_problem
from rca.errors import BundleError, ConfigError, ConflictError, InputError, RcaError, clipped, error_detail, shown
from rca.generators import generate_candidates
from rca.generators.metrics import uncompared_services
from rca.locks import acquire, release
from rca.store import queries
from rca.store.models import (
    IncidentCreate,
    IncidentRecord,
    IncidentStatus,
    ReviewCreate,
    ReviewRecord,
    ReviewVerdict,
    StoredText,
    holds,
    storable,
)

log = logging.getLogger(__name__)

CHAMPION_POINTER = "champion.json"
"""The registry file naming the promoted ranker; when its content changes, `get_ranker` reloads."""

BundleFormat = Literal["json", "tar.gz", "zip"]
SUFFIX: dict[str, str] = {"json": ".json", "tar.gz": ".tar.gz", "zip": ".zip"}
STORED_NAME = re.compile(f"[0-9a-f]{{64}}(?:{'|'.join(map(re.escape, SUFFIX.values()))})")
"""The name `load_submission` stores a bundle under: the sha256 of its body, in hex, and its format's suffix."""
INCIDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}")
MODEL_MAX = 200
"""The longest model name the store keeps (`rca.store.models.IncidentBase.model`)."""


# ------------------------------------------------------------------------------------------------ the ranker
class _RankerCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple | None = None
        self.ranker = None


_ranker_cache = _RankerCache()


def get_ranker(settings: Settings | None = None):
    """The ranker in use: the registry's champion, else the packaged champion, else the heuristic scorer.

    The trained champion ranks every incident, whatever signal families it has: on incidents lacking a family
    its training always had, it still ranks far better than the heuristic (`rca.ranking.families`).

    The single entry point for every caller. Checked on every call (a read of the small champion pointer), so a
    ranker promoted by `rca retrain` (or rolled back by `rca rankers rollback`) is used by the running service
    for its next analysis, without a restart.
    """
    from rca.ranking.heuristic import HeuristicRanker
    from rca.ranking.registry import RankerRegistry, packaged_champion

    registry = RankerRegistry((settings or get_settings()).resolved_rankers_dir)
    try:
        # the pointer's bytes, not its mtime: they name the version and the time of the change to the
        # microsecond, where a promote and a rollback within one coarse file-system clock tick share an mtime
        stamp = registry.pointer.read_bytes()
    except FileNotFoundError:
        stamp = None
    key = (str(registry.pointer), stamp)
    with _ranker_cache.lock:
        if _ranker_cache.key != key or _ranker_cache.ranker is None:
            trained = registry.champion() or packaged_champion()
            _ranker_cache.ranker = trained or HeuristicRanker()
            _ranker_cache.key = key
        return _ranker_cache.ranker


def analyze(bundle: Bundle, *, top: int = 10, ranker=None) -> Answer:
    """Rank the likely root causes of one incident. A pure function of the bundle (and the ranker).

    The answer also names the services whose metrics could not be compared with a baseline
    (``not_compared``, `rca.generators.metrics.uncompared_services`) and the families with no data in the
    current or the baseline window (``empty_windows``, `rca.contract.bundle.empty_windows`): the engine is
    blind there, and an incident bot or a reviewer should know before trusting that a service is not in the
    list, or that an empty answer means nothing changed. A candidate generator that fails on the bundle is named
    with its error (``generator_errors``) and the answer ranked without it (`generate_candidates`); a file or inline
    key not read whose name is close to a bundle file's, as ``unread`` (`rca.contract.Bundle.unread`).
    """
    candidates = generate_candidates(bundle)
    answer = (ranker or get_ranker()).rank(bundle, candidates, top=top)
    blind = uncompared_services(bundle)      # from the series the metrics generator scored, kept on the bundle
    return answer.model_copy(update={"not_compared": [NotCompared(node=f"service:{service}", series=names)
                                                      for service, names in blind.items()],
                                     "empty_windows": empty_windows(bundle),
                                     "generator_errors": [GeneratorError(generator=name, error=error)
                                                          for name, error in candidates.failed.items()],
                                     "unread": [Unread(name=name, meant=meant) for name, meant in bundle.unread]})


def analyze_path(path: str | Path, *, top: int = 10, ranker=None) -> Answer:
    return analyze(load_bundle(path), top=top, ranker=ranker)


def certainty(answer: Answer) -> tuple[float, float]:
    """``(top confidence, entropy in nats)`` of an answer; the mass not on any listed cause is one more
    outcome ("something else"), so an empty answer has top 0 and entropy 0."""
    probs = [c.confidence for c in answer.causes]
    rest = max(0.0, 1.0 - sum(probs))
    entropy = -sum(p * math.log(p) for p in [*probs, rest] if p > 0)
    return (max(probs) if probs else 0.0), entropy


# ---------------------------------------------------------------------------------------------- submission
@dataclass(frozen=True)
class Submission:
    record: IncidentRecord
    created: bool
    bundle: Bundle | None  # the loaded bundle, when this call created the incident


def load_submission(body: bytes, fmt: BundleFormat, *, settings: Settings) -> tuple[Bundle, str, str]:
    """Parse a submitted bundle and keep it, as uploaded, in the bundles directory.

    Returns ``(bundle, sha256 of the body, stored file name)``. Raises `BundleError` for anything that does
    not follow the contract or that the store cannot hold (`check_storable`); nothing is kept then.
    """
    sha = hashlib.sha256(body).hexdigest()
    name = f"{sha}{SUFFIX[fmt]}"
    store = bundles_dir(settings)
    try:
        store.mkdir(parents=True, exist_ok=True)
        if fmt == "json":
            bundle = bundle_from_dict(_json_body(body), source="body")
            check_storable(bundle.incident, sha, file=inline_name("incident.json"))
            _write_atomic(store / name, body)
            return bundle, sha, name
        with tempfile.TemporaryDirectory(prefix="rca-upload-", dir=store) as tmp:
            upload = Path(tmp) / f"upload{SUFFIX[fmt]}"
            upload.write_bytes(body)
            bundle = load_bundle(upload)
            check_storable(bundle.incident, sha)
            # a new file in place of any stored one, with the upload's mtime (seconds old): the orphan sweep keeps it
            os.replace(upload, store / name)
        return bundle, sha, name
    except OSError as exc:  # a read-only or full disk: the API's 503, not a 500 (the loader's own are BundleErrors)
        raise ConfigError("RCA_DATA_DIR", str(settings.data_dir), f"a directory the service can keep bundles in "
                                                                  f"({exc.strerror})") from exc


def incident_id_of(incident, sha: str) -> str:
    """The id an incident is stored under: its own, else ``inc-<sha256 prefix>`` of its body."""
    return incident.id or f"inc-{sha[:16]}"


def refused_by_service(incident) -> list[BundleError]:
    """What the review service would refuse in an incident that meets the contract (`check_storable`: its id or
    model name), for `rca validate`: a bundle it passes is not refused when posted. An incident without an id is
    given a usable one."""
    try:
        check_storable(incident, "0" * 64)
    except BundleError as exc:
        return [exc]
    return []


def check_storable(incident, sha: str, *, file: str = "incident.json") -> None:
    """`BundleError` for an incident id or model name the store cannot hold; ``file``: what the error calls the
    incident (``incident (inline)`` for a JSON body, as the loader calls it)."""
    incident_id = incident_id_of(incident, sha)
    if not INCIDENT_ID.fullmatch(incident_id):
        raise BundleError(f"'{incident_id[:60]}' is not a usable incident id; expected 1-200 letters, digits "
                          "or . _ : @ - (starting with a letter or digit)", file=file, field="id")
    model = incident.model
    if len(model) > MODEL_MAX or not holds(model):   # an empty or blank one never loads (`Incident`)
        raise BundleError(f"{shown(model)} ({len(model)} characters) cannot be stored; expected 1-{MODEL_MAX} "
                          "characters without NUL (U+0000) or lone surrogates", file=file,
                          field="model")


def _json_body(body: bytes):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(unreadable_json(exc), file="body") from exc
    except RecursionError:
        raise BundleError(TOO_DEEP, file="body") from None


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all. Content-addressed: a file of that name has these bytes already, and is
    only touched, so that the orphan sweep (`_sweep_orphans`) keeps it while its incident's row is being stored."""
    try:
        os.utime(path)
    except FileNotFoundError:   # never stored, or just swept: written (anew)
        _replace_file(path, data)
    except OSError:   # a store made read-only: the file holds these bytes already (a retry), which is what counts
        if not path.is_file():
            raise


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it (``.tmp-*``), renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def submit_incident(session: Session, *, body: bytes, fmt: BundleFormat, settings: Settings) -> Submission:
    """Validate and store an incident (queued for analysis). Idempotent on the incident id.

    The same id with the same body returns the stored record (``created=False``); the same id with a
    different body raises `ConflictError`. An incident without an id gets ``inc-<sha256 prefix>``.
    """
    bundle, sha, name = load_submission(body, fmt, settings=settings)
    incident_id = incident_id_of(bundle.incident, sha)
    data = IncidentCreate(id=incident_id, model=bundle.incident.model, detected_at=bundle.incident.detected_at,
                          body_sha256=sha, bundle_file=name, families=bundle.families())
    record, created = queries.insert_incident(session, data=data)
    stored = bundles_dir(settings) / name
    if record.body_sha256 == sha and not stored.exists():
        # a delete of an incident with this body removed the file between its write and this row's commit
        _write_atomic(stored, body)
    if not created and record.body_sha256 != sha:
        # No incident refers to this body's file (the same bytes always give the same id, the one taken by
        # another body), so it goes: a trigger retrying a conflicting body does not fill the disk.
        stored.unlink(missing_ok=True)
        raise ConflictError(f"incident '{incident_id}' exists with a different body (sha256 "
                            f"{record.body_sha256[:12]}..., this one {sha[:12]}...); incident ids are unique",
                            field="id")
    return Submission(record=record, created=created, bundle=bundle if created else None)


def stored_bundle(record: IncidentRecord, *, settings: Settings) -> Bundle:
    """The incident's bundle as stored. `ConflictError` when its file is gone or no longer loads (lost on disk,
    stored before a check the loader makes now): the server's state, not the request, is at fault, and the message
    leaves out the server's path (logged). Posting the incident's body again stores the file anew."""
    path = bundles_dir(settings) / record.bundle_file
    try:
        if path.suffix == ".json":
            return bundle_from_dict(_json_body(path.read_bytes()), source=record.bundle_file)
        if not path.is_file():
            raise FileNotFoundError(path)
        return load_bundle(path)
    except (OSError, BundleError) as exc:
        log.error("incident %s: its stored bundle %s does not load: %s", record.id, path, exc)
        said = ("is missing on the server (deleted or lost); post the incident's body again to store it anew"
                if isinstance(exc, FileNotFoundError) else f"no longer loads ({exc})")
        raise ConflictError(f"incident '{record.id}': its stored bundle {said}") from exc


def analyze_incident(session: Session, *, incident_id: str, settings: Settings,
                     bundle: Bundle | None = None) -> IncidentRecord | None:
    """Analyze a stored incident and store its answer (status done) or its error (status failed); None, doing
    nothing, when it is no longer pending (another process stored its analysis, or it was deleted). A fault of
    the server's (`ConfigError`: a damaged ranker or registry; `ConflictError`: its stored file lost) leaves it
    queued with the reason as its error: failing it for good would keep it failed once the server is fixed."""
    record = queries.claim_incident(session, incident_id=incident_id)
    if record is None:
        return None
    try:
        bundle = bundle or stored_bundle(record, settings=settings)
        # the stored id: the bundle's own, or the one it was given when it had none (or an empty one)
        answer = analyze(bundle, ranker=get_ranker(settings)).model_copy(update={"incident": incident_id})
        top, entropy = certainty(answer)
        stored = json.loads(answer.model_dump_json(exclude_none=True))
        answer_json = rendered_answer(stored)
    except (ConfigError, ConflictError) as exc:
        if isinstance(exc.__cause__, BundleError):   # a stored bundle that no longer loads: nothing will change
            return queries.set_incident_status(session, incident_id=incident_id, status=IncidentStatus.failed,
                                               error=str(exc))
        # The server's fault, not the bundle's (a damaged ranker, an unreadable registry, the stored file lost):
        # queued again with the reason, analyzed once it is fixed (the worker's recovery, or the body posted again)
        log.warning("analysis of %s waits for the server: %s", incident_id, exc)
        # the log has the details; the API's callers get no server path (`stored_bundle`'s message has none)
        said = str(exc) if isinstance(exc, ConflictError) else (
            "the service's ranker or its registry could not be read (see the service log)")
        return queries.set_incident_status(session, incident_id=incident_id, status=IncidentStatus.queued,
                                           error=f"waiting: {said}; it is analyzed once the server is fixed")
    except RcaError as exc:
        return queries.set_incident_status(session, incident_id=incident_id, status=IncidentStatus.failed,
                                           error=str(exc))
    except Exception as exc:  # a bug in a generator or ranker must fail this incident, not the worker
        log.exception("analysis of %s failed", incident_id)
        return fail_incident(session, incident_id=incident_id, error=exc)
    return queries.set_incident_status(session, incident_id=incident_id, status=IncidentStatus.done,
                                       answer=stored, answer_json=answer_json,
                                       ranker=answer.ranker, top_confidence=top, entropy=entropy)


def fail_incident(session: Session, *, incident_id: str, error: Exception) -> IncidentRecord:
    """Store an unexpected error of an incident's analysis (a bug, not the bundle): status failed, the error named."""
    return queries.set_incident_status(session, incident_id=incident_id, status=IncidentStatus.failed,
                                       error=f"internal error: {type(error).__name__}: {error}")


def why_incident(session: Session, *, incident_id: str, settings: Settings, node: str, kind: str | None = None,
                 versus: str | None = None, versus_kind: str | None = None, shown: int | None = None,
                 bundle: Bundle | None = None):
    """Why ``node`` ranks where it does in a stored incident: `rca.ranking.why.contrast` of its stored bundle
    (or ``bundle``, the caller's cached copy of it: the incident is then not read again) with the ranker in use,
    which may not be the one whose answer is stored (`IncidentRecord.ranker` says which was)."""
    from rca.ranking.why import SHOWN_FEATURES, contrast

    if bundle is None:
        bundle = stored_bundle(queries.get_incident(session, incident_id=incident_id), settings=settings)
    return contrast(bundle, generate_candidates(bundle), get_ranker(settings), node=node.strip(), kind=kind,
                    versus=versus, versus_kind=versus_kind, shown=SHOWN_FEATURES if shown is None else shown)


def rendered_answer(stored: dict) -> str:
    """A stored answer as the API shows it: read back through the contract's `Answer`, every field
    written (nulls too). Rendered once when the answer is stored (``IncidentRecord.answer_json``)."""
    return Answer.model_validate(stored).model_dump_json()


# ------------------------------------------------------------------------------------------------- reviews
class ReviewIn(BaseModel):
    """A reviewer's verdict on one cause of an incident.

    ``confirm`` / ``reject`` name a ranked cause by ``rank`` or by ``node`` + ``kind``; ``name_cause`` gives the
    true cause (``node`` + ``kind``) when the ranking missed it; ``withdraw`` takes back the reviewer's own latest
    verdict on a cause (named as for ``reject``), which then counts neither way.
    """

    verdict: ReviewVerdict
    rank: int | None = Field(default=None, ge=1)
    # the bounds before the store's check, inside the optional: after it, pydantic says "items" of a string
    node: Annotated[str, Field(min_length=3, max_length=300), AfterValidator(storable)] | None = None
    kind: CauseKind | None = None
    comment: StoredText = Field(default="", max_length=10_000)

    @field_validator("rank", mode="before")
    @classmethod
    def _rank_is_no_boolean(cls, value: object) -> object:
        # pydantic reads true as 1: a verdict on the first cause that nobody named (the console's form sends
        # the rank as text, so a strict integer would not do)
        if isinstance(value, bool):
            raise ValueError(f"expected an integer from 1, got {str(value).lower()}")
        return value


def record_review(session: Session, *, incident_id: str, reviewer: str, review: ReviewIn,
                  settings: Settings) -> ReviewRecord:
    """Append a review after checking it against the incident's ranked causes (a named cause: against the nodes
    of its stored bundle, `_unknown_node`)."""
    record = queries.get_incident(session, incident_id=incident_id)
    reviews = queries.list_reviews(session, incident_id=incident_id)
    named = {(r.node, r.kind) for r in reviews if r.verdict is ReviewVerdict.name_cause}
    node, kind = _reviewed_cause(record, review, named=named)
    if review.verdict is ReviewVerdict.name_cause and (problem := _unknown_node(record, node, settings=settings)):
        raise InputError(problem, field="node")
    if review.verdict is ReviewVerdict.withdraw:
        own = [r for r in queries.latest_verdicts(reviews)
               if r.reviewer == reviewer and (r.node, r.kind) == (node, kind)]
        if not own or own[0].verdict is ReviewVerdict.withdraw:
            raise ConflictError(f"{reviewer} has no verdict on ({node}, {kind}) to withdraw", field="verdict")
    return queries.add_review(session, data=ReviewCreate(incident_id=incident_id, reviewer=reviewer,
                                                         verdict=review.verdict, node=node, kind=kind,
                                                         comment=review.comment))


def _unknown_node(record: IncidentRecord, node: str, *, settings: Settings) -> str | None:
    """Why ``node`` cannot be the named cause of the incident: the stored bundle names no such node (a typo, or a
    node of another incident), with the bundle's nodes of its kind closest to it; None when it does, or when the
    bundle does not load (lost or damaged on disk: there is nothing to check against)."""
    from rca.graph.build import bundle_nodes, nodes_like

    try:
        known = bundle_nodes(stored_bundle(record, settings=settings))
    except ConflictError:  # `stored_bundle`'s for a file lost, unreadable or damaged
        return None
    if node in known:
        return None
    hint = nodes_like(node, known)
    return (f"{shown(node)} is not a node of this incident's bundle (its graph, metrics, traces, predictions, "
            f"histograms, KPIs or events); {hint}{'' if hint.endswith('?') else '.'} A cause the bundle has no signal "
            "of can be neither ranked nor learned from")


def _reviewed_cause(record: IncidentRecord, review: ReviewIn, *, named: set[tuple[str, str]]) -> tuple[str, str]:
    """The cause (node, kind) a verdict is on: a named one, a ranked one (by rank, or by node and kind), or one a
    reviewer named (confirmed by another, or withdrawn with reject: a mistyped kind went to training otherwise)."""
    if review.verdict is ReviewVerdict.name_cause:
        if review.node is None or review.kind is None:
            raise InputError("name_cause needs both 'node' and 'kind'", field="node" if review.node is None
                             else "kind")
        if problem := cause_node_problem(review.node, review.kind):
            raise InputError(problem, field="node")
        return review.node, review.kind.value
    if review.rank is None and review.kind is not None and (review.node, review.kind.value) in named:
        return review.node, review.kind.value   # at any status, as naming it was
    if record.status is not IncidentStatus.done:
        raise ConflictError(f"incident '{record.id}' is {record.status.value}; only analyzed incidents have "
                            "ranked causes to confirm or reject (name_cause works at any time)", field="verdict")
    causes = (record.answer or {}).get("causes", [])
    if review.rank is not None:
        if review.rank > len(causes):
            raise InputError(f"rank {review.rank} is beyond the {len(causes)} ranked causes", field="rank")
        cause = causes[review.rank - 1]
        named = (review.node, review.kind.value if review.kind else None)
        if any(given is not None and given != ranked for given, ranked in zip(named, (cause["node"], cause["kind"]))):
            # both name a cause: a verdict stored on the rank's one would not be the verdict given on the other
            raise InputError(f"rank {review.rank} is ({cause['node']}, {cause['kind']}), not the "
                             f"({named[0] or cause['node']}, {named[1] or cause['kind']}) also named; send the rank, "
                             "or the node and kind, of one cause", field="rank")
        return cause["node"], cause["kind"]
    if review.node is None or review.kind is None:
        raise InputError(f"{review.verdict.value} needs 'rank', or 'node' and 'kind'", field="rank")
    if not any(c["node"] == review.node and c["kind"] == review.kind.value for c in causes):
        raise InputError(f"({review.node}, {review.kind.value}) is not among the ranked causes nor named by a "
                         "reviewer; use verdict name_cause for a cause the ranking missed", field="node")
    return review.node, review.kind.value


# ------------------------------------------------------------------------------------------------ retention
ORPHAN_GRACE = timedelta(hours=1)
"""How long ago an entry of the bundles directory must have been modified before the orphan sweep may delete it: a
submission writes its bundle file moments before its incident's row commits, and a temporary file or upload
directory is in use for as long as one upload takes to check."""


def prune_incidents(session: Session, *, settings: Settings, older_than: timedelta, dry_run: bool = False) -> dict:
    """Delete the incidents nobody reviewed whose analysis finished (done or failed) and that were submitted more
    than ``older_than`` ago, with each stored bundle file no incident left refers to, then sweep the orphans of the
    bundles directory (`_sweep_orphans`); with ``dry_run``, only count what would go.

    An incident with any review stays, with its reviews and bundle: a confirmed or named cause is training data
    (`export_reviewed`), and a reject too says a person looked at it (a later verdict may confirm another cause).
    Queued and analyzing incidents stay for the worker. An incident reviewed while the prune runs stays
    (`rca.store.queries.delete_prunable_incidents`). The rows go in batches, each batch's files after its commit,
    so a crash in between leaves files no incident refers to, never an incident without its file; a file missing
    already is no error. Such files, and those of a submission whose row was never stored, are what the sweep
    deletes, whatever ``older_than`` is.

    Returns ``incidents`` and ``files`` (deleted, or that would be), ``bytes`` (freed by those files, or that would
    be), ``orphans`` and ``orphan_bytes`` (the same for the sweep, kept apart: they belong to no incident),
    ``oldest_kept`` (when the oldest incident left was submitted; None when none is), ``created_before`` (the
    cut-off) and ``dry_run``. Raises `ConfigError` for a negative ``older_than``.
    """
    if older_than < timedelta(0):
        raise ConfigError("older_than", older_than, "0 or more days")
    now, epoch = datetime.now(UTC), datetime(1970, 1, 1, tzinfo=UTC)
    cutoff = now - older_than if older_than < now - epoch else epoch  # no incident is older; no date overflow
    store = bundles_dir(settings)
    if dry_run:
        gone = queries.prunable_incidents(session, created_before=cutoff)
        unless = cutoff  # the incidents left are those the prune would not delete
        sizes = [_file_size(store / name) for name in _unused_files(session, gone, unless_prunable_before=unless)]
    else:
        gone, sizes, unless = [], [], None
        while batch := queries.delete_prunable_incidents(session, created_before=cutoff):
            gone += batch
            sizes += [_remove_unless_used(session, store / name)  # the batch is committed
                      for name in _unused_files(session, batch)]
    sizes = [size for size in sizes if isinstance(size, int)]  # not "kept", nor None (gone already)
    # after the prune: its incidents' files are gone (or, in a dry run, still referred to, counted above)
    orphans = _sweep_orphans(session, store, dry_run=dry_run)
    return {"incidents": len(gone), "files": len(sizes), "bytes": sum(sizes),
            "orphans": len(orphans), "orphan_bytes": sum(orphans),
            "oldest_kept": queries.oldest_incident(session, unless_prunable_before=unless),
            "created_before": cutoff, "dry_run": dry_run}


def delete_incident(session: Session, *, settings: Settings, incident_id: str) -> dict:
    """Delete one incident on purpose (a test alert, a bundle with data that must not be kept): its row and all its
    reviews in one transaction (`rca.store.queries.delete_incident`), then, after the commit, its stored bundle
    file unless another incident refers to it (the same body under another id). Unlike a prune it deletes a
    reviewed incident too.

    Refused (`ConflictError`) while the incident is queued or being analyzed: delete it once its analysis is done
    or failed. `NotFoundError` for an unknown id.

    The reviewed corpus is not touched here: `export_reviewed` rebuilds it from the store on every export, so an
    incident with confirmed causes leaves the training data at the next export (the next retrain).

    Returns ``incident``, ``reviews`` (how many were deleted), ``bundle_file``, ``file`` (``removed``, ``shared``:
    kept for another incident, or ``missing``: gone already), ``bytes`` (freed) and ``confirmed`` (the causes its
    reviews confirmed, which the next export leaves out of the training data).
    """
    bundle_file, reviews = queries.delete_incident(session, incident_id=incident_id)
    size = None
    if unused := _unused_files(session, [(incident_id, bundle_file)]):
        size = _remove_unless_used(session, bundles_dir(settings) / unused[0])
    shared = not unused or size == "kept"
    return {"incident": incident_id, "reviews": len(reviews), "bundle_file": bundle_file,
            "file": "shared" if shared else "missing" if size is None else "removed",
            "bytes": 0 if shared else size or 0,
            "confirmed": [{"node": n, "kind": k} for n, k in queries.confirmed_causes(reviews)]}


def _unused_files(session: Session, incidents: list[tuple[str, str]], *,
                  unless_prunable_before: datetime | None = None) -> list[str]:
    """The bundle files of ``incidents`` (``(id, bundle_file)`` pairs) no other incident refers to
    (`rca.store.queries.bundle_files_in_use`)."""
    names = {file for _, file in incidents}
    return sorted(names - queries.bundle_files_in_use(session, names=names,
                                                      unless_prunable_before=unless_prunable_before))


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _remove_unless_used(session: Session, path: Path) -> int | Literal["kept"] | None:
    """Delete a stored bundle file found unused, unless an incident refers to it once it is moved aside: the same
    body resubmitted meanwhile (its row committed after the first look). A resubmission whose row commits later
    finds the file gone and writes it again (`submit_incident`), so no incident is left without its file. As
    `_remove_aside` returns."""

    def used(_: os.stat_result) -> bool:
        session.commit()  # ends the first look's read: a fresh snapshot (a commit leaves loaded objects loaded)
        return bool(queries.bundle_files_in_use(session, names={path.name}))

    return _remove_aside(path, keep=used)


def _remove_aside(path: Path, *, keep: Callable[[os.stat_result], bool]) -> int | Literal["kept"] | None:
    """Delete a stored bundle file unless ``keep`` says, once the file is moved aside where no resubmission can
    touch it, that it is wanted after all; its size, ``"kept"`` (put back), or None when it was not there.

    A resubmission either touched or refers to it before the move, and it goes back (over a copy written anew
    meanwhile: the same bytes), or finds no file and writes it anew. A crash in between leaves it as a ``.tmp-*``
    file, which a later sweep deletes (with it, should a body have been resubmitted in that instant, its incident's
    file)."""
    aside = path.with_name(f".tmp-aside-{path.name}")
    try:
        os.rename(path, aside)
        stat = aside.stat()
    except FileNotFoundError:  # deleted meanwhile, by hand or by a prune alongside
        return None
    if keep(stat):
        os.replace(aside, path)
        return "kept"
    aside.unlink(missing_ok=True)
    return stat.st_size


def _remove(path: Path) -> int | None:
    """Delete a file; its size, or None when it was not there."""
    size = _file_size(path)
    path.unlink(missing_ok=True)  # removed meanwhile by hand, or by a prune running alongside
    return size


def _sweep_orphans(session: Session, store: Path, *, dry_run: bool) -> list[int]:
    """The sizes of the orphans of the bundles directory ``store``, deleted (with ``dry_run``, that would be): each
    stored bundle file (`STORED_NAME`) no incident refers to (`rca.store.queries.bundle_files_in_use`), temporary
    file of `_write_atomic` (``.tmp-*``) and upload directory of `load_submission` (``rca-upload-*``) modified more
    than `ORPHAN_GRACE` ago. Nothing else there is ours to delete: it stays."""
    if not store.is_dir():
        return []  # nothing was ever submitted
    expired = time.time() - ORPHAN_GRACE.total_seconds()
    stored: dict[str, int] = {}
    files: dict[Path, int] = {}
    uploads: dict[Path, int] = {}
    with os.scandir(store) as entries:
        for entry in entries:
            try:
                stat = entry.stat(follow_symlinks=False)
                if stat.st_mtime >= expired:
                    continue
                if entry.is_file(follow_symlinks=False) and STORED_NAME.fullmatch(entry.name):
                    stored[entry.name] = stat.st_size
                elif entry.is_file(follow_symlinks=False) and entry.name.startswith(".tmp-"):
                    files[Path(entry.path)] = stat.st_size
                elif entry.is_dir(follow_symlinks=False) and entry.name.startswith("rca-upload-"):
                    uploads[Path(entry.path)] = _tree_size(entry.path)
            except FileNotFoundError:  # renamed or deleted since it was listed
                continue
    orphans = sorted(stored.keys() - queries.bundle_files_in_use(session, names=stored.keys()))
    if dry_run:
        return [stored[name] for name in orphans] + [*files.values(), *uploads.values()]
    # an orphan whose body was resubmitted since it was looked at (touched: `_write_atomic`) stays
    sizes = [_remove_aside(store / name, keep=lambda stat: stat.st_mtime >= expired) for name in orphans]
    sizes += [_remove(path) for path in files]
    for path, size in uploads.items():
        try:
            shutil.rmtree(path)
        except FileNotFoundError:  # a prune alongside took it
            continue
        sizes.append(size)
    return [size for size in sizes if isinstance(size, int)]


def _tree_size(path: str) -> int:
    return sum(os.lstat(os.path.join(top, name)).st_size for top, _, names in os.walk(path) for name in names)


# ------------------------------------------------------------------------------------- export and retrain
def export_reviewed(session: Session, *, settings: Settings) -> list[Path]:
    """Write every incident with a confirmed cause as a labeled incident of the reviewed corpus.

    The reviewed corpus (``<data_dir>/reviewed/``) has the layout of ``labeled_incidents/``: a manifest
    (split by time, `rca.corpus.assign_splits`) and one deterministic archive per incident holding the bundle
    as submitted plus ``label.json`` (the causes that more reviewers confirm or name than reject, by each
    reviewer's latest verdict). It is rebuilt from the store on every export and swapped in whole, so a
    changed verdict changes the label and a withdrawn one removes the incident. An incident whose id the labeled
    corpus (``RCA_CORPUS_DIR`` and the corpora nested in it) has already is left out, with a warning: training reads
    each incident once, and its corpus label stands (a corpus bundle replayed through the service, say).

    Returns the archives written.
    """
    from rca.corpus import read_manifest, training_corpora

    in_corpus = {e.id for d in (training_corpora(settings.corpus_dir) if settings.corpus_dir.is_dir() else [])
                 for e in read_manifest(d)}
    out_dir = reviewed_dir(settings)
    try:
        return _export(session, settings, out_dir, in_corpus)
    except OSError as exc:   # a read-only or full disk, a directory made immutable: the setting to fix, not a bug
        raise ConfigError("RCA_DATA_DIR", str(settings.data_dir),
                          f"a directory the retrain can write the reviewed corpus {out_dir.name}/ in "
                          f"({exc.strerror})") from exc


def _export(session: Session, settings: Settings, out_dir: Path, in_corpus: set[str]) -> list[Path]:
    """`export_reviewed`'s work, into ``out_dir``."""
    from rca.contract.models import Label
    from rca.contract.timestamps import parse_timestamp
    from rca.corpus import add_incident, read_manifest

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_exports(out_dir.parent)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir.parent) as tmp:
        fresh, staging = Path(tmp) / "reviewed", Path(tmp) / "staged"  # apart: an incident may be named reviewed
        fresh.mkdir()
        staging.mkdir()
        for incident_id in queries.incidents_with_reviews(session):
            reviews = queries.list_reviews(session, incident_id=incident_id)
            causes = [(n, k) for n, k in queries.confirmed_causes(reviews) if _label_cause(incident_id, n, k)]
            if not causes:
                continue
            if incident_id in in_corpus:
                log.warning("reviewed incident %s left out of the export: the labeled corpus %s has an incident of "
                            "that id, and its label stands", incident_id, settings.corpus_dir)
                continue
            record = queries.get_incident(session, incident_id=incident_id)
            reviewers = sorted({r.reviewer for r in queries.latest_verdicts(reviews)
                                if r.verdict in (ReviewVerdict.confirm, ReviewVerdict.name_cause)})
            label = Label(causes=[{"node": n, "kind": k} for n, k in causes], source="review",
                          notes="confirmed by " + ", ".join(reviewers))
            try:
                staged = write_bundle_files(bundles_dir(settings) / record.bundle_file, staging / incident_id)
                # SQLite hands datetimes back naive; they were stored as UTC.
                add_incident(fresh, staged, label, source="review", detected_at=parse_timestamp(record.detected_at))
            except BundleError as exc:  # stored before a check the contract's loader makes now, or lost since
                log.warning("reviewed incident %s left out of the export: its stored bundle does not load (%s)",
                            incident_id, exc)
        previous = Path(tmp) / "previous"
        if out_dir.exists():
            os.replace(out_dir, previous)
        os.replace(fresh, out_dir)
    return [e.path for e in read_manifest(out_dir)]


def _remove_stale_exports(parent: Path) -> None:
    """Delete the working directories of exports killed midway (``.export-*``, a copy of every reviewed bundle
    each) that were last modified more than `ORPHAN_GRACE` ago: they piled up, one per killed retrain."""
    cutoff = time.time() - ORPHAN_GRACE.total_seconds()
    for path in parent.glob(".export-*"):
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path)
                log.warning("removed %s, left by an export that did not finish", path)
        except OSError as exc:  # removed meanwhile, or not ours to remove: the export goes on
            log.warning("could not remove %s, left by an export that did not finish: %s", path, exc)


def _label_cause(incident_id: str, node: str, kind: str) -> bool:
    """Whether a confirmed cause can be a label (`rca.contract.load_label` would read it back). A review stored
    before the review API checked as much (a name_cause node ``feature:``) is left out, with a warning, instead
    of making every later training run fail on the exported label."""
    problem = cause_node_problem(node, CauseKind(kind))
    if problem:
        log.warning("reviewed incident %s: cause (%s, %s) left out of its label: %s", incident_id, node, kind, problem)
    return problem is None


def write_bundle_files(stored: Path, target: Path) -> Path:
    """The stored bundle (archive or inline JSON) as a bundle directory at ``target``."""
    from rca.contract.archive import extract_archive

    if not stored.is_file():
        raise BundleError("the stored bundle file is missing", file=stored.name)
    if stored.suffix != ".json":
        root = extract_archive(stored, target.with_name(target.name + "-x"))
        shutil.move(root, target)
        shutil.rmtree(target.with_name(target.name + "-x"), ignore_errors=True)
        (target / "label.json").unlink(missing_ok=True)  # never trust a label that came with the upload
        return target
    import pandas as pd

    body = _json_body(stored.read_bytes())
    if not isinstance(body, dict):
        raise BundleError(f"a JSON {type(body).__name__}; expected the JSON object of an inline bundle",
                          file=stored.name)
    target.mkdir(parents=True)
    for key, value in body.items():
        if key in ("incident", "graph"):
            (target / f"{key}.json").write_text(json.dumps(value))
        elif key in ("histograms", "traces", "events"):
            (target / f"{key}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in value))
        elif key in ("predictions", "kpis", "metrics", "feature_samples"):
            pd.DataFrame.from_records(value).to_csv(target / f"{key}.csv", index=False)
    return target


def retrain(session: Session, *, settings: Settings, by: str | None = None,
            started: Callable[[dict], None] | None = None) -> dict:
    """The weekly job: export confirmed reviews, then train a challenger on them and the labeled corpus,
    promoted unless it is worse than the champion on validation or a twin of it (`rca.ranking.train.retrain`).

    One at a time per data directory (`_one_retrain`: `ConflictError` naming the one running). Its state is
    recorded for `last_retrain`: ``running`` once it holds the lock (with ``by``, who asked for it; then
    ``started`` is called with that record: the API answers with it while the retrain goes on), then ``done`` with
    what it returns, or ``failed`` with the error it raises.

    Returns the trainer's report (``challenger``, ``promoted``, ``metrics``, ...) plus ``exported`` (how many
    reviewed incidents were written), ``seconds``, ``report``: the Markdown report with charts written under
    ``RCA_DATA_DIR/retrain/`` (`rca.ranking.report.write_retrain_report`), one per run, and ``corpus_missing``: the
    settings' corpus directory when it does not exist (trained on the reviewed incidents alone, and logged), else
    None.
    """
    from rca.ranking.report import write_retrain_report
    from rca.ranking.train import retrain as train_and_gate

    began = time.perf_counter()
    missing = None if settings.corpus_dir.is_dir() else str(settings.corpus_dir)
    if missing:  # trained on the reviews alone; said, as a cron job without `cd` or with a mistyped path gets it
        log.warning("RCA_CORPUS_DIR %s is not a directory: training on the reviewed incidents alone (the labeled "
                    "corpus is labeled_incidents/ of the repository)", missing)
    with _one_retrain(settings, "a retrain", busy="its result will be in the promotion log (GET /v1/rankers, "
                                                  "rca rankers list) and at GET /v1/rankers/retrain") as holder:
        running = {"state": "running", "started_at": _now(), "by": by, "process": os.getpid(), "holder": holder}
        _record_retrain(settings, running)
        if started is not None:
            started(running)
        try:
            exported = export_reviewed(session, settings=settings)
            corpus_dirs = [d for d in (settings.corpus_dir, reviewed_dir(settings)) if d.is_dir()]
            report = train_and_gate(corpus_dirs, settings.resolved_rankers_dir)
            seconds = round(time.perf_counter() - began, 3)
            now = datetime.now(UTC)
            path = settings.data_dir / "retrain" / f"{now:%Y-%m-%dT%H%M%S}Z.md"
            write_retrain_report(report, path, exported=len(exported), when=f"{now:%Y-%m-%d %H:%M} UTC")
        except Exception as exc:  # recorded, and raised on; a KeyboardInterrupt leaves it running: interrupted
            _record_failure(settings, running, exc)
            raise
        result = {**report, "exported": len(exported), "seconds": seconds, "report": str(path),
                  "corpus_missing": missing}
        _record_retrain(settings, {**running, "state": "done", "finished_at": _now(), "result": result})
    return result


def train_into_registry(corpus_dirs: list[Path], *, settings: Settings, registry: Path | None = None,
                        processes: int = 2, family_dropout: bool = True) -> dict:
    """`rca train`'s gated training (`rca.ranking.train.retrain`) into ``registry`` (the settings' one by default),
    under the same one-retrain lock as the weekly job: a prune in between could delete its challenger, stored
    before it is gated. Returns the trainer's report."""
    from rca.ranking.train import retrain as train_and_gate

    with _one_retrain(settings, "rca train", busy="train again when it is done"):
        return train_and_gate(corpus_dirs, registry or settings.resolved_rankers_dir, processes=processes,
                              family_dropout=family_dropout)


@contextmanager
def _one_retrain(settings: Settings, what: str, *, busy: str) -> Iterator[str]:
    """One retrain at a time per data directory, across processes (the weekly job, the service retraining for
    ``POST /v1/rankers/retrain``): two would swap the reviewed corpus under each other's training and both gate
    their challenger against the champion they started with. `rca train` (`train_into_registry`) and a prune
    (`prune_rankers`) take it too. The holder writes ``what`` it is into the lock file, so that another one
    running gets a `ConflictError` naming it (and since when), its message ending with ``busy``. Yields that text
    (as `_holder` reads it back)."""
    handle = _try_retrain_lock(settings)
    if handle is None:
        raise ConflictError(f"{_holder(_retrain_lock(settings))} is running; {busy}")
    try:
        holder = f"{what} (process {os.getpid()}) since {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        handle.seek(0)
        handle.truncate()
        handle.write(holder + "\n")
        handle.flush()
        yield holder
    finally:
        release(handle)


def _retrain_lock(settings: Settings) -> Path:
    return settings.data_dir / ".retrain.lock"


def _try_retrain_lock(settings: Settings) -> IO[str] | None:
    """The one-retrain lock (`_one_retrain`), taken; None at once when another holds it."""
    try:
        return acquire(_retrain_lock(settings), wait=False)
    except OSError as exc:  # a read-only or missing data directory: it was a traceback
        raise _unwritable_data_dir(settings, exc) from exc


def _unwritable_data_dir(settings: Settings, exc: OSError) -> ConfigError:
    return ConfigError("RCA_DATA_DIR", str(settings.data_dir),
                       f"a directory this process can write to ({exc.strerror}: {exc.filename})")


def _holder(lock: Path) -> str:
    """What the lock file says holds it; "another retrain or prune" when it says nothing yet (the holder has
    locked it but not written) or cannot be read."""
    try:
        text = lock.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another retrain or prune"


# ------------------------------------------------------------------------------------------ retrain status
def last_retrain(settings: Settings) -> dict:
    """The state of the running or the last retrain (`retrain` records it in ``RCA_DATA_DIR/retrain/last.json``,
    so the service's processes, a restarted service and `rca retrain` from cron share it).

    ``state`` is ``running`` (with ``started_at``, ``by``: who asked for it, ``process``: its process id, and
    ``holder``: what it wrote into the one-retrain lock), ``done`` (and ``finished_at`` and ``result``: what
    `retrain` returned), ``failed`` (and ``finished_at`` and ``error``: ``message`` and ``field`` as the API's error
    body gives them), ``none`` before the first retrain, or ``interrupted``: recorded running, but its process
    no longer holds the lock (it was stopped or killed mid-run; the lock goes with the process), so no result will
    come. Raises `ConfigError` for a record that cannot be read."""
    path = _retrain_record(settings)
    record = _read_retrain_record(path)
    if record["state"] != "running" or _still_holds(settings, record.get("holder")):
        return record
    again = _read_retrain_record(path)  # a retrain that finished between the two looks has recorded it
    return {**record, "state": "interrupted"} if again == record else again


def _retrain_record(settings: Settings) -> Path:
    return settings.data_dir / "retrain" / "last.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _record_retrain(settings: Settings, record: dict) -> None:
    """Replace the retrain's record whole: a reader (`last_retrain`) never sees half of one."""
    path = _retrain_record(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(path, json.dumps(record, indent=2, default=str).encode())
    except OSError as exc:
        raise _unwritable_data_dir(settings, exc) from exc


def _record_failure(settings: Settings, running: dict, exc: Exception) -> None:
    """Record a retrain failed with ``exc``: an `RcaError` as the API would answer it, anything else (a bug, the
    store away) as an internal error with its type and the first line of its message; never a traceback (the
    caller raises it on). A record that cannot be written is logged, not raised over ``exc``."""
    if isinstance(exc, RcaError):
        error = error_detail(exc)
    else:
        first = next(iter(str(exc).strip().splitlines()), "")
        error = {"message": clipped(": ".join(filter(None, ("internal error", type(exc).__name__, first))), 500),
                 "field": None}
    try:
        _record_retrain(settings, {**running, "state": "failed", "finished_at": _now(), "error": error})
    except ConfigError:
        log.exception("the failed retrain could not be recorded")


def _read_retrain_record(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"state": "none"}
    except OSError as exc:  # written by another user (mode 0600)
        raise ConfigError(str(path), exc.strerror, "a file this process can read") from exc
    try:
        record = json.loads(text)
        if not isinstance(record, dict) or not isinstance(record.get("state"), str):
            raise ValueError("not an object with a state")
    except ValueError as exc:  # written by hand: `_record_retrain` replaces it whole
        raise ConfigError(str(path), clipped(text), f"the JSON object a retrain records ({exc}); delete it, the next "
                                                    "retrain records its own") from exc
    return record


def _still_holds(settings: Settings, holder: str | None) -> bool:
    """Whether the retrain that wrote ``holder`` into the one-retrain lock holds it still. Another text there: a
    retrain, `rca train` or a prune has taken it since. The same: it holds it unless the lock can be taken (for an
    instant, then given back)."""
    if _holder(_retrain_lock(settings)) != holder:
        return False
    handle = _try_retrain_lock(settings)
    if handle is None:
        return True
    release(handle)
    return False


def _version_summary(registry, version: str) -> dict | None:
    """A version's metrics and training data, from its meta.json; None when a prune deleted it since it was listed.
    A meta.json that cannot be read gives a summary with ``damaged`` (what is wrong), so that one damaged version
    does not hide the others from the listing (it failed whole)."""
    from rca.ranking.dataset import count_copies

    path = registry.root / version / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        n_training, n_copies = count_copies(meta.get("training_incidents", []))
        n_validation = len(meta.get("validation_incidents", []))
    except FileNotFoundError:
        return None
    except (ValueError, AttributeError, TypeError) as exc:  # not JSON, or not the object (and lists) it should be
        return {"created_at": None, "metrics": {}, "n_training_incidents": 0, "n_reduced_copies": 0,
                "n_validation_incidents": 0, "family_mix": {},
                "damaged": clipped(f"{path}: {exc}", 200) + "; expected the JSON object a trained ranker's save writes"}
    return {"created_at": meta.get("created_at"), "metrics": meta.get("validation_metrics", {}),
            "n_training_incidents": n_training, "n_reduced_copies": n_copies,
            "n_validation_incidents": n_validation, "family_mix": meta.get("family_mix", {})}


def list_rankers(settings: Settings) -> dict:
    """The ranker in use, the registry's versions with their metrics (empty before any training) and its
    promotion log (every promote, rollback and prune, oldest first)."""
    from rca.ranking.registry import RankerRegistry

    registry = RankerRegistry(settings.resolved_rankers_dir)
    try:
        champion = registry.settle()  # a promotion cut short is completed first
    except ConfigError:  # a registry this process may only read
        champion = registry.champion_version()
    versions = [{"version": v, "champion": v == champion, **summary} for v in registry.versions()
                if (summary := _version_summary(registry, v)) is not None]
    return {"in_use": _in_use(settings), "champion": champion, "versions": versions,
            "history": registry.history()}


REASON_MAX = 500
"""Longest ``reason`` of a rollback or a promotion by hand (`rca.api.schemas.RankerChangeIn` says the same)."""


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise InputError(f"a reason of 1 to {REASON_MAX} characters is needed (the promotion log keeps it); got "
                         f"{len(reason)}", field="reason")
    return reason


def rollback_ranker(settings: Settings, reason: str, *, by: str | None = None) -> dict:
    """Return to the champion before the current one (the packaged champion after the first promotion).

    Returns ``restored`` (the registry version now champion, None for the packaged one), ``previous`` (the
    version rolled back) and ``in_use`` (the ranker the service now uses). Raises `ConflictError` when
    nothing was promoted."""
    from rca.ranking.registry import RankerRegistry

    entry = RankerRegistry(settings.resolved_rankers_dir).rollback(_reason(reason), by=by)
    return {"restored": entry["version"], "previous": entry["previous"], "in_use": _in_use(settings)}


def promote_ranker(settings: Settings, version: str, reason: str, *, by: str | None = None) -> dict:
    """Make a stored version the champion by hand (no gate; logged with ``reason``), e.g. to undo a rollback.

    Returns ``promoted``, ``previous`` and ``in_use``; raises `NotFoundError` for a version not stored."""
    from rca.ranking.registry import RankerRegistry

    entry = RankerRegistry(settings.resolved_rankers_dir).promote(version, _reason(reason), by=by)
    return {"promoted": version, "previous": entry["previous"], "in_use": _in_use(settings)}


def prune_rankers(settings: Settings, keep: int, *, dry_run: bool = False, by: str | None = None) -> dict:
    """Delete the registry's versions that were never promoted, all but the newest ``keep``
    (`RankerRegistry.prune`: the champion, the versions a rollback could return to and the ones rolled back stay);
    with ``dry_run``, only say which would go.

    Returns the prune's log entry: ``removed`` (oldest first), ``kept`` (versions left), ``bytes`` (freed).
    Not while a retrain runs (`ConflictError`): its challenger, stored but not gated yet, is a version to prune."""
    from rca.ranking.registry import RankerRegistry

    with _one_retrain(settings, "a registry prune", busy="prune the registry when it is done"):
        return RankerRegistry(settings.resolved_rankers_dir).prune(keep, dry_run=dry_run, by=by)


def _in_use(settings: Settings) -> str:
    ranker = get_ranker(settings)
    return getattr(ranker, "name", type(ranker).__name__)
