"""Bad input: each case gives one clear message (file, row or line, field) and exit status 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile

import pandas as pd
import pytest

from rca.cli import main
from rca.contract import load_bundle, load_label, validate_bundle
from rca.errors import ArchiveError, BundleError


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return exit_info.value.code, capsys.readouterr()


def expect_error(capsys, path, *fragments):
    code, out = run_cli(capsys, "analyze", str(path))
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert "Traceback" not in out.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_missing_incident_json(bundle_dir, capsys):
    (bundle_dir / "incident.json").unlink()
    expect_error(capsys, bundle_dir, "incident.json", "missing")


def test_table_missing_required_column(bundle_dir, capsys):
    frame = pd.read_csv(bundle_dir / "kpis.csv").drop(columns="value")
    frame.to_csv(bundle_dir / "kpis.csv", index=False)
    expect_error(capsys, bundle_dir, "kpis.csv", "field 'value'", "required column missing")


def test_timestamp_that_does_not_parse(bundle_dir, capsys):
    frame = pd.read_csv(bundle_dir / "kpis.csv")
    frame["timestamp"] = frame["timestamp"].astype(str)
    frame.loc[4, "timestamp"] = "yesterday at noon"
    frame.to_csv(bundle_dir / "kpis.csv", index=False)
    expect_error(capsys, bundle_dir, "kpis.csv", "row 5", "field 'timestamp'", "yesterday at noon")


def test_histogram_counts_that_do_not_fit_edges(bundle_dir, capsys):
    lines = (bundle_dir / "histograms.jsonl").read_text().splitlines()
    bad = json.loads(lines[2])
    bad["counts"] = [1, 2]
    lines[2] = json.dumps(bad)
    (bundle_dir / "histograms.jsonl").write_text("\n".join(lines))
    expect_error(capsys, bundle_dir, "histograms.jsonl", "line 3", "counts", "edges")


def test_truncated_archive(bundle_dir, tmp_path, capsys):
    archive = tmp_path / "b.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in bundle_dir.iterdir():
            tar.add(f, arcname=f.name)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    expect_error(capsys, archive, "b.tar.gz", "truncated or corrupt")


@pytest.mark.parametrize("content", [b"", b"hello", b"PK\x05\x06" + bytes(18)])  # empty, text, an empty zip
def test_a_tar_name_on_a_file_that_is_no_tar_is_one_line(tmp_path, capsys, content):
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(content)
    expect_error(capsys, archive, "b.tar.gz", "not a tar archive")


def test_file_that_is_not_utf8(bundle_dir, capsys):
    (bundle_dir / "events.jsonl").write_bytes(b'{"timestamp": 0, "kind": "x", "target": "model:\xff"}\n')
    expect_error(capsys, bundle_dir, "events.jsonl", "line 1", "not UTF-8")


def test_a_csv_row_longer_than_its_header_is_named(bundle_dir, capsys):
    lines = (bundle_dir / "kpis.csv").read_text().splitlines()
    every = [lines[0]] + [line + ",extra" for line in lines[1:]]   # pandas took the extra fields for an index
    (bundle_dir / "kpis.csv").write_text("\n".join(every) + "\n")
    width = lines[0].count(",") + 1
    expect_error(capsys, bundle_dir, "kpis.csv, row 1:", f"{width + 1} fields where the header has {width}")
    one = lines[:4] + [lines[4] + ",extra"] + lines[5:]                # pandas said "line 5" (the file's line)
    (bundle_dir / "kpis.csv").write_text("\n".join(one) + "\n")
    expect_error(capsys, bundle_dir, "kpis.csv, row 4:", f"{width + 1} fields where the header has {width}")


def test_a_csv_quote_left_open_over_a_long_file_is_one_line(bundle_dir, capsys):
    lines = (bundle_dir / "kpis.csv").read_text().splitlines()
    lines[4] = '"' + lines[4]                           # opens a field that runs to the end of the file, past
    lines += [lines[1]] * 3000                          # the 131072 characters Python's csv module reads in one
    (bundle_dir / "kpis.csv").write_text("\n".join(lines) + "\n")
    expect_error(capsys, bundle_dir, "kpis.csv, row 4:", "a quoted field opened in this row is never closed")
    header = lines[0].split(",")
    long_name = '"' + "x" * 140_000 + '"'               # the header itself: a column name that long
    (bundle_dir / "kpis.csv").write_text("\n".join([",".join([*header, long_name])]
                                                    + [line + ",1" for line in lines[1:4]]) + "\n")
    expect_error(capsys, bundle_dir, "kpis.csv", "header")


def test_a_csv_quote_left_open_names_its_row_as_other_errors_do(bundle_dir, capsys):
    """pandas said 'EOF inside string starting at row 6' here: it counts the header and blank lines."""
    lines = (bundle_dir / "kpis.csv").read_text().splitlines()
    lines[4] = lines[4].replace(",", ',"', 1)  # data row 4 opens a quoted field
    (bundle_dir / "kpis.csv").write_text("\n".join(lines[:2] + ["", ""] + lines[2:]) + "\n")
    expect_error(capsys, bundle_dir, "kpis.csv, row 4:", "a quoted field opened in this row is never closed")


def test_a_csv_header_naming_a_column_twice_is_refused(bundle_dir, capsys):
    lines = (bundle_dir / "kpis.csv").read_text().splitlines()
    last = lines[0].split(",")[-1]
    (bundle_dir / "kpis.csv").write_text("\n".join([f"{lines[0]},{last}"] + [f"{line},1" for line in lines[1:]]))
    expect_error(capsys, bundle_dir, "kpis.csv", f"field '{last}'", f"column '{last}' appears more than once")


def test_a_parquet_file_naming_a_column_twice_is_refused_in_one_line(bundle_dir, capsys):
    import pyarrow.parquet as pq

    table = pq.read_table(bundle_dir / "metrics.parquet")
    pq.write_table(table.append_column("service", table.column("service")), bundle_dir / "metrics.parquet")
    expect_error(capsys, bundle_dir, "metrics.parquet", "field 'service'", "column 'service' appears more than once")


def test_a_parquet_error_is_one_line_without_the_reader_s_path(bundle_dir, capsys):
    (bundle_dir / "metrics.parquet").write_bytes(b"PAR1 not a parquet file")
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code == 2 and out.err.startswith("error: metrics.parquet: not a readable Parquet file"), out.err
    assert out.err.count("\n") == 1 and str(bundle_dir) not in out.err, out.err


def test_csv_not_utf8_names_the_data_row_like_every_other_table_message(bundle_dir, capsys):
    frame = pd.read_csv(bundle_dir / "kpis.csv")
    frame["name"] = frame["name"].astype(object)
    frame.loc[4, "name"] = "Zürich"                       # the 5th data row (the header is not counted)
    frame.to_csv(bundle_dir / "kpis.csv", index=False, encoding="latin-1")
    expect_error(capsys, bundle_dir, "kpis.csv, row 5:", "not UTF-8")
    header = (bundle_dir / "kpis.csv").read_bytes().replace(b"name", b"n\xe4me", 1)
    (bundle_dir / "kpis.csv").write_bytes(header)
    expect_error(capsys, bundle_dir, "kpis.csv: not UTF-8", "in the header")


def test_json_not_utf8_gives_the_line(bundle_dir, capsys):
    text = (bundle_dir / "incident.json").read_text()
    (bundle_dir / "incident.json").write_bytes(text.replace('"model"', '"m\xf6del"', 1).encode("latin-1"))
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code == 2 and "incident.json: not UTF-8" in out.err and "at line " in out.err and "row" not in out.err


@pytest.mark.parametrize("field", ["baseline", "current"])
def test_a_window_in_epoch_seconds_is_named(bundle_dir, capsys, field):
    """A baseline window of epoch seconds read as 1970 milliseconds: the bundle was valid, the window empty, and
    only the answer's empty_windows hinted at it."""
    incident = json.loads((bundle_dir / "incident.json").read_text())
    incident[field]["start"] = 1761166800
    (bundle_dir / "incident.json").write_text(json.dumps(incident))
    expect_error(capsys, bundle_dir, "incident.json", f"'{field}.start'", "1761166800 is 1970-01-21T09:12:46.800Z "
                 "read as epoch milliseconds", "it looks like epoch seconds (1761166800000 in milliseconds)")


