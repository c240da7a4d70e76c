"""The command line with odd options and settings: one line on stderr naming what was wrong, exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rca.config import get_settings
from tests.test_contract_errors import run_cli


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Set RCA_* variables for one test; the cached settings are read afresh before and after."""
    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()

    def setenv(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield setenv
    get_settings.cache_clear()


def one_error_line(out) -> str:
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.err, out.err
    return lines[0]


@pytest.mark.parametrize(("name", "value", "found"), [
    ("RCA_PORT", "abc", "a valid integer"),
    ("RCA_PROCESSES", "0", "greater than or equal to 1"),
    ("RCA_WORKERS", "many", "a valid integer"),
])
def test_a_setting_with_a_bad_value_is_named(env, capsys, name, value, found):
    env(name, value)
    code, out = run_cli(capsys, "rankers", "list")
    line = one_error_line(out)
    assert code == 2 and line.startswith(f"error: {name}: got '{value}'") and found in line


@pytest.mark.parametrize("name", ["RCA_DATA_DIR", "RCA_RANKERS_DIR", "RCA_CORPUS_DIR"])
def test_a_directory_setting_that_names_a_file_is_refused(env, capsys, tmp_path, name):
    (tmp_path / "a-file").write_text("x")
    env(name, str(tmp_path / "a-file"))
    code, out = run_cli(capsys, "rankers", "list")
    assert code == 2 and f"{name}: got " in one_error_line(out) and "a directory, not a file" in out.err


@pytest.mark.parametrize("command", [["simulate", "--n", "1"], ["corpus", "build", "--n", "1", "--mesh", "0"]])
def test_a_negative_seed_is_a_usage_error(capsys, tmp_path, command):
    code, out = run_cli(capsys, *command, "--out", str(tmp_path / "out"), "--seed", "-1")
    assert code == 2 and "Traceback" not in out.err and "'--seed'" in out.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["simulate", "--n", "1"], ["corpus", "build", "--n", "1", "--mesh", "0"]])
@pytest.mark.parametrize("under", [False, True])
def test_an_out_dir_that_is_a_file_is_named(capsys, tmp_path, command, under):
    (tmp_path / "a-file").write_text("x")
    out_dir = tmp_path / "a-file" / "sub" if under else tmp_path / "a-file"
    code, out = run_cli(capsys, *command, "--out", str(out_dir))
    line = one_error_line(out)
    assert code == 2 and line.startswith(f"error: --out: got '{out_dir}', expected a directory"), line


def test_simulating_into_incidents_already_there_names_the_option_before_writing_any(capsys, tmp_path):
    """It was 'out_dir: got .../sim-0-0000, expected a new or empty directory', raised halfway through the run."""
    out_dir = tmp_path / "sims"
    (out_dir / "sim-0-0001").mkdir(parents=True)
    (out_dir / "sim-0-0001" / "incident.json").write_text("{}")
    code, out = run_cli(capsys, "simulate", "--n", "2", "--out", str(out_dir))
    assert code == 2 and one_error_line(out) == (
        f"error: --out: got '{out_dir}', expected a directory without these incidents already (sim-0-0001 is "
        "there; choose another --out or --seed)")
    assert sorted(p.name for p in out_dir.iterdir()) == ["sim-0-0001"]  # sim-0-0000 was not written first


def test_a_data_directory_that_cannot_be_made_is_one_line_before_the_service_starts(env, capsys, tmp_path,
                                                                                    monkeypatch):
    """It was a 58-line traceback at start-up (one process), or workers restarted forever behind a parent that
    looked alive (--processes 2 on PostgreSQL)."""
    (tmp_path / "a-file").write_text("x")
    env("RCA_DATA_DIR", str(tmp_path / "a-file" / "var"))
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("the service started"))
    for processes in ("1", "2"):
        code, out = run_cli(capsys, "serve", "--processes", processes)
        assert code == 2 and one_error_line(out) == (
            f"error: RCA_DATA_DIR: got '{tmp_path / 'a-file' / 'var'}', expected a directory the service can make "
            f"and write in (Not a directory: {tmp_path / 'a-file' / 'var' / 'bundles'})")
    code, out = run_cli(capsys, "keys", "create", "--role", "admin")
    assert code == 2 and one_error_line(out).startswith("error: RCA_DATABASE_URL: got 'sqlite:///") and (
        "expected a SQLite file in a directory that exists or can be made (Not a directory: ") in out.err


