"""Loading valid bundles, in every accepted shape."""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rca.contract import bundle_from_dict, load_bundle, load_label
from rca.contract.timestamps import parse_timestamp, parse_timestamp_column
from rca.errors import BundleError
from tests.builders import INCIDENT


def test_loads_every_family(bundle_dir):
    b = load_bundle(bundle_dir)
    assert b.incident.id == "inc-test"
    assert list(b.predictions.columns[:3]) == ["timestamp", "model_version", "score"]
    assert b.segment_columns == ["country"]
    assert b.has_labels
    assert set(b.histograms) == {"amount", "country"}
    assert len(b.histograms["amount"].serving) == 3
    assert b.spans.shape[0] == 2 and b.spans.loc[1, "parent_span_id"] == "s1"
    assert b.spans["duration_ms"].tolist() == [20.0, 15.0]
    assert b.kpis["timestamp"].dt.tz is not None  # epoch-ms CSV column parsed to UTC
    assert b.metrics["service"].iloc[0] == "api"
    assert b.events[0].target == "model:fraud-scorer@v1"
    assert list(b.graph.edges) == [("feature:amount", "model:fraud-scorer@v1")]
    assert b.families() == ["predictions", "histograms", "traces", "kpis", "metrics", "events", "graph"]


def test_label_is_not_part_of_the_bundle(bundle_dir):
    b = load_bundle(bundle_dir)
    assert not hasattr(b, "label")
    assert load_label(bundle_dir).causes[0].node == "feature:amount"


def test_only_incident_json_is_required(tmp_path):
    (tmp_path / "incident.json").write_text(json.dumps(INCIDENT))
    b = load_bundle(tmp_path)
    assert b.families() == [] and b.predictions is None


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_archives_with_and_without_top_folder(bundle_dir, tmp_path, kind):
    archive = tmp_path / f"b.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for f in bundle_dir.iterdir():
                zf.write(f, f"inc/{f.name}")
    else:
        with tarfile.open(archive, "w:gz") as tar:
            for f in bundle_dir.iterdir():
                tar.add(f, arcname=f.name)
    assert load_bundle(archive).incident.model == "fraud-scorer"


def test_an_archive_with_the_bundle_folder_beside_a_readme_is_read(bundle_dir, tmp_path):
    """It gave 'incident.json: missing; every bundle needs incident.json'. Two bundle folders stay an error."""
    archive = tmp_path / "b.tar.gz"
    (tmp_path / "README.md").write_text("incident from the payments team")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "README.md", arcname="README.md")
        for f in bundle_dir.iterdir():
            tar.add(f, arcname=f"inc-1/{f.name}")
    assert load_bundle(archive).incident.model == "fraud-scorer"
    with tarfile.open(tmp_path / "two.tar.gz", "w:gz") as tar:
        for folder in ("inc-1", "inc-2"):
            for f in bundle_dir.iterdir():
                tar.add(f, arcname=f"{folder}/{f.name}")
    with pytest.raises(BundleError, match="found inc-1/incident.json, inc-2/incident.json; expected one bundle per "
                                          "archive"):
        load_bundle(tmp_path / "two.tar.gz")


def test_an_archive_whose_bundle_is_two_folders_deep_says_where_its_incident_json_is(bundle_dir, tmp_path):
    """It said 'incident.json: missing; every bundle needs incident.json', as if there were none."""
    with zipfile.ZipFile(tmp_path / "deep.zip", "w") as zf:
        for f in bundle_dir.iterdir():
            zf.write(f, f"outer/b/{f.name}")
    with pytest.raises(BundleError) as refused:
        load_bundle(tmp_path / "deep.zip")
    assert str(refused.value) == ("deep.zip: incident.json is not at the archive's top nor in its one folder; found "
                                  "outer/b/incident.json; expected one bundle per archive, its files at the top or "
                                  "in a single folder")


def test_inline_json_matches_directory(bundle_dir):
    from_dir = load_bundle(bundle_dir)
    traces = [json.loads(line) for line in (bundle_dir / "traces.jsonl").read_text().splitlines()]
    inline = bundle_from_dict({"incident": INCIDENT,
                               "kpis": pd.read_csv(bundle_dir / "kpis.csv").to_dict("records"),
                               "traces": traces})
    assert inline.kpis["value"].tolist() == from_dir.kpis["value"].tolist()
    assert inline.spans["span_id"].tolist() == from_dir.spans["span_id"].tolist()