def test_an_empty_incident_json_is_an_error(bundle_dir, capsys):
    (bundle_dir / "incident.json").write_bytes(b"")
    expect_error(capsys, bundle_dir, "incident.json", "empty file")


def test_an_optional_file_without_data_is_an_absent_family(bundle_dir, capsys):
    """An exporter with nothing to write leaves an empty file (the Collector's file exporter creates traces.jsonl
    before any span, a job writes events.jsonl when nothing changed): each refused the whole bundle ('empty
    file')."""
    import pyarrow.parquet as pq

    from rca.contract import bundle_from_dict

    every = load_bundle(bundle_dir).families()
    (bundle_dir / "events.jsonl").write_bytes(b"")
    (bundle_dir / "traces.jsonl").write_bytes(b"\n \n")
    (bundle_dir / "histograms.jsonl").write_bytes(b"")
    (bundle_dir / "metrics.parquet").write_bytes(b"")
    header = (bundle_dir / "kpis.csv").read_text().splitlines()[0]
    (bundle_dir / "kpis.csv").write_text(header + "\n")   # the header alone
    predictions = pq.read_table(bundle_dir / "predictions.parquet")
    pq.write_table(predictions.slice(0, 0), bundle_dir / "predictions.parquet")   # a Parquet file of no rows
    assert run_cli(capsys, "validate", str(bundle_dir))[0] == 0
    gone = {"events", "traces", "histograms", "metrics", "kpis", "predictions"}
    assert load_bundle(bundle_dir).families() == [f for f in every if f not in gone]
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code == 0 and "not sent: " in out.out and "Traceback" not in out.err
    inline = {"incident": json.loads((bundle_dir / "incident.json").read_text()), "kpis": [], "events": [],
              "traces": []}
    assert bundle_from_dict(inline).families() == []


