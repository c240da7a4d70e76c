"""File locks shared by the processes of one data directory."""

from __future__ import annotations

import pytest

from rca.locks import acquire, release


def test_a_held_lock_is_refused_without_waiting_and_free_once_released(tmp_path):
    path = tmp_path / "sub" / "x.lock"   # its directory is made
    held = acquire(path)
    assert held is not None
    assert acquire(path, wait=False) is None     # flock conflicts between two opens, even in one process
    release(held)
    again = acquire(path, wait=False)
    assert again is not None and held.closed
    release(again)


def test_a_lock_file_that_cannot_be_opened_is_an_oserror(tmp_path):
    (tmp_path / "dir.lock").mkdir()
    with pytest.raises(OSError):
        acquire(tmp_path / "dir.lock")