def test_db_upgrade_to_an_unknown_revision_is_named(env, capsys):
    code, out = run_cli(capsys, "db", "upgrade", "bogus")
    line = one_error_line(out)
    assert code == 2 and line.startswith("error: revision: got 'bogus', expected a migration revision"), line


def test_a_database_that_does_not_answer_is_named_without_its_password(env, capsys, monkeypatch):
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("the service started"))
    env("RCA_DATABASE_URL", "postgresql+psycopg://rca:s3cret@127.0.0.1:1/rca")   # port 1: nothing listens
    for command in (["db", "upgrade"], ["serve"]):   # serve: it was uvicorn's traceback of the app's start-up
        code, out = run_cli(capsys, *command)
        line = one_error_line(out)
        assert code == 2 and line.startswith("error: RCA_DATABASE_URL: got 'postgresql+psycopg://rca:***@127.0.0.1:1/rca'")
        assert "expected a database that accepts connections" in line and "s3cret" not in out.err


@pytest.mark.parametrize("url", ["mysql://rca:s3cret@localhost/rca", "nosuchdb://rca:s3cret@localhost/rca"])
def test_a_database_whose_driver_is_not_installed_is_named(env, capsys, url):
    env("RCA_DATABASE_URL", url)
    code, out = run_cli(capsys, "db", "upgrade")
    line = one_error_line(out)
    assert code == 2 and line.startswith(f"error: RCA_DATABASE_URL: got '{url.replace('s3cret', '***')}'"), line
    assert "expected a database whose driver is installed" in line and "s3cret" not in out.err


def test_a_postgres_url_without_the_driver_says_how_to_write_it(env, capsys):
    # Heroku's and psql's spelling: SQLAlchemy knows no 'postgres' dialect
    env("RCA_DATABASE_URL", "postgres://rca:s3cret@db.internal/rca")
    code, out = run_cli(capsys, "db", "upgrade")
    assert code == 2 and "(write postgresql+psycopg://rca:***@db.internal/rca)" in one_error_line(out)
    assert "s3cret" not in out.err


@pytest.mark.parametrize(("file", "content"), [("champion.json", "garbage"), ("champion.json", "[1]"),
                                              ("lgbm-x/meta.json", "{"), ("lgbm-x/meta.json", "[]"),
                                              ("lgbm-x/meta.json", '{"training_incidents": 5}'),
                                              ("lgbm-x/meta.json", '{"training_incidents": [1]}')])
def test_a_broken_registry_file_is_named(env, capsys, tmp_path, file, content):
    """A broken champion pointer stops the listing; a version's broken meta.json is listed as damaged beside the
    others (since 2026-12-07: it stopped the listing of every version)."""
    path = tmp_path / "var" / "rankers" / file
    path.parent.mkdir(parents=True)
    path.write_text(content)
    code, out = run_cli(capsys, "rankers", "list")
    if file == "champion.json":
        assert code == 2 and one_error_line(out).startswith(f"error: {path}: got ")
    else:
        assert code == 0 and f"  lgbm-x  damaged: {path}: " in out.out, out.out


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_keys_create_refuses_a_name_the_api_would_refuse(env, capsys, name):
    code, out = run_cli(capsys, "keys", "create", "--role", "reviewer", "--name", name)
    assert code == 2 and one_error_line(out).startswith("error: field 'name': ") and out.out == ""