def test_current_window_ends_before_it_starts(bundle_dir, capsys):
    incident = json.loads((bundle_dir / "incident.json").read_text())
    incident["current"] = {"start": "2026-11-20T14:00:00Z", "end": "2026-11-20T08:00:00Z"}
    (bundle_dir / "incident.json").write_text(json.dumps(incident))
    expect_error(capsys, bundle_dir, "incident.json", "field 'current'", "must be after start")


def test_overlapping_windows_are_refused_and_adjacent_ones_are_not(bundle_dir, capsys):
    incident = json.loads((bundle_dir / "incident.json").read_text())
    current = incident["current"]
    incident["baseline"] = {"start": "2026-11-19T00:00:00Z", "end": current["start"]}          # adjacent: fine
    (bundle_dir / "incident.json").write_text(json.dumps(incident))
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code in (0, None), out.err
    incident["baseline"] = {"start": "2026-11-19T00:00:00Z", "end": current["end"]}   # holds the whole incident
    (bundle_dir / "incident.json").write_text(json.dumps(incident))
    expect_error(capsys, bundle_dir, "incident.json", "the baseline window overlaps the current one from "
                 f"{current['start'].replace('Z', '+00:00')} to {current['end'].replace('Z', '+00:00')}")


def test_validate_reports_every_problem(bundle_dir, capsys):
    (bundle_dir / "kpis.csv").write_text("timestamp,name\n1,a\n")
    (bundle_dir / "events.jsonl").write_text('{"timestamp": "soon", "kind": "x", "target": "model:m@v"}\n')
    (bundle_dir / "label.json").write_text('{"causes": [{"node": "feature:x", "kind": "gremlins"}]}')
    problems = validate_bundle(bundle_dir)
    files = sorted(p.file for p in problems)
    assert files == ["events.jsonl", "kpis.csv", "label.json"]
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 2 and "3 problem(s)" in out.err


