"""``POST /v1/rankers/retrain`` starts the retrain in the background and answers 202 at once; ``GET`` reads how it
goes, from the record `rca.service.retrain` keeps in the data directory. The training is stood in for."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rca.api import create_app
from rca.errors import ConfigError
from tests.rank_builders import retrain_result

RETRAIN = "/v1/rankers/retrain"


@pytest.fixture
def training(monkeypatch):
    """The trainer, standing in for LightGBM: it holds until ``go`` is set (a slow training), then returns the
    report of challenger v9, not promoted, or raises ``raises``."""
    stand_in = types.SimpleNamespace(began=threading.Event(), go=threading.Event(), raises=None)

    def retrain(corpus_dirs, registry_dir):
        stand_in.began.set()
        assert stand_in.go.wait(60), "the test never let the training finish"
        if stand_in.raises is not None:
            raise stand_in.raises
        return retrain_result("v9", promoted=False)

    monkeypatch.setitem(sys.modules, "rca.ranking.train", types.SimpleNamespace(retrain=retrain))
    yield stand_in
    stand_in.go.set()  # a test that failed midway leaves no training thread waiting


def _finished(client, keys) -> dict:
    assert client.app.state.retrainer.wait(30)
    return client.get(RETRAIN, headers=keys["admin"]).json()


def test_a_retrain_is_accepted_at_once_then_reads_running_then_done(client, keys, training):
    assert client.get(RETRAIN, headers=keys["admin"]).json()["state"] == "none"
    begun = time.monotonic()
    r = client.post(RETRAIN, headers=keys["admin"])
    assert r.status_code == 202, r.text
    assert time.monotonic() - begun < 10 and not training.go.is_set()  # answered while it trains
    assert r.headers["Location"].endswith(RETRAIN) and r.headers["Retry-After"] == "30"
    running = r.json()
    assert running["state"] == "running" and running["by"] == "admin-1" and running["process"] == os.getpid()
    assert running["started_at"] and running["holder"].startswith(f"a retrain (process {os.getpid()}) since ")
    assert running["result"] is None and running["error"] is None

    assert training.began.wait(30)
    assert client.get(r.headers["Location"], headers=keys["admin"]).json() == running
    again = client.post(RETRAIN, headers=keys["admin"])
    assert again.status_code == 409
    assert again.json()["error"]["message"].startswith(f"{running['holder']} is running; its result will be in the "
                                                       "promotion log")

    training.go.set()
    done = _finished(client, keys)
    assert done["state"] == "done" and done["started_at"] == running["started_at"] and done["finished_at"]
    assert done["by"] == "admin-1" and done["error"] is None
    result = done["result"]
    assert result["challenger"] == "v9" and result["promoted"] is False and result["exported"] == 0
    assert "Challenger `v9`: **not promoted**" in Path(result["report"]).read_text()
    assert client.post(RETRAIN, headers=keys["admin"]).status_code == 202  # the lock went with the run
    training.go.set()
    assert _finished(client, keys)["state"] == "done"


@pytest.mark.parametrize(("raised", "message"), [
    (ConfigError("corpus", "3 incidents", "validation incidents to gate the challenger on"),
     "corpus: got '3 incidents', expected validation incidents to gate the challenger on"),
    (ZeroDivisionError("division by zero"), "internal error: ZeroDivisionError: division by zero"),
])
def test_a_retrain_whose_training_raises_reads_as_failed_with_its_message(client, keys, training, raised, message,
                                                                          caplog):
    training.raises = raised
    training.go.set()
    with caplog.at_level("WARNING", logger="rca.api.retrainer"):
        assert client.post(RETRAIN, headers=keys["admin"]).status_code == 202
        failed = _finished(client, keys)
    assert failed["state"] == "failed" and failed["result"] is None and failed["finished_at"]
    assert failed["error"]["message"] == message and "Traceback" not in json.dumps(failed)
    assert "the retrain admin-1 asked for failed" in caplog.text  # the traceback of a bug is in the log


def test_the_last_retrain_is_read_by_a_new_service_too(client, keys, settings, training):
    training.go.set()
    assert client.post(RETRAIN, headers=keys["admin"]).status_code == 202
    done = _finished(client, keys)
    assert done["state"] == "done"
    with TestClient(create_app(settings)) as restarted:
        assert restarted.get(RETRAIN, headers=keys["admin"]).json() == done


def test_a_retrain_recorded_running_whose_process_is_gone_reads_as_interrupted(client, keys, settings):
    """A service stopped or killed mid-retrain leaves its record running; the lock went with its process."""
    record = {"state": "running", "started_at": "2026-12-07T03:00:00+00:00", "by": "admin-1", "process": 4121,
              "holder": "a retrain (process 4121) since 2026-12-07 03:00 UTC"}
    path = settings.data_dir / "retrain" / "last.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    (settings.data_dir / ".retrain.lock").write_text(record["holder"] + "\n")
    got = client.get(RETRAIN, headers=keys["admin"]).json()
    assert got["state"] == "interrupted" and got["process"] == 4121 and got["by"] == "admin-1"


def test_a_stop_does_not_wait_for_the_retrain(settings, keys, training, caplog):
    """The training goes on for minutes; a stop has a few seconds. The lock goes with the process."""
    client = TestClient(create_app(settings)).__enter__()
    try:
        assert client.post(RETRAIN, headers=keys["admin"]).status_code == 202
        assert training.began.wait(30)
    finally:
        begun = time.monotonic()
        with caplog.at_level("WARNING", logger="rca.api.retrainer"):
            client.__exit__(None, None, None)
    retrainer = client.app.state.retrainer
    assert time.monotonic() - begun < 10 and retrainer.running()
    assert "the service stops with a retrain running" in caplog.text
    training.go.set()
    assert retrainer.wait(30)


def test_only_admins_start_a_retrain_or_read_it(client, keys, training):
    for method in ("POST", "GET"):
        assert client.request(method, RETRAIN).status_code == 401
        for role in ("reviewer", "trigger"):
            assert client.request(method, RETRAIN, headers=keys[role]).status_code == 403
    assert not training.began.is_set() and not client.app.state.retrainer.running()