@pytest.mark.parametrize("check", [False, True])
def test_a_schemas_dir_that_is_a_file_is_named(capsys, tmp_path, check):
    (tmp_path / "a-file").write_text("x")
    code, out = run_cli(capsys, "schemas", "--dir", str(tmp_path / "a-file"), *(["--check"] if check else []))
    line = one_error_line(out)
    assert code == 2 and line.startswith(f"error: --dir: got '{tmp_path / 'a-file'}', expected a directory"), line
    assert (tmp_path / "a-file").read_text() == "x"


def test_schemas_are_written_into_a_new_dir_and_then_current(capsys, tmp_path):
    code, _ = run_cli(capsys, "schemas", "--dir", str(tmp_path / "new" / "schemas"))
    assert code == 0 and (tmp_path / "new" / "schemas" / "answer.schema.json").is_file()
    code, out = run_cli(capsys, "schemas", "--dir", str(tmp_path / "new" / "schemas"), "--check")
    assert code == 0 and "schemas are current" in out.out


def test_version_names_the_package_and_the_commit(capsys):
    import tomllib
    from pathlib import Path

    from rca.ranking.dataset import code_version

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    code, out = run_cli(capsys, "--version")
    assert code == 0 and out.out == f"rca {pyproject['project']['version']} ({code_version()})\n"


def test_a_database_file_that_is_no_database_is_named(env, capsys, tmp_path):
    (tmp_path / "rca.db").write_text("not a database " * 20)
    env("RCA_DATABASE_URL", f"sqlite:///{tmp_path / 'rca.db'}")
    code, out = run_cli(capsys, "incidents", "prune", "--older-than", "90")
    line = one_error_line(out)
    assert code == 2 and line.startswith(f"error: RCA_DATABASE_URL: got 'sqlite:///{tmp_path / 'rca.db'}', expected a "
                                         "database that accepts connections (file is not a database)"), line


def test_the_table_puts_each_explanation_under_its_cause_wrapped_to_the_width():
    """A long node name pushed the explanation column off the line; the explanation also repeated the node and
    kind the row names."""
    from rca.cli import EXPLANATION_INDENT, render_table
    from rca.contract.models import Answer, RankedCause

    node = "service:servi-searc.us-west-2.elb.amazonaws.com_remote"
    said = "metrics robust_z = 50 (0.00883 -> 0.569), latency_avg: its highest of 2 current points; reaches the symptom"
    cause = RankedCause(rank=1, node=node, kind="dependency_latency", confidence=0.5,
                        explanation=f"{node} (dependency_latency): {said}")
    lines = render_table(Answer(incident="i", ranker="r", causes=[cause]), width=60).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(" 1"))
    assert lines[row].split() == ["1", "0.50", "dependency_latency", node]
    under = lines[row + 1:]
    assert len(under) > 1 and all(line.startswith(" " * EXPLANATION_INDENT) and len(line) <= 60 for line in under)
    assert " ".join(line.strip() for line in under) == said


def test_a_generator_that_fails_is_named_and_the_others_still_rank(env, capsys, bundle_dir, monkeypatch, caplog):
    """A generator raising on a bundle of a shape it was not written for (a traces crash, say) made `rca analyze`
    a traceback and the service's incident 'failed', with no answer at all; training still stops on it."""

    from rca.contract import load_bundle
    from rca.generators import generate_candidates
    from rca.generators.traces import TracesGenerator

    def boom(self, bundle):
        raise KeyError(0)

    monkeypatch.setattr(TracesGenerator, "generate", boom)
    code, out = run_cli(capsys, "analyze", str(bundle_dir), "--format", "json")
    answer = json.loads(out.out)
    assert code == 0 and answer["generator_errors"] == [{"generator": "traces", "error": "KeyError: 0"}]
    assert answer["causes"] and "generator traces failed on incident" in caplog.text
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code == 0 and "generator failed  traces (KeyError: 0): ranked without it" in out.out
    with pytest.raises(KeyError):
        generate_candidates(load_bundle(bundle_dir), strict=True)


