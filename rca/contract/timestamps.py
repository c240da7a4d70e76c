"""Timestamps: RFC 3339 strings or integer epoch milliseconds, both accepted everywhere (the contract)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BeforeValidator, PlainSerializer

from rca.errors import shown

_MS_MIN = -62135596800000  # 0001-01-01
_MS_MAX = 253402300799999  # 9999-12-31
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(value: Any) -> datetime:
    """Parse one timestamp into an aware UTC datetime.

    Accepts an RFC 3339 string (``2026-11-20T14:05:00Z``, an offset, fractional seconds), an integer (or
    integral float) of epoch milliseconds, or a datetime (naive ones are taken as UTC).

    Raises
    ------
    ValueError
        With a message that says what was found and what is expected.

    Examples
    --------
    >>> parse_timestamp(0).isoformat()
    '1970-01-01T00:00:00+00:00'
    >>> parse_timestamp("2026-11-20T14:05:00Z").hour
    14
    """
    if isinstance(value, datetime):
        return _utc(value, value.isoformat())
    if isinstance(value, bool):
        raise ValueError(f"expected an RFC 3339 string or epoch milliseconds, got {shown(value)}")
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        ms = int(value)
        if not _MS_MIN <= ms <= _MS_MAX:
            raise ValueError(f"epoch milliseconds {ms} out of range")
        return _EPOCH + timedelta(milliseconds=ms)  # exact (ms / 1000 as a float is not, far from 1970)
    if isinstance(value, str):
        return _parse_text(value)
    raise ValueError(f"expected an RFC 3339 string or epoch milliseconds, got {type(value).__name__}")


@functools.lru_cache(maxsize=4096)
def _parse_text(value: str) -> datetime:
    # Cached: a bundle repeats a few bucket boundaries thousands of times (every feature's histograms).
    text = value.strip()
    if text.lstrip("-").isdigit():
        return parse_timestamp(int(text))
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an RFC 3339 timestamp or epoch milliseconds, got {shown(value)}") from None
    if "T" not in text.upper() and " " not in text:
        raise ValueError(f"expected a date and a time, got {shown(value)}")
    return _utc(parsed, value)


def _utc(parsed: datetime, value: Any) -> datetime:
    """``parsed`` in UTC (a naive one taken as UTC); a ValueError, not an OverflowError, when its offset takes it
    past year 1 or 9999 (``0001-01-01T00:00:00+01:00``)."""
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{shown(value)} is outside years 1 to 9999 in UTC") from None


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, seconds precision unless there are fractions."""
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


_SECONDS = (10**9, 10**10)
"""Integers in this range are 1970-01-12 to 1970-04-27 read as the contract's epoch milliseconds, and 2001 to 2286
read as epoch seconds: in a JSON field, seconds (`parse_field_timestamp`)."""


def parse_field_timestamp(value: Any) -> datetime:
    """`parse_timestamp` for a JSON field (incident.json's windows and detected_at, an event's time, a histogram
    bucket's): a ValueError for an integer that reads as a time in 1970 and as epoch seconds in this century,
    which the data then all falls outside of, without a word (a baseline window in seconds left that window
    empty, found only as ``empty_windows`` in the answer).

    >>> parse_field_timestamp(1761166800)
    Traceback (most recent call last):
    ...
    ValueError: 1761166800 is 1970-01-21T09:12:46.800Z read as epoch milliseconds, as the contract's integers are; it looks like epoch seconds (1761166800000 in milliseconds)
    """
    whole = (isinstance(value, (int, np.integer)) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())
    if whole and _SECONDS[0] <= value < _SECONDS[1]:
        raise ValueError(f"{int(value)} is {format_timestamp(parse_timestamp(value))} read as epoch milliseconds, "
                         f"as the contract's integers are; it looks like epoch seconds ({int(value) * 1000} in "
                         "milliseconds)")
    return parse_timestamp(value)


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_field_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
"""A pydantic field type: accepts RFC 3339 or epoch ms, holds an aware UTC datetime, writes RFC 3339."""


