"""Bad values inside otherwise well-formed bundle files: each is refused with the file, the row or line and
the field, never a traceback (found by a bad-input sweep)."""

from __future__ import annotations

import pandas as pd
import pytest

from rca.contract.timestamps import parse_timestamp_column
from tests.test_contract_errors import expect_error, run_cli


@pytest.mark.parametrize("value", ["9999-12-31T00:00:00Z", "1500-01-01T00:00:00Z", "253402300799999",
                                   "99999999999999999999999", "-62135596800000"])
def test_csv_timestamps_outside_what_a_column_holds(bundle_dir, capsys, value):
    kpis = pd.read_csv(bundle_dir / "kpis.csv")
    kpis["timestamp"] = kpis["timestamp"].astype(str)
    kpis.loc[2, "timestamp"] = value
    kpis.to_csv(bundle_dir / "kpis.csv", index=False)
    expect_error(capsys, bundle_dir, "kpis.csv", "row 3", "timestamp", "1677-09-21 to 2262-04-11")


@pytest.mark.parametrize("values", [
    pd.Series([1795183500000, 253402300799999]),                                     # epoch ms, year 9999
    pd.Series(pd.to_datetime(["2026-11-20", "9999-12-31"]).astype("datetime64[s]")),  # a parquet timestamp[s]
    pd.Series(["2026-11-20T14:05:00Z", "0001-01-01T00:00:00Z"]),
])
def test_timestamp_column_refuses_values_out_of_range(values):
    _, bad = parse_timestamp_column(values)
    assert bad == 1


def _set_json(path, keys, value) -> None:
    """Set ``keys`` (a path into the object) in a JSON file, or in the first line of a JSONL file."""
    import json

    lines = path.read_text().splitlines()
    doc = json.loads(lines[0] if path.suffix == ".jsonl" else "\n".join(lines))
    parent = doc
    for key in keys[:-1]:
        parent = parent[key]
    parent[keys[-1]] = value
    path.write_text("\n".join([json.dumps(doc), *(lines[1:] if path.suffix == ".jsonl" else [])]) + "\n")


@pytest.mark.parametrize("keys, value", [(("baseline", "start"), "1600-01-01T00:00:00Z"),
                                         (("current", "end"), "2300-01-01T00:00:00Z")])
def test_a_window_outside_what_the_tables_hold(bundle_dir, capsys, keys, value):
    """The windows are compared with the tables' times, which hold 1677 to 2262: a bound outside was an
    OutOfBoundsDatetime traceback in the analysis."""
    _set_json(bundle_dir / "incident.json", keys, value)
    expect_error(capsys, bundle_dir, "incident.json", f"field '{'.'.join(keys)}'",
                 "expected a time from 1677-09-21 to 2262-04-11")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", 253402300799999])   # an RFC 3339 time, epoch ms
def test_a_change_event_outside_what_the_tables_hold(tmp_path, capsys, value):
    """An event is timed from the onset the tables show (an OutOfBoundsDatetime traceback in the events
    generator, with this example's onset)."""
    import shutil
    from pathlib import Path

    bundle = shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "unit-change", tmp_path / "b")
    _set_json(bundle / "events.jsonl", ("timestamp",), value)
    expect_error(capsys, bundle, "events.jsonl, line 1, field 'timestamp'",
                 "expected a time from 1677-09-21 to 2262-04-11")


def test_a_null_timestamp_in_a_parquet_datetime_column(bundle_dir, capsys):
    predictions = pd.read_parquet(bundle_dir / "predictions.parquet")
    predictions.loc[4, "timestamp"] = pd.NaT
    predictions.to_parquet(bundle_dir / "predictions.parquet")
    expect_error(capsys, bundle_dir, "predictions.parquet", "row 5", "timestamp")