def test_validate_names_a_file_whose_name_is_close_to_a_bundle_file(capsys, bundle_dir):
    """traces.json, kpis.PARQUET: the data was left out and validate said only 'valid'."""
    (bundle_dir / "traces.jsonl").rename(bundle_dir / "traces.json")
    (bundle_dir / "README.md").write_text("notes")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 0 and out.out.splitlines() == ["note: traces.json was not read (a bundle file is named "
                                                  "traces.jsonl)", f"{bundle_dir}: valid"]
    code, out = run_cli(capsys, "analyze", str(bundle_dir))   # and the answer says so (`unread`)
    assert code == 0 and ("not read  traces.json (a bundle file is named traces.jsonl): ranked without its data"
                          in out.out.splitlines())


def test_validate_notes_a_symptom_that_names_no_node_of_the_bundle(capsys, bundle_dir):
    """A symptom KPI renamed in kpis (or mistyped in incident.json) was accepted silently: the engine ranked toward
    a node without data."""
    incident = json.loads((bundle_dir / "incident.json").read_text())
    incident["symptom"]["node"] = "kpi:aproval_rate"
    (bundle_dir / "incident.json").write_text(json.dumps(incident))
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 0 and out.out.splitlines() == [
        "note: incident.json: symptom kpi:aproval_rate names no node of the bundle's signals or graph (did you mean "
        "kpi:approval_rate?); the causes are ranked toward a node without data", f"{bundle_dir}: valid"]
    incident["symptom"]["node"] = "kpi:approval_rate"   # the fixture's own: no note
    (bundle_dir / "incident.json").write_text(json.dumps(incident))
    assert run_cli(capsys, "validate", str(bundle_dir))[1].out.splitlines() == [f"{bundle_dir}: valid"]


