"""Versioned ranker artifacts, the champion pointer and the append-only promotion log.

Layout under ``root``::

    <version>/model*.txt, <version>/meta.json    one trained ranker each
    champion.json                                {"version": ..., "at": ...}: the ranker in use
    promotions.jsonl                             every promote, rollback and prune, one JSON object per line
    .lock                                        held while a promote, rollback or prune reads the log and writes
    .prune-*/                                    versions a prune is deleting (never listed as versions)

The champion history is the promotion log replayed: ``promote`` pushes a version, ``rollback`` pops one. Rolling
back the first promotion leaves no registry champion (``version`` null): the service then uses the packaged
champion again (`packaged_champion`), or the heuristic scorer when there is none. ``prune`` deletes versions
that were never promoted, all but the newest few (`RankerRegistry.prune`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType

from lightgbm.basic import LightGBMError

from rca.errors import ConfigError, ConflictError, NotFoundError, clipped
from rca.locks import acquire, release
from rca.ranking.lgbm import LgbmRanker

log = logging.getLogger(__name__)

PACKAGED_CHAMPION = Path(__file__).resolve().parent / "champion"
"""The champion shipped with the repository (``rca train --out rca/ranking/champion`` writes it)."""
ACTIONS = ("promote", "rollback", "prune")
"""The actions the promotion log records."""


class RankerRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def pointer(self) -> Path:
        return self.root / "champion.json"

    @property
    def log(self) -> Path:
        return self.root / "promotions.jsonl"

    def versions(self) -> list[str]:
        """Stored versions, oldest first (version names start with their UTC creation time). Hidden directories
        (a prune's ``.prune-*``) are none."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if not p.name.startswith(".") and (p / "meta.json").is_file())

    def save(self, ranker: LgbmRanker, *, now: datetime | None = None) -> str:
        """Store a trained ranker under a new version ``lgbm-<UTC time>-<hash of the model>``; return it."""
        if not ranker.boosters:
            raise ConfigError("ranker", "an untrained LgbmRanker", "a trained ranker")
        now = now or datetime.now(UTC)
        digest = hashlib.sha256("".join(ranker.model_strings()).encode()).hexdigest()[:8]
        version = f"lgbm-{now:%Y%m%d-%H%M%S}-{digest}"
        ranker.meta = {**ranker.meta, "version": version, "created_at": now.isoformat()}
        # written out of sight, then renamed: a save cut short (killed, disk full) leaves a hidden directory, never a
        # version whose meta.json is half written (which made every listing of the registry fail)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".save-{version}-", dir=self.root))
            ranker.save(staging)
            if (self.root / version).exists():  # the same model saved in the same second (a twin): this save wins
                trash = Path(tempfile.mkdtemp(prefix=".prune-", dir=self.root))
                (self.root / version).rename(trash / version)
                staging.rename(self.root / version)
                shutil.rmtree(trash)
            else:
                staging.rename(self.root / version)
        except OSError as exc:
            raise self._unwritable(exc) from exc
        return version

    def load(self, version: str) -> LgbmRanker:
        if version not in self.versions():
            raise self._missing(version, "ranker version")
        try:
            return LgbmRanker.load(self.root / version)
        except (ValueError, KeyError, TypeError, AttributeError, LightGBMError) as exc:  # damaged since it was saved
            raise ConfigError(str(self.root / version), clipped(str(exc) if isinstance(exc, ValueError)
                                                                else f"{type(exc).__name__}: {exc}", 240),
                              "the model files and meta.json a trained ranker's save writes") from exc

    def champion_version(self) -> str | None:
        """The promoted champion's version; None before any promotion or after the first one was rolled back."""
        if not self.pointer.is_file():
            return None
        text = self.pointer.read_text()
        try:
            return json.loads(text)["version"]
        except (ValueError, TypeError, KeyError) as exc:  # written atomically by `_record`: a hand edit broke it
            raise ConfigError(str(self.pointer), text[:80], '{"version": ..., "at": ...} as rca rankers promote '
                              "writes it") from exc

    def champion(self) -> LgbmRanker | None:
        """The promoted champion, or None when nothing was promoted yet."""
        version = self.champion_version()
        return self.load(version) if version else None

    def history(self) -> list[dict]:
        if not self.log.is_file():
            return []
        entries = []
        for number, line in enumerate(self.log.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                entry = None
            if not isinstance(entry, dict) or entry.get("action") not in ACTIONS:
                # the champion stack is this log replayed: a line it cannot read would make a rollback guess
                raise ConfigError(f"{self.log} line {number}", line[:80],
                                  f'one JSON object per line with "action" {", ".join(ACTIONS)}')
            entries.append(entry)
        return entries

    def promote(self, version: str, reason: str, *, by: str | None = None, replacing: str | None | EllipsisType = ...
                ) -> dict:
        """Make ``version`` the champion and log it (``by``: who asked, when a person did); returns the log entry
        (``previous`` is the champion it replaced, read under the lock).

        ``replacing``: the champion the caller gated ``version`` against (None: none was promoted). When the
        champion is another one by the time the lock is held (a promotion or rollback meanwhile), nothing is
        changed: `ConflictError`. Promotions by hand leave it out."""
        with self._locked():  # checked under the lock: a prune meanwhile would leave the champion pointing at nothing
            if version not in self.versions():
                raise self._missing(version, "cannot promote")
            self.load(version)  # a version that does not load would leave the service without a ranker
            current = self.champion_version()
            if version == current:  # logged, it would put the champion twice on the stack a rollback walks
                raise ConflictError(f"{version} is the champion already; nothing changed")
            if replacing is not ... and current != replacing:
                raise ConflictError(f"the champion changed from {replacing or 'the packaged one'} to "
                                    f"{current or 'the packaged one'} while {version} was gated against it; "
                                    "not promoted")
            return self._record({"action": "promote", "version": version, "previous": current,
                                 "reason": reason}, by)

    def rolled_back(self) -> dict[str, str | None]:
        """Versions a rollback took out of service and that are not the champion now, each with the reason of
        its last rollback."""
        current, stored = self.champion_version(), set(self.versions())
        reasons = {e["previous"]: e.get("reason") for e in self.history() if e["action"] == "rollback"}
        return {v: reason for v, reason in reasons.items() if v and v != current and v in stored}

    def rollback(self, reason: str = "rollback", *, by: str | None = None) -> dict:
        """Return to the champion before the current one; returns the log entry: ``version`` the restored one
        (None when the current one was the first promoted: the packaged champion is in use again), ``previous``
        the one rolled back."""
        with self._locked():
            stack = self._stack()
            if not stack:
                raise ConflictError(f"nothing to roll back: no ranker in {self.root} was promoted (or every "
                                    "promotion was rolled back already); the packaged champion is in use (the "
                                    "heuristic scorer without one)")
            restored = stack[-2] if len(stack) > 1 else None
            if restored is not None:
                self.load(restored)  # deleted or damaged since: refused, as promoting it by hand would be
            return self._record({"action": "rollback", "version": restored, "previous": stack[-1],
                                 "reason": reason}, by)

    def prune(self, keep: int, *, dry_run: bool = False, by: str | None = None) -> dict:
        """Delete the versions no rollback or retrain needs, all but the newest ``keep``; returns the log entry.

        Never deleted: a version ever promoted, i.e. every one on the champion stack (the champion and each one a
        rollback could return to) and every one rolled back (the retrain gate compares a challenger with them so
        that it does not promote a rolled-back model again, `RankerRegistry.rolled_back`). Of the others
        (challengers the gate refused, twins of the champion), the newest ``keep`` stay, by `versions` (creation
        time); the rest go, whole directories. Hidden and half-written directories (no ``meta.json`` yet) are no
        versions and are left alone.

        Runs under the registry lock, so no promote or rollback interleaves. The log first records ``{"action":
        "prune", "removed": [...], "kept": versions left, "keep": keep, "bytes": freed}`` (``by``: who asked), then
        each version is renamed out of sight (``.prune-*``) and deleted: a prune cut short leaves versions the next
        one deletes (and logs) again, never one gone without a word. Nothing to delete records nothing.
        With ``dry_run`` the entry says what would go and nothing changes. A retrain's challenger is the newest
        version while it is gated: ``keep`` 0 could delete it, so `rca.service.prune_rankers` is refused while one
        runs.

        Raises `ConfigError` for a negative ``keep`` or a registry that cannot be read or written.
        """
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ConfigError("keep", keep, "a count of versions, 0 or more")
        with self._locked():
            try:
                stored = self.versions()
                needed = {*self._stack(), *self.rolled_back()}
                others = [v for v in stored if v not in needed]
                removed = others[:max(len(others) - keep, 0)]
                entry = {"action": "prune", "removed": removed, "kept": len(stored) - len(removed), "keep": keep,
                         "bytes": sum(_size(self.root / v) for v in removed)}
                if dry_run or not removed:
                    return _stamped(entry, by)
                entry = self._record(entry, by, champion=False)
                for leftover in self.root.glob(".prune-*"):  # from a prune cut short
                    shutil.rmtree(leftover)
                trash = Path(tempfile.mkdtemp(prefix=".prune-", dir=self.root))
                for version in removed:
                    (self.root / version).rename(trash / version)  # atomic: a reader sees it whole or not at all
                shutil.rmtree(trash)
            except OSError as exc:
                raise self._unwritable(exc, "read and write") from exc
            return entry

    def _missing(self, version: str, doing: str) -> NotFoundError:
        """The error for a version not stored: when a prune deleted it, says when (and who asked)."""
        pruned = [e for e in self.history() if e["action"] == "prune" and version in e.get("removed", ())]
        if pruned:
            where = f"pruned from {self.root} on {pruned[-1]['at'][:10]}" + (
                f" by {pruned[-1]['by']}" if pruned[-1].get("by") else "")
        else:
            where = f"not in {self.root}"
        return NotFoundError(f"{doing} {version!r}: {where}; known: {', '.join(self.versions()) or '(none)'}")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One promote, rollback or prune at a time, across processes (the service's workers, the weekly job): each
        reads the log's state and appends to it. Each first settles the pointer (`settle`)."""
        try:
            handle = acquire(self.root / ".lock")
        except OSError as exc:
            raise self._unwritable(exc) from exc
        try:
            self._settle()
            yield
        finally:
            release(handle)

    def settle(self) -> str | None:
        """`_settle` under the registry lock; the champion's version. What `rca rankers list` calls first."""
        with self._locked():
            return self.champion_version()

    def _settle(self) -> None:
        """Point the champion pointer at the log's champion when they differ: a promote or rollback cut short
        (killed) after its log line and before its pointer swap is completed. The log is the record (the champion
        stack a rollback walks is the log replayed); the pointer is its last champion, kept for readers. Without
        this, the next promotion logged the pointer's champion as the one it replaced while the stack held the
        unfinished one, and a rollback restored a version that never served."""
        history = self.history()
        changes = [e for e in history if e["action"] in ("promote", "rollback")]
        if not changes:
            return
        stack = self._stack(history)
        logged, pointed = stack[-1] if stack else None, self.champion_version()
        if logged == pointed:
            return
        log.warning("registry %s: the champion pointer names %s but the promotion log %s; completing the %s "
                    "of %s", self.root, pointed, logged, changes[-1]["action"], changes[-1]["at"])
        try:
            self._pointer_draft(logged, changes[-1]["at"]).replace(self.pointer)
        except OSError as exc:
            raise self._unwritable(exc) from exc

    def _pointer_draft(self, version: str | None, at: str) -> Path:
        """The champion pointer naming ``version``, written beside it: replacing the pointer with it is atomic (a
        reader never sees a half-written pointer)."""
        tmp = self.pointer.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": version, "at": at}) + "\n")
        return tmp

    def _unwritable(self, exc: OSError, can: str = "write to") -> ConfigError:
        """The error for a registry directory an operation could not read or write (read-only, full, missing)."""
        return ConfigError(str(self.root), clipped(f"{type(exc).__name__}: {exc}", 240),
                           f"a registry directory this process can {can}")

    def _stack(self, history: list[dict] | None = None) -> list[str]:
        """The champion stack: the log (``history``, read when not given) replayed, a rollback undoing the latest
        promotion still standing."""
        stack: list[str] = []
        for entry in self.history() if history is None else history:
            if entry["action"] == "promote":
                stack.append(entry["version"])
            elif entry["action"] == "rollback" and stack:
                stack.pop()
        return stack

    def _record(self, entry: dict, by: str | None = None, *, champion: bool = True) -> dict:
        """Append ``entry`` to the log; with ``champion``, point the champion at its ``version`` too."""
        entry = _stamped(entry, by)
        try:
            # the new pointer first: a registry it cannot be written to has a log that still matches its champion
            draft = self._pointer_draft(entry["version"], entry["at"]) if champion else None
            with self.log.open("a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
            if draft is not None:
                draft.replace(self.pointer)
        except OSError as exc:
            raise self._unwritable(exc) from exc
        return entry


def _stamped(entry: dict, by: str | None) -> dict:
    """A log entry: its time first, ``by`` last when a person asked."""
    return {"at": datetime.now(UTC).isoformat(), **entry, **({"by": by} if by else {})}


def _size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


def packaged_champion() -> LgbmRanker | None:
    """The champion shipped in ``rca/ranking/champion/``, or None when the repository has none yet."""
    if not (PACKAGED_CHAMPION / "model.txt").is_file():
        return None
    return LgbmRanker.load(PACKAGED_CHAMPION)