def test_csv_and_parquet_give_the_same_table(bundle_dir, tmp_path):
    other = tmp_path / "csv"
    shutil.copytree(bundle_dir, other)
    frame = pd.read_parquet(other / "predictions.parquet")
    (other / "predictions.parquet").unlink()
    frame.assign(timestamp=frame["timestamp"].map(lambda t: t.isoformat())).to_csv(other / "predictions.csv",
                                                                                  index=False)
    a, b = load_bundle(bundle_dir).predictions, load_bundle(other).predictions
    pd.testing.assert_series_equal(a["timestamp"], b["timestamp"])
    pd.testing.assert_series_equal(a["score"], b["score"])


def _as_dataset(bundle_dir, stem, *, partition=None):
    """Rewrite ``stem.parquet`` as Spark writes a table: a directory of part files beside ``_SUCCESS`` and
    checksum files, or with ``partition``, one ``key=value`` subdirectory per value of that column."""
    frame = pd.read_parquet(bundle_dir / f"{stem}.parquet")
    (bundle_dir / f"{stem}.parquet").unlink()
    root = bundle_dir / f"{stem}.parquet"
    root.mkdir()
    (root / "_SUCCESS").write_bytes(b"")
    if partition is None:
        for i, part in enumerate((frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2:])):
            part.to_parquet(root / f"part-0000{i}.snappy.parquet", index=False)
            (root / f".part-0000{i}.snappy.parquet.crc").write_bytes(b"not parquet")
    else:
        for value, part in frame.groupby(partition, sort=True):
            (root / f"{partition}={value}").mkdir()
            part.drop(columns=partition).to_parquet(root / f"{partition}={value}" / "part-00000.parquet", index=False)
    return frame


def test_a_parquet_dataset_directory_reads_as_its_table(bundle_dir):
    # Spark, Dask and pyarrow write a table as a directory of part files.
    want = load_bundle(bundle_dir).predictions
    _as_dataset(bundle_dir, "predictions")
    got = load_bundle(bundle_dir).predictions
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


def test_a_hive_partitioned_dataset_gives_its_partition_key_as_a_column(bundle_dir):
    want = load_bundle(bundle_dir).predictions
    assert "country" in want.columns  # a segment dimension
    _as_dataset(bundle_dir, "predictions", partition="country")
    got = load_bundle(bundle_dir).predictions
    assert sorted(got.columns) == sorted(want.columns)
    key = ["timestamp", "score"]
    pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True)[list(want.columns)],
                                  want.sort_values(key, ignore_index=True), check_dtype=False)


def test_a_parquet_dataset_directory_without_part_files_is_an_absent_family(bundle_dir):
    _as_dataset(bundle_dir, "metrics")
    for part in (bundle_dir / "metrics.parquet").glob("part-*"):
        part.unlink()
    assert load_bundle(bundle_dir).metrics is None


def test_a_parquet_dataset_with_a_part_that_is_not_parquet_names_the_directory(bundle_dir):
    _as_dataset(bundle_dir, "metrics")
    (bundle_dir / "metrics.parquet" / "part-00002.parquet").write_text("timestamp,value\n")
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value).startswith("metrics.parquet/part-00002.parquet: not a readable Parquet file (ArrowInvalid: ")
    assert str(err.value).endswith("; expected every part file of the dataset to be Parquet")
    assert str(bundle_dir) not in str(err.value)