def test_validate_reports_what_the_review_service_would_refuse(bundle_dir, capsys):
    """Ids the service refuses (422 when posted) passed `rca validate`; `rca analyze` still takes them."""
    incident = json.loads((bundle_dir / "incident.json").read_text())
    (bundle_dir / "kpis.csv").write_text("timestamp,name\n1,a\n")  # and the contract's problems are still all told
    for refused in ("a/b?c#d", "x" * 201, "ïnc ☃"):
        (bundle_dir / "incident.json").write_text(json.dumps({**incident, "id": refused}))
        code, out = run_cli(capsys, "validate", str(bundle_dir))
        assert code == 2 and "2 problem(s)" in out.err, out.err
        assert f"error: incident.json, field 'id': '{refused[:60]}' is not a usable incident id" in out.err
    for taken in ("", None):  # the service gives these an id of its own
        (bundle_dir / "incident.json").write_text(json.dumps({**incident, "id": taken}))
        code, out = run_cli(capsys, "validate", str(bundle_dir))
        assert code == 2 and "1 problem(s)" in out.err and "kpis.csv" in out.err, out.err


def test_validate_accepts_a_good_bundle(bundle_dir, capsys):
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 0 and "valid" in out.out


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.addfile(member, io.BytesIO(data) if data else None)
    return buf.getvalue()


@pytest.mark.parametrize("name, kind", [("../evil.txt", tarfile.REGTYPE), ("/etc/evil", tarfile.REGTYPE),
                                        ("link", tarfile.SYMTYPE)])
def test_unsafe_tar_members_are_refused(tmp_path, name, kind):
    member = tarfile.TarInfo(name)
    member.type = kind
    member.size = 1 if kind == tarfile.REGTYPE else 0
    if kind == tarfile.SYMTYPE:
        member.linkname = "/etc/passwd"
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(_tar_with(member, b"x" if kind == tarfile.REGTYPE else b""))
    with pytest.raises(ArchiveError):
        load_bundle(archive)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_zip_slip_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(ArchiveError, match="outside"):
        load_bundle(archive)


def test_archive_size_bound(bundle_dir, tmp_path):
    from rca.contract.archive import extract_archive
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("incident.json", "0" * 100_000)
    with pytest.raises(ArchiveError, match="exceeds"):
        extract_archive(archive, tmp_path / "out", max_bytes=10_000)
    with pytest.raises(ArchiveError, match="more than"):
        extract_archive(archive, tmp_path / "out2", max_files=0)


def test_not_a_bundle_path(tmp_path):
    with pytest.raises(BundleError, match="no such bundle"):
        load_bundle(tmp_path / "nope")


