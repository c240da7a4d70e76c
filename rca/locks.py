"""Exclusive locks on files, across the processes that share a data directory (`fcntl.flock`).

The registry's promotions, the one retrain at a time and the one server process that resumes pending incidents
each hold one. A lock lives as long as its open handle: `release` it (unlock, then close), so that a child
process that inherited the handle (a training pool) cannot keep it after the holder is done.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO


def acquire(path: Path, *, wait: bool = True) -> IO[str] | None:
    """An open handle on ``path`` (made, with its directory, if missing) holding an exclusive lock on it; with
    ``wait=False``, None at once when another process holds it. `OSError` when the file cannot be opened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    except BaseException:
        handle.close()
        raise
    return handle


def release(handle: IO[str]) -> None:
    """Give up a lock `acquire` took and close its handle."""
    try:
        fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