def _traces_with(bundle_dir, change) -> None:
    import json

    lines = [json.loads(line) for line in (bundle_dir / "traces.jsonl").read_text().splitlines() if line]
    change(lines[1]["resourceSpans"][0])
    (bundle_dir / "traces.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def _span(resource_spans) -> dict:
    return resource_spans["scopeSpans"][0]["spans"][0]


@pytest.mark.parametrize("change, fragments", [
    (lambda rs: rs.update(resource="api"), ["resourceSpans[0].resource", "expected an object"]),
    (lambda rs: rs.update(scopeSpans="spans"), ["resourceSpans[0].scopeSpans", "expected an array"]),
    (lambda rs: rs.update(scopeSpans=[1]), ["resourceSpans[0].scopeSpans[0]", "expected an object"]),
    (lambda rs: rs["scopeSpans"][0].update(spans={"a": 1}), ["scopeSpans[0].spans", "expected an array"]),
    (lambda rs: rs["scopeSpans"][0].update(spans=["x"]), ["scopeSpans[0].spans[0]", "expected an object"]),
    (lambda rs: _span(rs).update(status="error"), ["field 'status'", "expected an object"]),
    (lambda rs: _span(rs).update(startTimeUnixNano=str(10**25), endTimeUnixNano=str(10**25 + 1)),
     ["startTimeUnixNano", "integer nanoseconds"]),
    (lambda rs: _span(rs).update(startTimeUnixNano="-5"), ["startTimeUnixNano", "integer nanoseconds"]),
    (lambda rs: _span(rs).update(endTimeUnixNano="soon"), ["endTimeUnixNano", "integer nanoseconds"]),
])
def test_traces_of_the_wrong_shape(bundle_dir, capsys, change, fragments):
    _traces_with(bundle_dir, change)
    expect_error(capsys, bundle_dir, "traces.jsonl", "line 2", *fragments)


def test_an_unusual_span_kind_or_attribute_is_not_an_error(bundle_dir):
    from rca.contract import load_bundle

    def change(rs):
        _span(rs)["kind"] = "²"
        rs["resource"]["attributes"].append({"key": "pid", "value": {"intValue": "not a number"}})
    _traces_with(bundle_dir, change)
    spans = load_bundle(bundle_dir).spans
    assert spans["kind"].tolist() == [0, 0]


@pytest.mark.parametrize("file, column, value", [
    ("predictions.parquet", "model_version", None),
    ("predictions.parquet", "model_version", " "),
    ("metrics.parquet", "service", None),
    ("metrics.parquet", "name", ""),
    ("kpis.csv", "name", None),
])
def test_a_key_column_with_an_empty_cell(bundle_dir, capsys, file, column, value):
    path = bundle_dir / file
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    table[column] = table[column].astype(object)
    table.loc[6, column] = value
    table.to_parquet(path) if path.suffix == ".parquet" else table.to_csv(path, index=False)
    expect_error(capsys, bundle_dir, file, "row 7", column, "expected a value in every row")


@pytest.mark.parametrize("file, column", [("metrics.parquet", "name"), ("metrics.parquet", "service"),
                                          ("predictions.parquet", "model_version")])
def test_a_key_column_of_arrays(bundle_dir, capsys, file, column):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = bundle_dir / file
    table = pq.read_table(path)
    cells = [[1.0, 2.0]] * table.num_rows                      # a Parquet list column: pandas reads arrays
    table = table.set_column(table.schema.get_field_index(column), column, pa.array(cells))
    pq.write_table(table.replace_schema_metadata(None), path)
    expect_error(capsys, bundle_dir, file, "row 1", f"field '{column}'", "is an array; expected a text value")


@pytest.mark.parametrize("cell, shape", [(["approval_rate"], "an array"), ({"kpi": "approval_rate"}, "an object")])
def test_a_key_column_of_arrays_or_objects_inline(cell, shape):
    from rca.contract import bundle_from_dict
    from rca.errors import BundleError
    from tests.builders import INCIDENT

    rows = [{"timestamp": "2026-11-20T09:00:00Z", "name": name, "value": 0.9} for name in ("approval_rate", cell)]
    with pytest.raises(BundleError) as err:
        bundle_from_dict({"incident": INCIDENT, "kpis": rows})
    assert (err.value.file, err.value.row, err.value.field) == ("kpis (inline)", 2, "name")
    assert f"is {shape}; expected a text value" in err.value.message


@pytest.mark.parametrize("key, value, row, field", [
    ("events", [{"timestamp": "2026-11-20T09:00:00Z", "kind": "deploy", "target": "service:api"}, {"kind": "deploy"}],
     2, "timestamp"),
    ("histograms", [{"feature": "amount", "role": "training", "type": "numeric"}], 1, "counts"),
    ("graph", {"edges": []}, None, "nodes"),
    ("incident", {"id": "inc-1"}, None, "model"),
    ("events", {"kind": "deploy"}, None, None)])
def test_an_inline_body_s_errors_name_its_keys_as_its_tables_do(key, value, row, field):
    # An inline body has no files: every error names the key (and the array item), not a file it never had.
    from rca.contract import bundle_from_dict
    from rca.errors import BundleError
    from tests.builders import INCIDENT

    with pytest.raises(BundleError) as err:
        bundle_from_dict({"incident": INCIDENT, key: value})
    assert (err.value.file, err.value.row, err.value.field) == (f"{key} (inline)", row, field)


@pytest.mark.parametrize("file", ["incident.json", "graph.json", "histograms.jsonl"])
def test_json_nested_too_deeply_to_read(bundle_dir, capsys, file):
    (bundle_dir / file).write_text("[" * 100_000 + "]" * 100_000 + "\n")
    expect_error(capsys, bundle_dir, file, "nested too deeply")


def test_an_integer_past_float64_in_an_inline_table():
    from rca.contract import bundle_from_dict
    from rca.errors import BundleError
    from tests.builders import INCIDENT

    rows = [{"timestamp": "2026-11-20T09:00:00Z", "name": "approval_rate", "value": v} for v in (0.9, 10**400)]
    with pytest.raises(BundleError) as err:
        bundle_from_dict({"incident": INCIDENT, "kpis": rows})
    assert (err.value.file, err.value.row, err.value.field) == ("kpis (inline)", 2, "value")


@pytest.mark.parametrize("other", [0.5, "high", None])
def test_an_integer_past_float64_in_an_inline_feature_column(other):
    """Feature columns are kept as sent, so an integer no float holds was an OverflowError in the samples
    generator (a failed incident in the API)."""
    from rca.contract import bundle_from_dict
    from rca.errors import BundleError
    from tests.builders import INCIDENT

    rows = [{"timestamp": "2026-11-20T09:00:00Z", "amount": v} for v in (other, 3, -10**400)]
    with pytest.raises(BundleError) as err:
        bundle_from_dict({"incident": INCIDENT, "feature_samples": rows})
    assert (err.value.file, err.value.row, err.value.field) == ("feature_samples (inline)", 3, "amount")
    assert "past the largest float" in err.value.message


def _binary_column(path, column, values, *, dictionary=False) -> None:
    """Rewrite one Parquet column as ``binary`` (no pandas metadata, so pandas reads the cells as bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    array = pa.array(values, pa.binary())
    table = table.set_column(table.schema.get_field_index(column), column,
                             array.dictionary_encode() if dictionary else array)
    pq.write_table(table.replace_schema_metadata(None), path)


@pytest.mark.parametrize("file, column, good, dictionary", [
    ("metrics.parquet", "service", b"api", False),
    ("metrics.parquet", "service", b"api", True),
    ("predictions.parquet", "country", b"US", False),          # a segment column
    ("predictions.parquet", "model_version", b"v1", True),
    ("predictions.parquet", "timestamp", b"2026-11-20T09:00:00Z", False),  # was a UnicodeDecodeError traceback
])
def test_a_binary_parquet_column_that_is_not_utf8(bundle_dir, capsys, file, column, good, dictionary):
    path = bundle_dir / file
    n = len(pd.read_parquet(path))
    _binary_column(path, column, [good] * n, dictionary=dictionary)
    from rca.contract import load_bundle
    assert load_bundle(bundle_dir) is not None                 # UTF-8 bytes are read as the text they hold
    _binary_column(path, column, [good] * 5 + [b"ab\xffc"] + [good] * (n - 6), dictionary=dictionary)
    expect_error(capsys, bundle_dir, file, "row 6", f"field '{column}'", "not UTF-8 (byte 0xff at offset 2")


def _set_cell(path, column, row, value, dtype=None) -> None:
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    table[column] = table[column].astype(dtype or object)
    table.loc[row, column] = value
    table.to_parquet(path) if path.suffix == ".parquet" else table.to_csv(path, index=False)


@pytest.mark.parametrize("file, column, value, dtype, shown", [
    ("metrics.parquet", "value", float("inf"), "float64", "'value': inf is not a finite number"),  # not np.float64(inf)
    ("predictions.parquet", "score", float("nan"), "float64", "'score': a missing value (an empty cell, or NA, n/a, "
                                                             "null or NaN); expected a finite number"),
    ("kpis.csv", "value", "n/a", None, "'value': a missing value"),   # it said 'nan is not a finite number'
    ("kpis.csv", "value", "lots", None, "'value': 'lots' is not a finite number"),
    ("predictions.parquet", "timestamp", 10**17, "int64", "cannot parse 100000000000000000;"),  # not np.int64(...)
])
def test_values_in_messages_are_plain_not_numpy_reprs(bundle_dir, capsys, file, column, value, dtype, shown):
    path = bundle_dir / file
    if column == "timestamp":
        table = pd.read_parquet(path)
        table["timestamp"] = table["timestamp"].dt.as_unit("ms").astype("int64")   # epoch milliseconds, as int64
        table.to_parquet(path)
    _set_cell(path, column, 3, value, dtype)
    expect_error(capsys, bundle_dir, file, "row 4", f"field '{column}'", shown)


@pytest.mark.parametrize("file, column", [("kpis.csv", "value"), ("kpis.csv", "timestamp")])
def test_a_very_long_value_is_cut_in_the_message(bundle_dir, capsys, file, column):
    _set_cell(bundle_dir / file, column, 2, "x" * 5000)
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    line = out.err.splitlines()[0]
    assert code == 2 and "row 3" in line and "'" + "x" * 56 + "..." in line and len(line) < 250, line


def test_shown_values():
    import numpy as np

    from rca.errors import shown

    assert [shown(v) for v in (np.float64("nan"), np.int64(3), np.float32(0.1), np.bool_(False), np.str_("US"),
                               "US", 3, None)] == ["nan", "3", "0.1", "False", "'US'", "'US'", "3", "None"]
    assert shown("é" * 500) == "'" + "é" * 56 + "..." and shown("x" * 58) == "'" + "x" * 58 + "'"


def test_a_numeric_role_column_in_feature_samples_is_refused_without_a_pandas_warning():
    """A role of numbers (1.0 and a blank) was filled with "serving" through a float column: pandas warns that a
    later version raises there. Read as text, it is refused as any other role that is not one."""
    import warnings

    from rca.contract import bundle_from_dict
    from rca.errors import BundleError
    from tests.builders import INCIDENT

    rows = [{"timestamp": "2026-11-20T09:00:00Z", "amount": 1.0, "role": role} for role in (None, 1.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(BundleError) as err:
            bundle_from_dict({"incident": INCIDENT, "feature_samples": rows})
    assert (err.value.file, err.value.row, err.value.field) == ("feature_samples (inline)", 2, "role")
    assert err.value.message.startswith("'1.0'; expected 'training' or 'serving'")


@pytest.mark.parametrize("spelled", [("yes", "no"), ("Yes", "No"), ("TRUE", "false"), ("y", "n")])
def test_labels_written_as_yes_and_no_are_read_as_1_and_0(bundle_dir, spelled):
    """A CSV of yes/no labels was refused ("'yes' is not a finite number"); empty cells stay unknown labels."""
    from rca.contract import load_bundle

    p = pd.read_parquet(bundle_dir / "predictions.parquet")
    want = p["label"].copy()
    want.iloc[3] = float("nan")
    p["label"] = want.map({1.0: spelled[0], 0.0: spelled[1]})
    (bundle_dir / "predictions.parquet").unlink()
    p.to_csv(bundle_dir / "predictions.csv", index=False)
    got = load_bundle(bundle_dir).predictions["label"]
    pd.testing.assert_series_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_names=False)


def test_a_label_column_of_other_words_is_still_refused(bundle_dir, capsys):
    p = pd.read_parquet(bundle_dir / "predictions.parquet")
    p["label"] = p["label"].map({1.0: "yes", 0.0: "no"})
    p.loc[5, "label"] = "maybe"
    (bundle_dir / "predictions.parquet").unlink()
    p.to_csv(bundle_dir / "predictions.csv", index=False)
    expect_error(capsys, bundle_dir, "predictions.csv", "row 6", "label", "'maybe' is not a finite number")