@pytest.mark.parametrize("null_part", ["part-0", "part-1"])
def test_a_dataset_part_with_a_column_all_null_takes_the_other_parts_type(bundle_dir, null_part):
    # a Dask or pandas part whose rows all lack a value writes that column as type null; pyarrow's dataset took the
    # first part's schema, so the bundle loaded or not by the parts' names
    want = load_bundle(bundle_dir).predictions
    frame = _as_dataset(bundle_dir, "predictions")
    assert frame["label"].notna().all()
    root = bundle_dir / "predictions.parquet"
    for part in root.glob("*part-*"):
        part.unlink()
    half = len(frame) // 2
    frame.iloc[:half].to_parquet(root / "part-0.parquet", index=False)
    frame.iloc[half:].assign(label=None).to_parquet(root / "part-1.parquet", index=False)  # labels not in yet
    if null_part == "part-0":  # the null-typed part read first
        (root / "part-1.parquet").rename(root / "part-00.parquet")
    got = load_bundle(bundle_dir).predictions
    assert len(got) == len(want) and got["label"].isna().sum() == len(frame) - half
    assert got["label"].dropna().isin([0, 1]).all()


def test_dataset_parts_whose_types_disagree_say_so(bundle_dir):
    frame = _as_dataset(bundle_dir, "metrics")
    frame.assign(value="high").to_parquet(bundle_dir / "metrics.parquet" / "part-00002.parquet", index=False)
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert str(err.value).startswith("metrics.parquet: its part files' schemas disagree (")
    assert str(err.value).endswith("); expected one type per column")


def test_dataset_parts_written_by_other_writers_read_as_one_table(bundle_dir):
    # one writer's category is another's text, one's naive time another's UTC one; pandas' index is no column
    want = load_bundle(bundle_dir).predictions
    frame = _as_dataset(bundle_dir, "predictions")
    root = bundle_dir / "predictions.parquet"
    for part in root.glob("*part-*"):
        part.unlink()
    half = len(frame) // 2
    early = frame.iloc[:half].assign(country=frame["country"].iloc[:half].astype("category"))
    late = frame.iloc[half:].assign(timestamp=frame["timestamp"].iloc[half:].dt.tz_convert(None))
    early.index = pd.Index(list(early.index))                 # a concatenated frame's: not a RangeIndex
    early.to_parquet(root / "part-0.parquet")                 # so written as a column, __index_level_0__
    assert "__index_level_0__" in pq.read_schema(root / "part-0.parquet").names
    late.to_parquet(root / "part-1.parquet")
    got = load_bundle(bundle_dir).predictions
    assert list(got.columns) == list(want.columns) and "__index_level_0__" not in got.columns
    pd.testing.assert_series_equal(got["timestamp"].reset_index(drop=True), want["timestamp"].reset_index(drop=True))
    assert list(got["country"].astype(str)) == list(want["country"].astype(str))


def test_hive_partition_values_are_read_as_written_and_the_default_partition_is_null(bundle_dir):
    want = load_bundle(bundle_dir).predictions
    frame = _as_dataset(bundle_dir, "predictions")
    shutil.rmtree(bundle_dir / "predictions.parquet")
    root = bundle_dir / "predictions.parquet"
    half = len(frame) // 2
    for key, part in (("01", frame.iloc[:half]), ("__HIVE_DEFAULT_PARTITION__", frame.iloc[half:])):
        (root / f"zone={key}").mkdir(parents=True)
        part.to_parquet(root / f"zone={key}" / "part-0.parquet", index=False)
    got = load_bundle(bundle_dir).predictions
    assert len(got) == len(want) and sorted(got["zone"].dropna().unique()) == ["01"]
    assert got["zone"].isna().sum() == len(frame) - half


def test_extra_fields_are_kept(tmp_path):
    (tmp_path / "incident.json").write_text(json.dumps({**INCIDENT, "team": "payments"}))
    assert load_bundle(tmp_path).incident.model_extra == {"team": "payments"}


@pytest.mark.parametrize("value, expected", [
    ("2026-11-20T14:05:00Z", "2026-11-20T14:05:00+00:00"),
    ("2026-11-20T16:05:00+02:00", "2026-11-20T14:05:00+00:00"),
    (1795183500000, "2026-11-20T14:05:00+00:00"),
    ("1795183500000", "2026-11-20T14:05:00+00:00"),
    (253402300799999, "9999-12-31T23:59:59.999000+00:00"),      # exact far from 1970, where ms / 1000 is not
    (-62135596800000, "0001-01-01T00:00:00+00:00"),
    (1795183500123, "2026-11-20T14:05:00.123000+00:00"),
])
def test_timestamps_rfc3339_and_epoch_ms(value, expected):
    assert parse_timestamp(value).isoformat() == expected