def test_validate_notes_a_predictions_column_that_follows_time(capsys, bundle_dir):
    import pandas as pd

    predictions = pd.read_parquet(bundle_dir / "predictions.parquet")
    predictions["run"] = (predictions["timestamp"].rank(method="first") * 3 // (len(predictions) + 1)).astype(int)
    predictions.to_parquet(bundle_dir / "predictions.parquet")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 0 and out.out.splitlines() == [
        "note: predictions: column 'run' follows time (each value holds a stretch of time of its own: a date "
        "partition, a batch id), so it is not read as a segment dimension", f"{bundle_dir}: valid"]


def test_validate_notes_a_predictions_column_that_is_a_function_of_the_score(capsys, bundle_dir):
    import pandas as pd

    predictions = pd.read_parquet(bundle_dir / "predictions.parquet")
    predictions["predicted_label"] = (predictions["score"] >= 0.5).map({True: "fraud", False: "legit"})
    predictions.to_parquet(bundle_dir / "predictions.parquet")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 0 and out.out.splitlines() == [
        "note: predictions: column 'predicted_label' is a function of the score (each value holds a score range of "
        "its own: a predicted class, a score bucket), so it is not read as a segment dimension", f"{bundle_dir}: valid"]


@pytest.mark.parametrize("name", ["ground_truth", "groundTruth", "actual", "target", "y_true", "true_label",
                                  "label_value"])
def test_validate_notes_labels_in_a_column_not_named_label(capsys, bundle_dir, name):
    """SageMaker's ground truth merge, Arize's `actual`: the labels were read as a segment dimension without a
    word, and their missing values ('<null>') were ranked first."""
    import pandas as pd

    predictions = pd.read_parquet(bundle_dir / "predictions.parquet").rename(columns={"label": name})
    predictions.to_parquet(bundle_dir / "predictions.parquet")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 0 and out.out.splitlines() == [
        f"note: predictions: column {name!r} looks like the labels, but the contract reads them from a column named "
        "'label' only: rename it to label (it is read as a segment dimension; without labels no quality is "
        "measured)", f"{bundle_dir}: valid"]
    predictions["label"] = predictions[name]   # with a label column, the other is the producer's business
    predictions.to_parquet(bundle_dir / "predictions.parquet")
    assert run_cli(capsys, "validate", str(bundle_dir))[1].out.splitlines() == [f"{bundle_dir}: valid"]


@pytest.mark.parametrize(("scale", "shown"), [(lambda s: 100 * s, " to 99."),
                                              (lambda s: np.log(s / (1 - s)), "from -")])
def test_validate_notes_scores_that_are_not_probabilities(capsys, bundle_dir, scale, shown):
    """A 0-100 score (Vertex AI's, a vendor's) or a logit (Seldon's raw output) beside 0/1 labels: log-loss clipped
    them to (0, 1) and read nonsense, without a word. They are not rescaled: the note says what to send."""
    import pandas as pd

    predictions = pd.read_parquet(bundle_dir / "predictions.parquet")
    predictions["score"] = scale(predictions["score"].clip(0.001, 0.999))
    predictions.to_parquet(bundle_dir / "predictions.parquet")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    notes = [line for line in out.out.splitlines() if line.startswith("note: ")]
    assert code == 0 and len(notes) == 1 and notes[0].startswith("note: predictions: scores are not probabilities: ")
    assert shown in notes[0] and "while the labels are 0/1" in notes[0]

def test_validate_notes_nulls_read_from_total(capsys, bundle_dir):
    lines = [json.loads(line) for line in (bundle_dir / "histograms.jsonl").read_text().splitlines()]
    for line in lines[1:3]:   # two serving hours of 'amount' give no nulls, and 5 rows more than they count
        del line["nulls"]
        line["total"] = 15
    (bundle_dir / "histograms.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 0 and out.out.splitlines() == [
        "note: histograms.jsonl: feature 'amount' gives no 'nulls' and a 'total' above its counts in 2 of 4 "
        "histograms: the rows 'total' counts beyond them (33%) are read as its missing values", f"{bundle_dir}: valid"]

def test_validate_notes_a_feature_samples_column_of_times(capsys, bundle_dir):
    import pandas as pd

    from tests.builders import T0
    ts = T0 + pd.to_timedelta(range(0, 38 * 3600, 600), unit="s")
    pd.DataFrame({"timestamp": ts, "amount": range(len(ts)), "created_timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ")}
                 ).to_parquet(bundle_dir / "feature_samples.parquet")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 0 and out.out.splitlines() == [
        "note: feature_samples: column 'created_timestamp' holds times (a feature store's metadata, such as when a "
        "value was written), so it is not read as a feature", f"{bundle_dir}: valid"]

def test_validate_counts_a_problem_repeated_on_many_lines_after_the_first_three(capsys, bundle_dir):
    """A producer's systematic mistake printed one near-identical line per bad line (200 for 200 lines)."""
    good = (bundle_dir / "traces.jsonl").read_text()
    (bundle_dir / "traces.jsonl").write_text('{"resourceSpans": 3}\n' * 10 + good)
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    lines = [line for line in out.err.splitlines() if "traces.jsonl" in line]
    assert code == 2 and [line.split(",")[1] for line in lines[:3]] == [" line 1", " line 2", " line 3"]
    assert lines[3:] == ["error: traces.jsonl: 7 more lines with the same problem (field 'resourceSpans')"]
    assert out.err.splitlines()[-1].endswith(": 10 problem(s)")


def test_evaluate_refuses_a_report_it_could_not_write_before_evaluating(env, capsys, tmp_path, monkeypatch):
    """A --report under a file failed with a FileExistsError traceback after the whole evaluation."""
    import rca.ranking.report

    (tmp_path / "afile").write_text("")
    monkeypatch.setattr(rca.ranking.report, "run_evaluation", lambda *a, **k: pytest.fail("evaluated first"))
    code, out = run_cli(capsys, "evaluate", "--report", str(tmp_path / "afile" / "r.md"))
    assert code == 2 and one_error_line(out).startswith(f"error: --report: got '{tmp_path / 'afile'}'")
    code, out = run_cli(capsys, "evaluate", "--report", str(tmp_path))
    assert code == 2 and "is a directory; expected the Markdown file to write" in out.err