def test_cli_is_installed_and_exits_2():
    proc = subprocess.run([sys.executable, "-m", "rca", "analyze", "/nonexistent"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("edit, fragments", [
    ({"counts": [1]}, ["line 5", "'counts' has 1 values for 2 categories"]),
    ({"type": "weird"}, ["line 5", "field 'type'", "'numeric' or 'categorical'"]),
    ({"type": None}, ["line 5", "field 'type'"]),
    ({"categories": 5}, ["line 5", "field 'categories'", "valid list"]),
])
def test_categorical_histogram_errors_name_the_categorical_problem(bundle_dir, capsys, edit, fragments):
    lines = (bundle_dir / "histograms.jsonl").read_text().splitlines()
    bad = {k: v for k, v in {**json.loads(lines[4]), **edit}.items() if v is not None}
    lines[4] = json.dumps(bad)
    (bundle_dir / "histograms.jsonl").write_text("\n".join(lines))
    expect_error(capsys, bundle_dir, "histograms.jsonl", *fragments)


def test_the_answer_names_the_services_whose_metrics_had_no_baseline(bundle_dir, capsys):
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code in (0, None), out.err
    assert "not compared" not in out.out                                       # every series had its baseline
    code, out = run_cli(capsys, "analyze", str(bundle_dir), "--format", "json")
    assert json.loads(out.out)["not_compared"] == []
    metrics = pd.read_parquet(bundle_dir / "metrics.parquet")
    current = metrics[metrics.timestamp >= pd.Timestamp("2026-11-20T08:00:00Z")]
    new = [current.assign(service=f"new-{i}", name=name) for i in range(6) for name in ("cpu_usage", "latency_p95")]
    pd.concat([metrics, *new], ignore_index=True).to_parquet(bundle_dir / "metrics.parquet")
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code in (0, None), out.err
    (line,) = [line for line in out.out.splitlines() if line.startswith("not compared")]
    assert line == ("not compared  12 metric series of 6 services (too few baseline points): "
                    "new-0, new-1, new-2, new-3 and 2 more")
    code, out = run_cli(capsys, "analyze", str(bundle_dir), "--format", "json")
    assert code in (0, None), out.err
    assert json.loads(out.out)["not_compared"] == [{"node": f"service:new-{i}", "series": ["cpu_usage", "latency_p95"]}
                                                   for i in range(6)]


def test_the_table_says_which_signal_families_the_bundle_lacked(bundle_dir, capsys):
    (bundle_dir / "events.jsonl").unlink()
    next(bundle_dir.glob("metrics.*")).unlink()
    code, out = run_cli(capsys, "analyze", str(bundle_dir))
    assert code in (0, None), out.err
    signals = next(line for line in out.out.splitlines() if line.startswith("signals"))
    assert signals.split("(not sent: ")[1].rstrip(")").split(", ") == ["feature_samples", "metrics", "events"]
    assert "predictions" in signals.split("(")[0] and "metrics" not in signals.split("(")[0]
    code, out = run_cli(capsys, "analyze", str(bundle_dir), "--format", "json")
    assert not out.out.startswith("signals") and "not sent" not in out.out   # the contract's answer, unchanged
    assert json.loads(out.out)["incident"] == "inc-test"


@pytest.mark.parametrize("name", ["incident.json", "histograms.jsonl", "traces.jsonl", "kpis.csv",
                                  "events.jsonl", "graph.json"])
def test_a_directory_where_a_bundle_file_belongs(bundle_dir, capsys, name):
    (bundle_dir / name).unlink()
    (bundle_dir / name).mkdir()
    expect_error(capsys, bundle_dir, name, "is a directory; expected a file")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 2 and "Traceback" not in out.err and f"{name}: is a directory; expected a file" in out.err


def test_a_directory_named_label_json(bundle_dir, capsys):
    (bundle_dir / "label.json").unlink()
    (bundle_dir / "label.json").mkdir()
    (bundle_dir / "kpis.csv").write_text("timestamp,name\n1,a\n")        # its problem is still reported too
    problems = {p.file: p.message for p in validate_bundle(bundle_dir)}
    assert problems["label.json"] == "is a directory; expected a file" and "kpis.csv" in problems
    with pytest.raises(BundleError, match="label.json: is a directory; expected a file"):
        load_label(bundle_dir)


@pytest.mark.parametrize("cause, fragment", [
    ({"node": "service:db", "kind": "data_drift"}, "expected a node 'feature:<name>'"),
    ({"node": "amount", "kind": "schema_change"}, "expected a node 'feature:<name>'"),
    ({"node": "feature:amount", "kind": "label_issue"}, "expected a node 'labels:<name>'"),
    ({"node": "model:", "kind": "model_regression"}, "expected a name after the colon"),
])
def test_label_cause_node_must_fit_its_kind(bundle_dir, capsys, cause, fragment):
    good = {"node": "feature:amount", "kind": "data_drift"}
    (bundle_dir / "label.json").write_text(json.dumps({"causes": [good, cause]}))
    with pytest.raises(BundleError) as err:
        load_label(bundle_dir)
    assert (err.value.file, err.value.field) == ("label.json", "causes.1.node") and fragment in err.value.message
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 2 and "label.json, field 'causes.1.node'" in out.err and "Traceback" not in out.err


def test_label_causes_of_every_node_kind_are_accepted(bundle_dir):
    causes = [{"node": "feature:amount", "kind": "stale_feature"}, {"node": "service:api", "kind": "dependency_errors"},
              {"node": "model:fraud-scorer@v1", "kind": "concept_drift"},
              {"node": "segment:country=US", "kind": "segment_shift"},
              {"node": "labels:fraud-scorer", "kind": "label_issue"}]
    (bundle_dir / "label.json").write_text(json.dumps({"causes": causes}))
    assert [c.node for c in load_label(bundle_dir).causes] == [c["node"] for c in causes]
    assert validate_bundle(bundle_dir) == []


@pytest.mark.parametrize("model, found", [("", "empty"), ("  ", "blank ('  ')")])
def test_an_incident_without_a_model_name(bundle_dir, capsys, model, found):
    incident = json.loads((bundle_dir / "incident.json").read_text())
    (bundle_dir / "incident.json").write_text(json.dumps({**incident, "model": model}))
    expect_error(capsys, bundle_dir, "incident.json", "field 'model'", f"{found}; expected the name of the model")
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 2 and "incident.json, field 'model'" in out.err


def _edit_json(path, edit):
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _event_target(target):
    def edit(bundle):
        lines = (bundle / "events.jsonl").read_text().splitlines()
        (bundle / "events.jsonl").write_text(json.dumps({**json.loads(lines[0]), "target": target}) + "\n")
    return edit


def _symptom(node):
    return lambda bundle: _edit_json(bundle / "incident.json",
                                     lambda inc: {**inc, "symptom": {"node": node, "direction": "down"}})


def _graph_node(node):
    return lambda bundle: _edit_json(bundle / "graph.json",
                                     lambda g: {**g, "nodes": [*g["nodes"], {"id": node, "kind": "service"}]})


def test_an_edge_to_an_undeclared_node_makes_it_a_node_as_networkx_does(bundle_dir, capsys):
    """networkx's node_link_graph takes such an edge; it was refused ('is not a declared node'). An end that is no
    node id is still an error, located as pydantic locates nodes ('edges.1.target', as 'nodes.2.id')."""
    _edit_json(bundle_dir / "graph.json", lambda g: {**g, "edges": [
        g["edges"][0], {**g["edges"][0], "target": "service:nowhere"}, *g["edges"][1:]]})
    graph = load_bundle(bundle_dir).graph
    assert graph.nodes["service:nowhere"] == {"kind": "service"}
    assert graph.in_degree("service:nowhere") == 1
    _edit_json(bundle_dir / "graph.json", lambda g: {**g, "edges": [
        g["edges"][0], {**g["edges"][0], "target": "nowhere"}, *g["edges"][2:]]})
    expect_error(capsys, bundle_dir, "graph.json, field 'edges.1.target'",
                 "edge 1 target: 'nowhere' is not a node id; expected kind:name such as service:db (or a node "
                 "declared in 'nodes')")


@pytest.mark.parametrize("edit, where, found", [
    (_event_target("payments-db"), ("events.jsonl", "line 1", "field 'target'"),
     "'payments-db' is not a node id; expected kind:name such as model:fraud-scorer@v43"),
    (_event_target("service: "), ("events.jsonl", "line 1", "field 'target'"),
     "'service: ' has no name; expected a name after the colon (service:<name>)"),
    (_symptom("approval_rate"), ("incident.json", "field 'symptom.node'"),
     "'approval_rate' is not a node id; expected kind:name such as kpi:approval_rate"),
    (_symptom(":approval_rate"), ("incident.json", "field 'symptom.node'"), "is not a node id"),
    (_symptom("kpi:"), ("incident.json", "field 'symptom.node'"), "has no name"),
    (_graph_node("checkout"), ("graph.json", "field 'nodes.2.id'"),
     "'checkout' is not a node id; expected kind:name such as feature:amount"),
])
def test_node_ids_in_events_symptom_and_graph_are_kind_colon_name(bundle_dir, capsys, edit, where, found):
    # A bare name would become a node joined to nothing: the event, symptom or lineage silently ignored.
    edit(bundle_dir)
    expect_error(capsys, bundle_dir, *where, found)


def _kpis_in_seconds(bundle):
    frame = pd.read_csv(bundle / "kpis.csv")
    frame.assign(timestamp=frame["timestamp"] // 1000).to_csv(bundle / "kpis.csv", index=False)


def _metrics_a_year_early(bundle):
    frame = pd.read_parquet(bundle / "metrics.parquet")
    frame.assign(timestamp=frame["timestamp"] - pd.Timedelta(days=365)).to_parquet(bundle / "metrics.parquet")


def _histograms_a_week_late(bundle):
    lines = [json.loads(x) for x in (bundle / "histograms.jsonl").read_text().splitlines()]
    for h in lines:
        if h["role"] == "serving":
            h["start"], h["end"] = (str(pd.Timestamp(h[k]) + pd.Timedelta(days=7)) for k in ("start", "end"))
    (bundle / "histograms.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")


@pytest.mark.parametrize("edit, where, found", [
    (_kpis_in_seconds, ("kpis.csv", "field 'timestamp'"),
     "no row falls in the incident's windows (2026-11-19T00:00:00Z to 2026-11-20T14:00:00Z): its timestamps run "
     "from 1970-01-21T"),
    (_metrics_a_year_early, ("metrics.parquet", "field 'timestamp'"), "its timestamps run from 2025-11-19T00:00:00Z"),
    (_histograms_a_week_late, ("histograms.jsonl", "field 'start'"), "no serving histogram falls in the incident's"),
])
def test_a_family_with_nothing_in_the_windows_is_refused(bundle_dir, capsys, edit, where, found):
    # Read as it was, the family would count as present and contribute nothing: an answer without a word.
    edit(bundle_dir)
    expect_error(capsys, bundle_dir, *where, found)
    seconds_hint = "integer timestamps are epoch milliseconds, and these look like seconds"
    problems = validate_bundle(bundle_dir)
    assert len(problems) == 1 and (seconds_hint in problems[0].message) == (edit is _kpis_in_seconds)


@pytest.mark.parametrize("file, indent, found", [
    ("events.jsonl", 2, "the file looks like one JSON array: expected one JSON object per line (JSON Lines)"),
    ("traces.jsonl", 2, "the file looks like one JSON array"),
    ("histograms.jsonl", None, "the file looks like JSON over several lines"),
])
def test_pretty_printed_json_in_a_jsonl_file_is_named(bundle_dir, capsys, file, indent, found):
    """It was 'line 1: not valid JSON (Expecting value at column 2)' and no more."""
    objects = [json.loads(line) for line in (bundle_dir / file).read_text().splitlines()]
    text = json.dumps(objects, indent=indent) if indent else json.dumps(objects[0], indent=2)
    (bundle_dir / file).write_text(text + "\n")
    expect_error(capsys, bundle_dir, f"{file}, line 1: not valid JSON", found)


def test_a_csv_with_another_separator_is_named(bundle_dir, capsys):
    frame = pd.read_csv(bundle_dir / "kpis.csv")
    frame.to_csv(bundle_dir / "kpis.csv", index=False, sep=";")
    expect_error(capsys, bundle_dir, "kpis.csv", "the header is one column: fields separated by ';'? expected commas")


def test_times_in_a_finer_unit_are_named_as_such(bundle_dir, capsys):
    """Span times in milliseconds were told 'integer timestamps are epoch milliseconds, and these look like seconds'
    under a 'timestamp' field spans do not have; a table's epoch nanoseconds had no hint."""
    lines = []
    for line in (bundle_dir / "traces.jsonl").read_text().splitlines():
        request = json.loads(line)
        for rs in request["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for field in ("startTimeUnixNano", "endTimeUnixNano"):
                        span[field] = str(int(span[field]) // 10**6)
        lines.append(json.dumps(request))
    (bundle_dir / "traces.jsonl").write_text("\n".join(lines) + "\n")
    expect_error(capsys, bundle_dir, "traces.jsonl, field 'startTimeUnixNano'",
                 "span times are epoch nanoseconds, and these look like milliseconds or microseconds")
    frame = pd.read_csv(bundle_dir / "kpis.csv")
    frame.assign(timestamp=frame["timestamp"] * 10**6).to_csv(bundle_dir / "kpis.csv", index=False)
    problem = next(p for p in validate_bundle(bundle_dir) if p.file == "kpis.csv")
    assert problem.message.endswith("; this looks like epoch nanoseconds") and problem.row == 1


@pytest.mark.parametrize("change, found", [
    ({"edges": [0, float("nan"), 50, 100]}, "line 3: 'edges' must be finite numbers"),
    ({"edges": [0, 50, 10, 100]}, "'edges' must be strictly increasing"),
    ({"edges": [0, 10, 10, 100]}, "'edges' must be strictly increasing"),
    ({"counts": [5, -1, 2]}, "field 'counts': counts[1] is -1.0; counts must be finite and >= 0"),
    ({"counts": [5, 3, float("inf")]}, "counts[2] is inf"),
    ({"counts": [float("nan"), 3, 2]}, "counts[0] is nan"),
    ({"overflow": float("inf")}, "field 'overflow': Input should be a finite number"),  # was a ValueError in psi
    ({"underflow": float("inf")}, "field 'underflow': Input should be a finite number"),
    ({"nulls": float("nan")}, "field 'nulls': Input should be a finite number"),
    ({"total": float("inf")}, "field 'total': Input should be a finite number"),
    ({"counts": [1e308, 1e308, 2]}, "field 'counts': feature 'amount' has counts that add up past the largest"),
])
def test_a_histogram_line_with_bad_edges_or_counts(bundle_dir, capsys, change, found):
    lines = (bundle_dir / "histograms.jsonl").read_text().splitlines()
    lines[2] = json.dumps({**json.loads(lines[2]), **change})   # JSON NaN/Infinity, as Python's json writes them
    (bundle_dir / "histograms.jsonl").write_text("\n".join(lines) + "\n")
    expect_error(capsys, bundle_dir, "histograms.jsonl", "line 3", found)


def test_counts_of_a_feature_that_add_up_past_the_largest_float(bundle_dir, capsys):
    lines = [json.loads(x) for x in (bundle_dir / "histograms.jsonl").read_text().splitlines()]
    for h in lines[1:3]:
        h["counts"] = [1e308, 3, 2]   # each line's sum is finite; the feature's is not (a ValueError in psi)
    (bundle_dir / "histograms.jsonl").write_text("\n".join(json.dumps(h) for h in lines) + "\n")
    expect_error(capsys, bundle_dir, "histograms.jsonl", "line 3", "field 'counts'", "add up past the largest float")


def test_huge_but_finite_edges_are_accepted(bundle_dir):
    lines = [json.loads(x) for x in (bundle_dir / "histograms.jsonl").read_text().splitlines()]
    for h in lines:
        if h.get("type") == "numeric":
            h["edges"] = [0, 1e308, 1.5e308, 1.7e308]   # their sum overflows; each is finite
    (bundle_dir / "histograms.jsonl").write_text("\n".join(json.dumps(h) for h in lines) + "\n")
    assert [e for e in load_bundle(bundle_dir).histograms["amount"].training.edges] == [0, 1e308, 1.5e308, 1.7e308]


@pytest.mark.parametrize("text, said", [
    ("[1, 2]", "incident.json: [1, 2] is not a JSON object; expected one"),
    ("null", "incident.json: null is not a JSON object; expected one"),
    ('{"model": "m"}', "incident.json, field 'detected_at': required field is missing (+2 more, at baseline, "
                       "current)"),
    ('{"model": "m", "detected_at": "x", "baseline": {"start": 1, "end": 0}, "current": {}}',
     "field 'detected_at': expected an RFC 3339 timestamp or epoch milliseconds, got 'x' (+3 more, at baseline, "
     "current.end, current.start)"),
])
def test_an_incident_json_that_is_no_object_or_misses_fields_says_what_and_where(bundle_dir, capsys, text, said):
    """Pydantic's "Input should be a valid dictionary or instance of Incident" named no JSON type, and "(+2 more)"
    sent the user fixing one field to the next error: the message names the fields of the others."""
    (bundle_dir / "incident.json").write_text(text)
    expect_error(capsys, bundle_dir, said)


def test_jsonl_lines_that_are_no_objects_say_so_as_json_writes_them(bundle_dir, capsys):
    lines = (bundle_dir / "histograms.jsonl").read_text()
    (bundle_dir / "histograms.jsonl").write_text('5\n"x"\n' + lines)
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 2 and "Traceback" not in out.err
    assert "histograms.jsonl, line 1: 5 is not a JSON object; expected one" in out.err
    assert 'histograms.jsonl, line 2: "x" is not a JSON object; expected one' in out.err


def test_validate_reports_every_bad_change_event(bundle_dir, capsys):
    events = (bundle_dir / "events.jsonl").read_text()
    (bundle_dir / "events.jsonl").write_text('null\n{"kind": "model_deploy"}\n' + events)
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 2
    assert out.err.splitlines()[:2] == [
        "error: events.jsonl, line 1: null is not a JSON object; expected one",
        "error: events.jsonl, line 2, field 'timestamp': required field is missing (+1 more, at target)"], out.err
