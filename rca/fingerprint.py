"""What an archived bundle says, checked without depending on the last bits of its numbers.

The simulator is deterministic, but not bit for bit across machines: numpy picks its vectorised loops by CPU
(its AVX-512 sums and exponentials may round otherwise than its AVX2 ones), so the same recipe simulated on
two machines can write numbers that differ in their last digits, and so archives with different bytes. A
fingerprint keeps what must be equal exactly (file names, column names and types, row counts, missing and zero
cells, every string and JSON key) in one digest, and the numbers as two sums per column (parquet) or per key path
(JSON): of their absolute values, compared with a relative tolerance, and of their logarithms, compared with
an absolute one (`same_content`), so a change in one small value beside large ones still shows. A changed
simulator moves a sum far beyond the tolerance; last-digit rounding (a relative 1e-16 per value) does not.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

RTOL = 1e-9
"""Relative tolerance on a column's sum of absolute values (rounding differences are ~1e-16 of it)."""
LOG_ATOL = 1e-6
"""Absolute tolerance on a column's sum of log|x| over its non-zero values: rounding moves each term by ~1e-16,
a value changed by one part in a million moves it by 1e-6."""

Fingerprint = dict[str, dict]
"""Per member file (path inside the archive without its root folder):
``{"digest": hex, "sums": {key: [sum of |x|, sum of log|x| over x != 0]}}``."""


def fingerprint_archive(path: Path) -> Fingerprint:
    """The fingerprint of a bundle archive (``.tar.gz``) made by `rca.simulate.write.archive`."""
    out: Fingerprint = {}
    with tarfile.open(path) as tar:
        for member in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
            name = member.name.split("/", 1)[-1]
            data = tar.extractfile(member).read()
            out[name] = fingerprint_file(name, data)
    return out


def fingerprint_file(name: str, data: bytes) -> dict:
    """``{"digest", "sums"}`` of one file: parquet by column, JSON and JSON lines by key path, anything else
    by its bytes (digest only)."""
    digest = hashlib.sha256()
    sums: dict[str, list[float]] = {}
    if name.endswith(".parquet"):
        _parquet(data, digest, sums)
    elif name.endswith((".json", ".jsonl")):
        lines = data.decode("utf-8").splitlines() if name.endswith(".jsonl") else [data.decode("utf-8")]
        for line in lines:
            if line.strip():
                _walk(json.loads(line), "", digest, sums)
    else:
        digest.update(data)
    return {"digest": digest.hexdigest()[:32], "sums": {k: v for k, v in sorted(sums.items())}}


def same_content(a: Fingerprint, b: Fingerprint) -> str | None:
    """None when the two fingerprints describe the same bundle; else what differs first (a file, a key)."""
    if sorted(a) != sorted(b):
        return f"files {sorted(a)} vs {sorted(b)}"
    for name in sorted(a):
        fa, fb = a[name], b[name]
        if fa["digest"] != fb["digest"]:
            return f"{name}: names, types, strings, row counts or missing or zero cells"
        if sorted(fa["sums"]) != sorted(fb["sums"]):
            return f"{name}: numeric columns"
        for key, (total, logs) in fa["sums"].items():
            want_total, want_logs = fb["sums"][key]
            if not math.isclose(total, want_total, rel_tol=RTOL, abs_tol=1e-12) or abs(logs - want_logs) > LOG_ATOL:
                return f"{name}: {key} sums to {total!r} (logs {logs!r}), expected {want_total!r} ({want_logs!r})"
    return None


def _parquet(data: bytes, digest, sums: dict[str, list[float]]) -> None:
    table = pq.read_table(io.BytesIO(data))
    digest.update(f"{table.num_rows}|{[(f.name, _type(f.type)) for f in table.schema]}".encode())
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_boolean(column.type) \
                or pa.types.is_temporal(column.type):
            values = column.cast(pa.int64()) if pa.types.is_temporal(column.type) else column
            x = values.to_numpy(zero_copy_only=False).astype(float)
            finite = np.isfinite(x)
            digest.update(f"{name}|{np.flatnonzero(~finite).tolist()}|{np.flatnonzero(x == 0).tolist()}".encode())
            sums[name] = _sums(x[finite])
        else:
            for value in column.to_pylist():
                digest.update(f"{name}|{value!r}\n".encode())


def _type(t: pa.DataType) -> str:
    """The column's type up to its physical width (another writer may store the same strings as large_string)."""
    for name, test in (("string", pa.types.is_string), ("string", pa.types.is_large_string),
                       ("float", pa.types.is_floating), ("int", pa.types.is_integer)):
        if test(t):
            return name
    return str(t)


def _sums(x: np.ndarray) -> list[float]:
    x = np.abs(x)
    return [float(x.sum()), float(np.log(x[x > 0]).sum())]


def _walk(value, key: str, digest, sums: dict[str, list[float]]) -> None:
    if isinstance(value, dict):
        digest.update(b"{")
        for k in sorted(value):
            digest.update(f"{k!r}:".encode())
            _walk(value[k], f"{key}.{k}" if key else str(k), digest, sums)
        digest.update(b"}")
    elif isinstance(value, list):
        digest.update(f"[{len(value)}".encode())
        for item in value:
            _walk(item, key, digest, sums)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        digest.update(f"{value!r},".encode())
    else:
        finite, x = math.isfinite(value), abs(float(value))
        digest.update(b"#" if finite and x else f"{value!r}".encode())
        total, logs = sums.get(key, [0.0, 0.0])
        sums[key] = [total + x, logs + math.log(x)] if finite and x else [total, logs]