# A table column is held as datetime64[ns], whose range is narrower than a datetime's: 1677-09-21 to 2262-04-11.
_COLUMN_MIN = pd.Timestamp.min.ceil("ms").tz_localize("UTC")
_COLUMN_MAX = pd.Timestamp.max.floor("ms").tz_localize("UTC")
COLUMN_RANGE = f"{_COLUMN_MIN:%Y-%m-%d} to {_COLUMN_MAX:%Y-%m-%d}"
"""The timestamps a table column can hold, for messages."""


def column_range_problem(value: datetime) -> str | None:
    """What is wrong with ``value`` as a time compared with the tables' times (outside `COLUMN_RANGE`, which a
    window bound or a change event cannot be), or None when it is inside.

    >>> column_range_problem(parse_timestamp("1600-01-01T00:00:00Z"))
    '1600-01-01T00:00:00Z is outside the times a table holds; expected a time from 1677-09-21 to 2262-04-11'
    """
    if _COLUMN_MIN.to_pydatetime() <= value <= _COLUMN_MAX.to_pydatetime():
        return None
    return f"{format_timestamp(value)} is outside the times a table holds; expected a time from {COLUMN_RANGE}"


def parse_timestamp_column(values: pd.Series) -> tuple[pd.Series, int | None]:
    """Parse a whole column to ``datetime64[ns, UTC]``.

    Returns the parsed series and the 0-based position of the first value that did not parse, or that lies
    outside `COLUMN_RANGE` (``None`` when all did). Numbers are epoch milliseconds; strings are RFC 3339 (or
    digits of epoch milliseconds).
    """
    lo_ms, hi_ms = _COLUMN_MIN.value // 10**6, _COLUMN_MAX.value // 10**6
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        in_range = (parsed >= _COLUMN_MIN) & (parsed <= _COLUMN_MAX)
        parsed = parsed.where(in_range)
        bad = parsed.isna()  # NaT too: a row without a time, as a null in a text or number column
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        parsed, bad = _epoch_ms(values, lo_ms, hi_ms)
    else:
        text = values.astype("string")
        digits = text.str.fullmatch(r"-?\d+").fillna(False).astype(bool)
        parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
        if digits.any():
            # as floats: exact for every millisecond in range (|ms| < 2**53), and no overflow for long digit runs
            parsed[digits] = _epoch_ms(text[digits].astype("float64"), lo_ms, hi_ms)[0]
        rest = ~digits
        if rest.any():
            read = pd.to_datetime(text[rest], utc=True, errors="coerce", format="ISO8601")
            missed = read.isna()
            if missed.any():  # RFC 3339 allows a lower-case "t" and "z", which pandas does not read
                read[missed] = pd.to_datetime(text[rest][missed].str.upper(), utc=True, errors="coerce",
                                              format="ISO8601")
            # a date outside the range parses at a coarser unit; it is refused before the ns column takes it
            parsed[rest] = read.where((read >= _COLUMN_MIN) & (read <= _COLUMN_MAX)).astype("datetime64[ns, UTC]")
        bad = parsed.isna()
    if bad.any():
        return parsed, int(np.flatnonzero(bad.to_numpy())[0])
    return parsed.astype("datetime64[ns, UTC]"), None


def _epoch_ms(values: pd.Series, lo_ms: int, hi_ms: int) -> tuple[pd.Series, pd.Series]:
    """Numbers of epoch milliseconds to ``datetime64[ns, UTC]`` (NaT where not an integer in range), and the
    mask of those that were not."""
    numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    ok = numeric.between(lo_ms, hi_ms) & (numeric % 1 == 0)
    parsed = pd.to_datetime(numeric.where(ok), unit="ms", utc=True).astype("datetime64[ns, UTC]")
    return parsed, ~ok
