"""Deterministic writing: the same content always gives the same bytes.

JSON with a fixed key order and separators; Parquet through pyarrow with fixed options and no pandas
metadata; archives as gzip'd tar with every timestamp, owner and mode fixed and members in sorted order.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

_PARQUET = {"compression": "zstd", "compression_level": 9, "use_dictionary": True, "write_statistics": False,
            "version": "2.6", "data_page_version": "1.0"}


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_jsonl(path: Path, lines: list[object]) -> None:
    path.write_text("".join(json.dumps(x, separators=(",", ":"), ensure_ascii=False) + "\n" for x in lines),
                    encoding="utf-8")


def _column(name: str, values: np.ndarray) -> pa.Array:
    values = np.asarray(values)
    if name == "timestamp":
        return pa.array(values.astype("int64"), type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    if values.dtype == object:
        return pa.array(values.tolist(), type=pa.string())
    if values.dtype.kind == "f":
        return pa.array(values, type=pa.float64(), from_pandas=True)  # NaN -> null
    if values.dtype.kind in "iu":
        return pa.array(values.astype("int64"), type=pa.int64())
    return pa.array(values)


def write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write ``{column: array}`` as Parquet; ``timestamp`` holds epoch milliseconds; object arrays are strings."""
    table = pa.table({name: _column(name, values) for name, values in columns.items()})
    pq.write_table(table, path, **_PARQUET)


def archive(bundle_dir: Path, out: Path, *, root_name: str | None = None) -> Path:
    """A deterministic ``.tar.gz`` of a bundle directory: sorted members under ``root_name/``, fixed metadata."""
    root_name = root_name or bundle_dir.name
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(p for p in bundle_dir.rglob("*") if p.is_file()):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{root_name}/{path.relative_to(bundle_dir).as_posix()}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(buffer.getvalue())
    return out
