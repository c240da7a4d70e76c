"""The retrain off the request path: ``POST /v1/rankers/retrain`` answers as soon as a thread of the service holds
the one-retrain lock, and the thread trains on (minutes); ``GET /v1/rankers/retrain`` reads how it goes
(`rca.service.last_retrain`)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

from rca.config import Settings
from rca.errors import RcaError
from rca.store.db import session_scope

log = logging.getLogger(__name__)


class Retrainer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._thread: threading.Thread | None = None

    def start(self, *, by: str) -> dict:
        """Start `rca.service.retrain` in a thread of its own; its ``running`` record, once it holds the one-retrain
        lock. Raises what the retrain raises before: `ConflictError` while a retrain, `rca train` or a prune runs
        (in any process of the data directory), `ConfigError` for a data directory it cannot lock or write."""
        started: Future[dict] = Future()
        # a daemon: a stop does not wait for the training (see `stop`)
        thread = threading.Thread(target=self._run, args=(by, started), name="rca-retrain", daemon=True)
        thread.start()
        running = started.result()
        self._thread = thread
        return running

    def _run(self, by: str, started: Future[dict]) -> None:
        from rca.service import retrain

        try:
            with session_scope(self.settings.resolved_database_url) as session:
                retrain(session, settings=self.settings, by=by, started=started.set_result)
        except BaseException as exc:  # in a thread: nobody else would see it
            if not started.done():  # refused, or failed before it held the lock: the request answers it
                started.set_exception(exc)
            elif isinstance(exc, RcaError):  # recorded as failed (`last_retrain`)
                log.warning("the retrain %s asked for failed: %s", by, exc)
            else:
                log.exception("the retrain %s asked for failed", by)

    def running(self) -> bool:
        """Whether a retrain this process started is still running."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the retrain this process started (for tests); whether none runs."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running()

    def stop(self) -> None:
        """Do not wait for a retrain in hand: it trains for minutes, longer than a stop may take. Its thread is a
        daemon, so the process exits without it; the one-retrain lock goes with the process, and the retrain's
        record then reads as interrupted (`rca.service.last_retrain`). Logged.

        Stopped by SIGTERM, uvicorn raises the signal again once its shutdown is done. In a one-process service
        (`rca serve`'s default) `rca.cli.main` turns it into an exit (code 143), so exit handlers run and
        multiprocessing's ends the processes of a feature pool the training had running
        (`rca.ranking.dataset.build_training_table`; daemonic). The processes of a several-process service are
        uvicorn's and die by the signal: such a pool's processes exit once they find their parent gone (seconds).
        Either way they write nothing."""
        if self.running():
            log.warning("the service stops with a retrain running: it is cut off and reads as interrupted at GET "
                        "/v1/rankers/retrain; start it again (POST /v1/rankers/retrain or rca retrain)")
