"""Bad values inside otherwise well-formed bundle files: each is refused with the file, the row or line and
the field, never a traceback (found by a bad-input sweep)."""

from __future__ import annotations

import pandas as pd
import pytest

from rca.contract.timestamps import parse_timestamp_column
from tests.test_contract_errors import expect_error


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


def test_a_null_timestamp_in_a_parquet_datetime_column(bundle_dir, capsys):
    predictions = pd.read_parquet(bundle_dir / "predictions.parquet")
    predictions.loc[4, "timestamp"] = pd.NaT
    predictions.to_parquet(bundle_dir / "predictions.parquet")
    expect_error(capsys, bundle_dir, "predictions.parquet", "row 5", "timestamp")
