"""Analysis off the request path: a few threads taking incident ids from a queue.

Started and stopped with the app's lifespan. A request may wait a short budget on an incident's event and
answer 201 with the result, else 202; tests call `drain` to wait until the queue is empty.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from rca.config import Settings
from rca.contract import Bundle
from rca.store import queries
from rca.store.db import STORE_AWAY, session_scope
from rca.store.models import PENDING, utcnow

log = logging.getLogger(__name__)
_STOP = object()

WAITERS = 8
"""Requests of one process that may wait for an analysis at a time (`AnalysisWorker.wait_until`): each holds one of
the server's request threads while it waits, so more would starve the other requests; the next one is answered at
once."""
RECOVER_SECONDS = 60
"""How often the process that resumed pending incidents at its start looks for lost ones (`AnalysisWorker.recover`)."""
STALE_SECONDS = 300
"""A pending incident whose status has not changed for this long is taken to be lost: the process that had it in
its queue died, or the store failed under its analysis. An analysis takes seconds; a queue this long is not
expected, and of two processes holding an incident, the second skips it once the first has stored its answer
(`rca.store.queries.claim_incident`)."""
MAX_WAIT = 60
"""The longest wait (seconds) a read of one incident may ask for (the API's and the console's ``?wait=``)."""
POLL_SECONDS = 0.25
"""How often a wait looks at the store for an incident another process of the service is analyzing."""


class AnalysisWorker:
    def __init__(self, settings: Settings, *, threads: int = 1, metrics=None) -> None:
        self.settings = settings
        self.threads = threads
        self.metrics = metrics
        self._queue: queue.Queue = queue.Queue()
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pending = 0
        self._waiters = threading.BoundedSemaphore(WAITERS)
        self._stopping = threading.Event()
        self._recoverer: threading.Thread | None = None

    # -- lifecycle
    def start(self, *, resume: bool = True) -> AnalysisWorker:
        """Start the threads; with ``resume``, first queue the incidents a stop or crash left queued or
        half-analyzed (one process of several resumes them, see `rca.api.app.serve_process`)."""
        if resume:
            with session_scope(self.settings.resolved_database_url) as session:
                pending = queries.pending_incident_ids(session)
            for incident_id in pending:
                self.submit(incident_id)
        self._stopping.clear()
        for i in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"rca-analysis-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if resume:  # the one process that resumed also recovers what is lost while the service runs
            self._recoverer = threading.Thread(target=self._recover_every, name="rca-recover", daemon=True)
            self._recoverer.start()
        return self

    def stop(self, timeout: float = 30.0) -> list[str]:
        """Let the analyses in hand finish, for up to ``timeout`` seconds in all, and stop. Incidents queued but
        not started are not analyzed now: they stay pending in the store, and the next start resumes them. What
        was left (queued, or still analyzing at the deadline) is logged, and returned as ids."""
        self._stopping.set()
        queued = self._unqueue()
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in [*self._threads, *filter(None, [self._recoverer])]:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:  # `_unqueue` took the queued ones' events: those left were in hand
            cut_off = list(self._events)
        left = queued + cut_off
        if left:
            log.warning("analysis worker stopped with %d incident(s) not analyzed (%d queued, %d still analyzing "
                        "after %.0f s): %s; they stay pending in the store and the next start analyzes them",
                        len(left), len(queued), len(cut_off), timeout,
                        ", ".join(left[:10]) + (" ..." if len(left) > 10 else ""))
        self._threads.clear()
        self._recoverer = None
        return left

    def _unqueue(self) -> list[str]:
        """Take every incident not yet started off the queue; their ids."""
        taken = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                taken.append(item[0])
        with self._lock:
            self._pending -= len(taken)
            events = [self._events.pop(incident_id, None) for incident_id in taken]
        for event in filter(None, events):
            event.set()
        return taken

    def recover(self) -> list[str]:
        """Queue the pending incidents whose status has not changed for `STALE_SECONDS` and that this process does
        not hold: lost by a process of the service that died (with `rca serve --processes N`, a process other than
        this one) or by a store that failed under their analysis (`STORE_AWAY`). Their ids."""
        untouched_since = utcnow() - timedelta(seconds=STALE_SECONDS)
        with session_scope(self.settings.resolved_database_url) as session:
            stale = queries.pending_incident_ids(session, untouched_since=untouched_since)
        lost = [incident_id for incident_id in stale if not self.analyzes(incident_id)]
        for incident_id in lost:
            self.submit(incident_id)
        if lost:
            log.warning("queued again %d incident(s) pending for over %d s that no analysis held: %s", len(lost),
                        STALE_SECONDS, ", ".join(lost[:10]) + (" ..." if len(lost) > 10 else ""))
        return lost

    def _recover_every(self) -> None:
        while not self._stopping.wait(RECOVER_SECONDS):
            try:
                self.recover()
            except Exception:  # the store is away: the next round tries again
                log.exception("analysis worker: looking for lost incidents failed")

    # -- producers
    def submit(self, incident_id: str, bundle: Bundle | None = None) -> threading.Event:
        with self._lock:
            event = self._events.setdefault(incident_id, threading.Event())
            self._pending += 1
        self._queue.put((incident_id, bundle))
        return event

    def wait(self, incident_id: str, timeout: float) -> bool:
        """True when the incident's analysis finished within ``timeout`` seconds (at once when this process is
        not analyzing it: see `analyzes`)."""
        with self._lock:
            event = self._events.get(incident_id)
        return event is None or event.wait(timeout)

    def analyzes(self, incident_id: str) -> bool:
        """Whether the incident is queued or being analyzed in this process (another process of the service may
        have it)."""
        with self._lock:
            return incident_id in self._events

    def wait_until(self, incident_id: str, timeout: float, settled: Callable[[], bool]) -> bool:
        """Wait up to ``timeout`` seconds for ``settled()`` (the store says the incident's analysis is done or
        failed); whether it is. Woken by this process's analysis of the incident, else looking at the store every
        `POLL_SECONDS` (another process analyzes it). When `WAITERS` requests wait already, does not wait."""
        if not self._waiters.acquire(blocking=False):
            return settled()
        try:
            deadline = time.monotonic() + timeout
            while not settled():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if self.analyzes(incident_id):
                    self.wait(incident_id, left)
                else:
                    time.sleep(min(POLL_SECONDS, left))
            return True
        finally:
            self._waiters.release()

    def wait_for_analysis(self, session, incident_id: str, timeout: float) -> bool:
        """`wait_until` the store says the incident is no longer `PENDING` (read with ``session``); whether it is.
        `NotFoundError` for an incident that is not stored."""
        return self.wait_until(incident_id, timeout,
                               lambda: queries.incident_status(session, incident_id=incident_id) not in PENDING)

    @property
    def depth(self) -> int:
        """Incidents waiting or being analyzed."""
        with self._lock:
            return self._pending

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until nothing is queued or running (for tests and shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.depth == 0:
                return True
            time.sleep(0.01)
        return False

    # -- the consumer
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            incident_id, bundle = item
            started = time.perf_counter()
            status = "failed"
            try:
                status = self._analyze(incident_id, bundle)
            except Exception as exc:  # the store went away, say; keep serving the others
                log.exception("analysis worker: incident %s", incident_id)
                if isinstance(exc, STORE_AWAY):
                    status = "interrupted"  # still pending in the store: `recover` queues it again
                self._fail(incident_id, exc)
            finally:
                if self.metrics is not None:
                    self.metrics.observe_analysis(status, time.perf_counter() - started)
                with self._lock:
                    self._pending -= 1
                    event = self._events.pop(incident_id, None)
                if event is not None:
                    event.set()

    def _fail(self, incident_id: str, exc: Exception) -> None:
        """Mark an incident whose analysis could not be stored failed, in a session of its own, so that it is not
        left ``analyzing`` (where it cannot be deleted, and every restart analyzes it again, failing the same way).
        Not when the store could not be reached (`STORE_AWAY`): the incident is left pending, for `recover` (or the
        next start) to queue again, as it is when marking it fails too."""
        from rca.service import fail_incident

        if isinstance(exc, STORE_AWAY):
            return
        try:
            with session_scope(self.settings.resolved_database_url) as session:
                fail_incident(session, incident_id=incident_id, error=exc)
        except Exception:
            log.exception("analysis worker: could not mark incident %s failed", incident_id)

    def _analyze(self, incident_id: str, bundle: Bundle | None) -> str:
        from rca.service import analyze_incident

        with session_scope(self.settings.resolved_database_url) as session:
            record = analyze_incident(session, incident_id=incident_id, settings=self.settings, bundle=bundle)
            return "skipped" if record is None else record.status.value