def test_timestamp_column_reports_first_bad_position():
    parsed, bad = parse_timestamp_column(pd.Series(["2026-11-20T14:05:00Z", "yesterday", "also bad"]))
    assert bad == 1
    parsed, bad = parse_timestamp_column(pd.Series([1795183500000, 1795183560000]))
    assert bad is None and parsed.iloc[1] - parsed.iloc[0] == pd.Timedelta(minutes=1)


def test_a_timestamp_column_reads_lower_case_t_and_z_as_incident_json_does():
    """RFC 3339 allows them; a table column refused them ('cannot parse') while incident.json took them."""
    parsed, bad = parse_timestamp_column(pd.Series(["2026-11-20t14:05:00z", "2026-11-20T14:06:00+01:00", "no"]))
    assert bad == 2 and parsed.iloc[0] == pd.Timestamp(parse_timestamp("2026-11-20t14:05:00z"))
    assert parsed.iloc[1] == pd.Timestamp("2026-11-20T13:06:00Z")


@pytest.mark.parametrize("values", [["a", None, "b"], ["x", "y", "z"], [None, None, None]])
@pytest.mark.parametrize("dtype", ["str", object, "string"])
def test_text_columns_keep_the_dtype_the_conversion_gives(values, dtype):
    from rca.contract.load import _categories, _strings, _text

    column = pd.Series(values, dtype=dtype)
    for convert in (_strings, _categories, lambda v: v.astype(str)):
        converted, kept = pd.DataFrame(index=pd.RangeIndex(3)), pd.DataFrame(index=pd.RangeIndex(3))
        converted["c"], kept["c"] = convert(column).to_numpy(), _text(column, convert, "t.parquet")
        pd.testing.assert_frame_equal(kept, converted, check_exact=True)


def test_categorical_histograms_take_json_booleans_and_numbers_as_categories(bundle_dir):
    """A bool or int feature's categories serialise naturally as JSON true/false or numbers; they were refused
    ('Input should be a valid string'), and a null category was refused with that message too."""
    import json

    from rca.contract import validate_bundle
    from rca.contract.models import CategoricalHistogram

    base = {"feature": "is_new", "type": "categorical", "role": "training", "dtype": "bool"}
    h = CategoricalHistogram.model_validate({**base, "categories": [True, False, 55, "a"], "counts": [3, 4, 5, 6]})
    assert h.categories == ["true", "false", "55", "a"]
    lines = (bundle_dir / "histograms.jsonl").read_text().splitlines()
    line = {**base, "categories": [True, None], "counts": [1, 2]}
    (bundle_dir / "histograms.jsonl").write_text("\n".join([*lines, json.dumps(line)]) + "\n")
    problems = [str(p) for p in validate_bundle(bundle_dir)]
    assert len(problems) == 1 and f"line {len(lines) + 1}" in problems[0]
    assert "category 1 is null; expected text, with missing values counted in 'nulls'" in problems[0]


def test_csv_text_columns_are_read_as_written_not_as_guessed_numbers(bundle_dir):
    """pandas guessed their types: a model version 2026.10 became the node model:m@2026.1, a segment 01 became
    segment:zip=1, and a service 007 became service:7."""
    predictions = pd.read_parquet(bundle_dir / "predictions.parquet")
    predictions["model_version"], predictions["zip"] = "2026.10", "01"
    predictions.to_csv(bundle_dir / "predictions.csv", index=False)
    (bundle_dir / "predictions.parquet").unlink()
    metrics = pd.read_parquet(bundle_dir / "metrics.parquet").assign(service="007", pod="0042")
    metrics.to_csv(bundle_dir / "metrics.csv", index=False)
    (bundle_dir / "metrics.parquet").unlink()
    kpis = pd.read_csv(bundle_dir / "kpis.csv").assign(country="01")
    kpis.to_csv(bundle_dir / "kpis.csv", index=False)
    b = load_bundle(bundle_dir)
    assert set(b.predictions["model_version"]) == {"2026.10"} and set(b.predictions["zip"]) == {"01"}
    assert set(b.metrics["service"]) == {"007"} and set(b.metrics["pod"]) == {"0042"}
    assert set(b.kpis["country"]) == {"01"}
    assert b.predictions["score"].dtype == float and b.metrics["value"].dtype == float   # numbers stay numbers


