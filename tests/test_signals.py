"""Stopping a long command: SIGTERM ends it as an exception would, with its feature pool, and says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rca.corpus import build_corpus

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from /proc")


def pool_processes(pid: int) -> list[int]:
    """The children of ``pid`` that are multiprocessing's spawned pool processes (not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        pids = [int(p) for p in children.read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []
    out = []
    for child in pids:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_sigterm_while_features_are_computed_ends_the_pool_without_a_traceback(tmp_path):
    """A SIGTERM killed `rca train` where it stood: each pool process printed a BrokenPipeError traceback once its
    parent was gone, and kept computing until then."""
    corpus = tmp_path / "corpus"
    build_corpus(corpus, n=0, seed=3, mesh=24)
    env = {**os.environ, "RCA_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:       # a file, not a pipe: nothing blocks on output nobody reads while we wait
        proc = subprocess.Popen([sys.executable, "-m", "rca", "train", "--corpus", str(corpus), "--registry",
                                 str(tmp_path / "rankers"), "--processes", "2"],
                                env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = pool_processes(proc.pid)
        assert len(workers) == 2, "the feature pool never started"
        time.sleep(1.0)                                  # computing incidents now
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = errors.read_text()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped: SIGTERM" in err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    time.sleep(0.5)
    assert not any(alive(w) for w in workers)
    assert not list((tmp_path / "data").rglob("*.parquet"))      # no feature table, whole or partial
    assert not (tmp_path / "rankers").exists() or not any((tmp_path / "rankers").rglob("model*.txt"))