def test_open_ended_outer_bins_are_read_as_underflow_and_overflow(bundle_dir):
    """A profiler writing its first and last bins open-ended (``pd.cut`` with infinite ends, Prometheus'
    ``le="+Inf"``; JSON ``-Infinity``/``Infinity``) wrote what the contract calls underflow and overflow: the bundle
    reads as the same bundle written with finite edges. It was refused ('edges' must be finite numbers)."""
    from rca.contract.models import NumericHistogram

    path = bundle_dir / "histograms.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines = [{**h, "underflow": i % 3, "overflow": 2 * (i % 2)} if h["type"] == "numeric" else h
             for i, h in enumerate(lines)]
    assert any(h["type"] == "numeric" for h in lines)
    path.write_text("".join(json.dumps(h) + "\n" for h in lines))
    before = load_bundle(bundle_dir).histograms
    opened = []
    for h in lines:
        if h["type"] == "numeric":
            h = dict(h)
            under, over = h.pop("underflow"), h.pop("overflow")
            h.update(edges=[float("-inf"), *h["edges"], float("inf")], counts=[under, *h["counts"], over])
        opened.append(h)
    path.write_text("".join(json.dumps(h) + "\n" for h in opened))
    assert "-Infinity" in path.read_text()
    after = load_bundle(bundle_dir).histograms
    assert after.keys() == before.keys()
    for feature, fh in before.items():
        for a, b in zip((fh.training, *fh.serving), (after[feature].training, *after[feature].serving)):
            assert (a is None) == (b is None)
            if isinstance(a, NumericHistogram):
                assert (b.edges, b.counts, b.underflow, b.overflow, b.nulls) == \
                    (a.edges, a.counts, a.underflow, a.overflow, a.nulls)
    # an infinite edge inside, or a single bin open at both ends, is still refused
    base = {"feature": "f", "type": "numeric", "role": "training"}
    for edges in ([0, float("inf"), 10, 20], [float("-inf"), float("inf")], [0, 10, float("nan")]):
        with pytest.raises(ValueError, match="'edges' must be finite numbers"):
            NumericHistogram.model_validate({**base, "edges": edges, "counts": [1] * (len(edges) - 1)})


def test_a_histogram_without_nulls_reads_the_rows_total_counts_beyond_its_bins_as_nulls():
    """Some profilers count only non-null values in the bins and give the null rate through ``total`` alone: a
    feature gone 45% null looked complete (``nulls`` defaulted to 0 and ``total`` was never read)."""
    from rca.contract.models import CategoricalHistogram, NumericHistogram

    base = {"feature": "ip_risk", "type": "numeric", "role": "training", "edges": [0, 1, 2], "counts": [30, 20]}
    h = NumericHistogram.model_validate({**base, "underflow": 3, "overflow": 2, "total": 100})
    assert (h.nulls, h.nulls_from_total, h.observed()) == (45, True, 100)
    given = NumericHistogram.model_validate({**base, "underflow": 3, "overflow": 2, "nulls": 0, "total": 100})
    assert (given.nulls, given.nulls_from_total) == (0, False)   # a nulls given, even 0, is kept
    assert NumericHistogram.model_validate({**base, "total": 50}).nulls == 0   # total = counts: none
    assert NumericHistogram.model_validate({**base, "total": 40}).nulls == 0   # below: not negative
    cat = CategoricalHistogram.model_validate({"feature": "c", "type": "categorical", "role": "training",
                                               "categories": ["a", "b"], "counts": [5, 4], "total": 12})
    assert (cat.nulls, cat.nulls_from_total) == (3, True)
    # a profile's shares beside its row count: no gap to read (they would have been 99.9% nulls); all-null counts do
    shares = NumericHistogram.model_validate({**base, "counts": [0.6, 0.4], "total": 1000})
    assert (shares.nulls, shares.nulls_from_total) == (0, False)
    assert NumericHistogram.model_validate({**base, "counts": [0, 0], "total": 1000}).nulls == 1000
