"""Loading and validating incident bundles: the only place that parses bundle files.

`load_bundle` raises the first problem as a `BundleError`; `validate_bundle` collects every problem it can
find (a problem in one file does not hide those in the others).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import tempfile
import warnings
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import networkx as nx
import numpy as np
import pandas as pd
from pydantic import Field, TypeAdapter, ValidationError

from rca.contract import bundle as B
from rca.contract.archive import extract_archive, is_archive
from rca.contract.models import (
    CategoricalHistogram,
    DependencyGraph,
    Event,
    Incident,
    Label,
    NumericHistogram,
    cause_node_problem,
)
from rca.contract.nodes import node_id_problem, node_kind
from rca.contract.otlp import parse_otlp, read_otlp_columnar
from rca.contract.timestamps import COLUMN_RANGE, parse_timestamp_column
from rca.errors import BundleError, BundleErrors, clipped, shown

_HISTOGRAM = TypeAdapter(Annotated[NumericHistogram | CategoricalHistogram, Field(discriminator="type")])
"""One histogram line; ``type`` picks the model (a plain union validates a line against both, twice the work,
and reports the other model's complaints)."""
TABLE_SUFFIXES = (".parquet", ".csv")
TOO_DEEP = "JSON nested too deeply to read; expected the bundle's objects and arrays, a few levels deep"
"""What a JSON document nested past the parser's recursion limit gets (it is not a bundle any producer writes)."""
KNOWN_FILES = ("incident.json", "predictions", "histograms.jsonl", "feature_samples", "traces.jsonl", "kpis",
               "metrics", "events.jsonl", "graph.json", "label.json")
BUNDLE_FILE_NAMES = tuple(name for known in KNOWN_FILES
                          for name in ([known] if "." in known else [known + s for s in TABLE_SUFFIXES]))
"""Every file name the loader reads."""


# --------------------------------------------------------------------------------------------- entry points
def load_bundle(path: str | Path) -> B.Bundle:
    """Load a bundle directory or archive; raise the first problem found.

    Raises
    ------
    BundleError
        Naming the file, the row or line where known, the field, and what was expected.
    """
    with bundle_directory(path) as root:
        return _Loader(root, collect=False).load()


def validate_bundle(path: str | Path, *,
                    incident_checks: Callable[[Incident], list[BundleError]] | None = None) -> list[BundleError]:
    """Every problem in a bundle (an empty list when it is valid), including ``label.json`` when present, and
    those ``incident_checks`` finds in its incident (a user's own rules on top of the contract's)."""
    return check_bundle(path, incident_checks=incident_checks)[0]


def check_bundle(path: str | Path, *, incident_checks: Callable[[Incident], list[BundleError]] | None = None,
                 bundle_notes: Callable[[B.Bundle], list[str]] | None = None) -> tuple[list[BundleError], list[str]]:
    """`validate_bundle`'s problems, and notes: the files the loader does not read whose names are close to one it
    does (``traces.json``, ``kpis.PARQUET``: their data was left out without a word), then, for a bundle that
    loads, what ``bundle_notes`` says of it. What `rca validate` reports; an archive is extracted once for all."""
    try:
        with bundle_directory(path) as root:
            loader = _Loader(root, collect=True, incident_checks=incident_checks)
            bundle = None
            try:
                bundle = loader.load()
            except BundleErrors:
                pass  # already collected, one by one, in loader.errors
            except BundleError as exc:  # a fatal one (no incident.json) stops the rest
                loader.errors.append(exc)
            try:
                if _present(root / "label.json", "label.json"):
                    load_label(root)
            except BundleError as exc:
                loader.errors.append(exc)
            unread = bundle.unread if bundle is not None else _misnamed(root)  # the loader listed them already
            notes = [f"{found} was not read (a bundle file is named {meant})" for found, meant in unread]
            if bundle is not None and bundle_notes is not None:
                notes += bundle_notes(bundle)
            return _dedupe(loader.errors), notes
    except BundleError as exc:
        return [exc], []


def _misnamed(root: Path) -> list[tuple[str, str]]:
    return _close_names(sorted(p.name for p in root.iterdir() if p.is_file()), BUNDLE_FILE_NAMES, lower=True)


INLINE_KEYS = tuple(dict.fromkeys(name.split(".")[0] for name in KNOWN_FILES))
"""The keys of an inline body (`bundle_from_dict`): the file stems."""


def _close_names(names: list[str], known: tuple[str, ...], *, lower: bool = False) -> list[tuple[str, str]]:
    """``(found, meant)`` for each of ``names`` the loader does not read whose name is close to one it does (and
    that one is not there too): ``traces.json`` for ``traces.jsonl``, an inline ``predictionz`` for
    ``predictions``. Their data is left out; `Bundle.unread` and `rca validate` say so."""
    import difflib

    out = []
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(name.lower() if lower else name, known, n=1, cutoff=0.8)
        if close and close[0] not in names:
            out.append((name, close[0]))
    return out


def bundle_from_dict(body: dict[str, Any], *, source: str = "inline") -> B.Bundle:
    """Load a bundle given inline as JSON (the API body): keys are the file stems.

    ``{"incident": {...}, "predictions": [{...}, ...], "histograms": [...], "feature_samples": [...],
    "traces": [ExportTraceServiceRequest, ...], "kpis": [...], "metrics": [...], "events": [...],
    "graph": {...}}``. Only ``incident`` is required.
    """
    if not isinstance(body, dict):
        raise BundleError("expected a JSON object with an 'incident' key", file=source)
    return _Loader(None, collect=False, inline=body).load()


def load_label(path: str | Path) -> Label:
    """The answer key of a labeled incident. Analysis never calls this.

    Raises
    ------
    BundleError
        For a missing or malformed ``label.json``, or a cause whose node is not ``kind:name`` with the node kind
        its cause kind names (`rca.contract.models.cause_node_problem`).
    """
    with bundle_directory(path) as root:
        if not _present(root / "label.json", "label.json"):
            raise BundleError("missing; a labeled incident needs label.json", file="label.json")
        data = _read_json(root / "label.json", "label.json")
        label = _model(Label, data, "label.json")
        for i, cause in enumerate(label.causes):
            if problem := cause_node_problem(cause.node, cause.kind):
                raise BundleError(problem, file="label.json", field=f"causes.{i}.node")
        return label


@contextmanager
def bundle_directory(path: str | Path) -> Iterator[Path]:
    """Yield a directory holding the bundle files: the path itself, or a safe extraction of an archive."""
    path = Path(path)
    if path.is_dir():
        yield path
        return
    if not path.exists():
        raise BundleError(f"no such bundle: {path}; expected a directory, .tar.gz or .zip")
    if not is_archive(path):
        raise BundleError(f"{path.name} is neither a directory nor a .tar.gz/.tgz/.tar/.zip archive",
                          file=path.name)
    with tempfile.TemporaryDirectory(prefix="rca-bundle-") as tmp:
        yield extract_archive(path, Path(tmp))


# ----------------------------------------------------------------------------------------------- the loader
def inline_name(name: str) -> str:
    """What errors call a bundle file of an inline (JSON) body: its key, as ``histograms (inline)``."""
    return f"{name.split('.')[0]} (inline)"


class _Loader:
    def __init__(self, root: Path | None, *, collect: bool, inline: dict | None = None,
                 incident_checks: Callable[[Incident], list[BundleError]] | None = None) -> None:
        self.root = root
        self.collect = collect
        self.inline = inline
        self.incident_checks = incident_checks
        self.errors: list[BundleError] = []
        self.names: dict[str, str] = {"spans": self.where("traces.jsonl"), "histograms": self.where("histograms.jsonl")}

    def where(self, name: str) -> str:
        """What errors call the bundle file ``name``: itself, or for an inline body its key, as ``histograms (inline)``
        (rows are then the array's items, from 1), as the tables are named."""
        return name if self.inline is None else inline_name(name)

    # -- error handling: raise at once, or collect and go on with the next file
    def fail(self, message: str, *, file: str, row: int | None = None, field: str | None = None) -> None:
        raise BundleError(message, file=file, row=row, field=field)

    def guarded(self, fn: Callable[[], Any]) -> Any:
        if not self.collect:
            return fn()
        try:
            return fn()
        except BundleErrors as exc:
            self.errors.extend(exc.errors)
        except BundleError as exc:
            self.errors.append(exc)
        return None

    def load(self) -> B.Bundle:
        incident = self.incident()  # fatal when missing or bad: nothing else means anything without it
        if self.incident_checks is not None:
            self.errors.extend(self.incident_checks(incident))
        parts: dict[str, Any] = {}
        parts["predictions"] = self.guarded(lambda: self.table("predictions", _predictions))
        parts["histograms"] = self.guarded(self.histograms) or {}
        parts["feature_samples"] = self.guarded(lambda: self.table("feature_samples", _feature_samples))
        parts["spans"] = self.guarded(self.traces)
        parts["kpis"] = self.guarded(lambda: self.table("kpis", _kpis))
        parts["metrics"] = self.guarded(lambda: self.table("metrics", _metrics))
        parts["events"] = tuple(self.guarded(self.events) or ())
        parts["graph"] = self.guarded(self.graph)
        self.errors.extend(_outside_windows(incident, parts, self.names))
        if self.errors and not self.collect:
            raise self.errors[0]
        if self.errors:
            raise BundleErrors(self.errors)
        source = str(self.root) if self.root is not None else "inline"
        unread = _misnamed(self.root) if self.root is not None else _close_names(
            [str(k) for k in self.inline], INLINE_KEYS)
        return B.with_event_nodes(B.Bundle(incident=incident, source=source, unread=tuple(unread), **parts))

    # -- sources: a file in the directory or a key of the inline body
    def json_doc(self, name: str) -> Any | None:
        if self.inline is not None:
            key = name.removesuffix(".json")
            if key == "incident" and key not in self.inline:
                self.fail("missing; every bundle needs an incident (incident.json in a bundle of files)",
                          file=self.where(name))
            return self.inline.get(key)
        path = self.root / name
        if not _present(path, name):
            if name == "incident.json":
                self.fail("missing; every bundle needs incident.json", file=name)
            return None
        return _read_json(path, name)

    def jsonl(self, name: str) -> list[tuple[int, Any]] | None:
        if self.inline is not None:
            items = self.inline.get(name.removesuffix(".jsonl"))
            if items is None:
                return None
            if not isinstance(items, list):
                self.fail("expected a JSON array", file=self.where(name))
            return list(enumerate(items, start=1)) or None  # [] is no data: the family is absent
        path = self.root / name
        if not _present(path, name):
            return None
        text = _read_text(path, name, blank=True)
        out = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                # a first line that only opens an array or an object: pretty-printed JSON, not JSON Lines
                hint = "" if out else PRETTY_PRINTED.get(line.strip(), "")
                self.fail(f"not valid JSON ({exc.msg} at column {exc.colno}){hint}", file=name, row=lineno)
            except RecursionError:
                self.fail(TOO_DEEP, file=name, row=lineno)
        return out or None  # an empty file (an exporter that had nothing to write) is no data: the family is absent

    def raw_table(self, stem: str) -> tuple[pd.DataFrame, str] | None:
        if self.inline is not None:
            rows = self.inline.get(stem)
            if rows is None:
                return None
            name = inline_name(stem)
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                self.fail("expected a JSON array of row objects", file=name)
            if not rows:
                return None  # no rows: the family is absent
            return pd.DataFrame.from_records(rows), name
        found = [self.root / f"{stem}{suffix}" for suffix in TABLE_SUFFIXES
                 if _present_table(self.root / f"{stem}{suffix}", f"{stem}{suffix}")]
        if not found:
            return None
        if len(found) > 1:
            self.fail(f"both {found[0].name} and {found[1].name} present; expected one", file=found[0].name)
        frame = _read_table(found[0], numbers=CSV_NUMBERS.get(stem))
        return None if frame is None else (frame, found[0].name)

    # -- the parts
    def incident(self) -> Incident:
        data = self.json_doc("incident.json")
        return _model(Incident, data, self.where("incident.json"))

    def table(self, stem: str, parse: Callable[[pd.DataFrame, str], pd.DataFrame]) -> pd.DataFrame | None:
        raw = self.raw_table(stem)
        if raw is None:
            return None
        frame, name = raw
        self.names[stem] = name
        return parse(frame, name)

    def histograms(self) -> dict[str, B.FeatureHistograms]:
        lines = self.jsonl("histograms.jsonl")
        if lines is None:
            return {}
        name = self.where("histograms.jsonl")
        training: dict[str, Any] = {}
        serving: dict[str, list] = {}
        edges: dict[str, tuple[list[float], int]] = {}
        observed: dict[str, float] = {}
        errors: list[BundleError] = []
        for lineno, obj in lines:
            try:
                hist = _model(_HISTOGRAM, obj, name, row=lineno)
            except BundleError as exc:
                if not self.collect:
                    raise
                errors.append(exc)
                continue
            first = training.get(hist.feature) or (serving.get(hist.feature) or [None])[0]
            if first is not None and first.type != hist.type:
                errors.append(BundleError(f"feature {shown(hist.feature)} is {hist.type} here but {first.type} on an "
                                          "earlier line; expected one type per feature", file=name, row=lineno,
                                          field="type"))
            elif hist.type == "numeric":
                seen = edges.setdefault(hist.feature, (hist.edges, lineno))
                if seen[0] != hist.edges:
                    errors.append(BundleError(f"feature {shown(hist.feature)} has edges that differ from line "
                                              f"{seen[1]}; all histograms of a feature share edges", file=name,
                                              row=lineno, field="edges"))
            before = observed.get(hist.feature, 0.0)
            observed[hist.feature] = before + hist.observed()
            if math.isfinite(before) and not math.isfinite(observed[hist.feature]):  # the generators add them up
                errors.append(BundleError(f"feature {shown(hist.feature)} has counts that add up past the largest "
                                          "float (with this line's); expected counts of observations", file=name,
                                          row=lineno, field="counts"))
            if hist.role == "training":
                if hist.feature in training:
                    errors.append(BundleError(f"second training histogram for {shown(hist.feature)}; expected one "
                                              "reference per feature", file=name, row=lineno, field="role"))
                training[hist.feature] = hist
            else:
                serving.setdefault(hist.feature, []).append(hist)
            if errors and not self.collect:
                raise errors[0]
        if errors:
            raise BundleErrors(errors)
        return {
            feature: B.FeatureHistograms(
                feature=feature, training=training.get(feature),
                serving=tuple(sorted(serving.get(feature, []), key=lambda h: h.start)))
            for feature in sorted(set(training) | set(serving))
        }

    def events(self) -> list[Event]:
        lines = self.jsonl("events.jsonl")
        if lines is None:
            return []
        events, errors = [], []
        for lineno, obj in lines:
            try:
                events.append(_model(Event, obj, self.where("events.jsonl"), row=lineno))
            except BundleError as exc:
                if not self.collect:
                    raise
                errors.append(exc)   # rca validate reports every bad line, as for histograms
        if errors:
            raise BundleErrors(errors)
        # events at the same time in the order of their content, not of their lines: the answer must not
        # depend on the order in which a producer happened to write them
        return sorted(events, key=lambda e: (e.timestamp, json.dumps(e.model_dump(mode="json"), sort_keys=True,
                                                                     default=str)))

    def graph(self) -> nx.DiGraph | None:
        data = self.json_doc("graph.json")
        if data is None:
            return None
        declared = _model(DependencyGraph, data, self.where("graph.json"))
        graph = nx.DiGraph()
        for node in declared.nodes:
            attrs = node.model_dump(exclude={"id"})
            graph.add_node(node.id, **attrs)
        for i, edge in enumerate(declared.edges):
            for end in ("source", "target"):
                node = getattr(edge, end)
                if node in graph:
                    continue
                # an edge's end not in "nodes" is a node of its own, as networkx's node_link_graph makes it, when
                # its id says its kind
                if problem := node_id_problem(node, example="service:db"):
                    self.fail(f"edge {i} {end}: {problem} (or a node declared in 'nodes')",
                              file=self.where("graph.json"), field=f"edges.{i}.{end}")  # dotted, as pydantic's
                graph.add_node(node, kind=node_kind(node))
            graph.add_edge(edge.source, edge.target, **edge.model_dump(exclude={"source", "target"}))
        return graph

    def traces(self) -> pd.DataFrame | None:
        if self.inline is None and _present(self.root / "traces.jsonl", "traces.jsonl"):
            frame = read_otlp_columnar((self.root / "traces.jsonl").read_bytes())
            if frame is not None:
                return frame
        lines = self.jsonl("traces.jsonl")
        if lines is None:
            return None
        return parse_otlp(lines, self.where("traces.jsonl"), collect=self.collect)


def _outside_windows(incident: Incident, parts: dict[str, Any], names: dict[str, str]) -> list[BundleError]:
    """An error for each time table (or the serving histograms) with nothing between the start of the earlier
    window and the end of the later one: the whole family would be read as absent, without a word. Integer
    timestamps in seconds instead of the contract's milliseconds are the usual cause, and the message says so."""
    lo = min(incident.baseline.start, incident.current.start)
    hi = max(incident.baseline.end, incident.current.end)
    # family -> (starts, ends, what a row is, the field its time is in)
    found: dict[str, tuple[pd.Series, pd.Series, str, str]] = {}
    for stem in ("predictions", "kpis", "metrics"):
        if parts.get(stem) is not None:
            found[stem] = (parts[stem]["timestamp"], parts[stem]["timestamp"], "row", "timestamp")
    samples = parts.get("feature_samples")
    if samples is not None and "role" in samples:
        serving = samples.loc[samples["role"] == "serving", "timestamp"]
        if len(serving):
            found["feature_samples"] = (serving, serving, "serving row", "timestamp")
    if parts.get("spans") is not None and len(parts["spans"]):
        found["spans"] = (parts["spans"]["start"], parts["spans"]["start"], "span", "startTimeUnixNano")
    buckets = [h for f in (parts.get("histograms") or {}).values() for h in f.serving]
    if buckets:
        found["histograms"] = (pd.Series([h.start for h in buckets]), pd.Series([h.end for h in buckets]),
                               "serving histogram", "start")
    errors = []
    for family, (starts, ends, what, field) in found.items():
        starts, ends = pd.to_datetime(starts, utc=True), pd.to_datetime(ends, utc=True)
        bucket = what == "serving histogram"   # a bucket counts when it overlaps the span, a row when inside it
        inside = (ends > lo) & (starts < hi) if bucket else (starts >= lo) & (starts < hi)
        if inside.any():
            continue
        first, last = starts.min(), ends.max()
        hint = ""
        if last < pd.Timestamp("1971-01-01", tz="UTC"):  # a coarser unit than the one read lands in 1970
            hint = ("; span times are epoch nanoseconds, and these look like milliseconds or microseconds"
                    if family == "spans" else
                    "; integer timestamps are epoch milliseconds, and these look like seconds")
        errors.append(BundleError(f"no {what} falls in the incident's windows ({_iso(lo)} to {_iso(hi)}): its "
                                  f"timestamps run from {_iso(first)} to {_iso(last)}{hint}",
                                  file=names.get(family, family), field=field))
    return errors


def _iso(t) -> str:
    return pd.Timestamp(t).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------ file reading
def _present(path: Path, name: str) -> bool:
    """Whether the bundle has the file ``name``: False when nothing has that name, a `BundleError` when
    something does that is not a regular file (a directory, a FIFO...), which no reader can open."""
    if path.is_file():
        return True
    if not path.exists():
        return False
    what = "is a directory" if path.is_dir() else "is not a regular file"
    raise BundleError(f"{what}; expected a file", file=name)


def _present_table(path: Path, name: str) -> bool:
    """`_present`, but a ``.parquet`` name may be a directory: a Parquet dataset as Spark, Dask or pyarrow write
    it (part files, hive ``key=value`` subdirectories; names starting with ``_`` or ``.``, such as ``_SUCCESS``
    and checksum files, are skipped), read as one table."""
    return (path.suffix == ".parquet" and path.is_dir()) or _present(path, name)


PRETTY_PRINTED = {"[": "; the file looks like one JSON array: expected one JSON object per line (JSON Lines)",
                  "{": "; the file looks like JSON over several lines: expected one JSON object per line (JSON Lines)"}


def _read_text(path: Path, name: str, *, blank: bool = False) -> str:
    """The file's UTF-8 text; an empty or blank file is an error, or with ``blank`` (an optional file, which then
    holds no data) ''."""
    data = path.read_bytes()
    if not data.strip():
        if blank:
            return ""
        raise BundleError("empty file", file=name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        where, row = "", line                # JSONL: the line, as every other JSONL message gives it
        if name.endswith(".csv"):            # a data row, as every other table message gives it
            where, row = (" in the header", None) if line == 1 else ("", line - 1)
        elif not name.endswith(".jsonl"):    # a JSON document has lines, not rows
            where, row = f" at line {line}", None
        raise BundleError(f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}{where}); "
                          "expected UTF-8 text", file=name, row=row) from exc


def unreadable_json(exc: UnicodeDecodeError | json.JSONDecodeError) -> str:
    """What a JSON document that does not decode gets told: where it stops, and what was expected."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 at byte {exc.start}; expected a UTF-8 JSON object"
    return f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"


def _read_json(path: Path, name: str) -> Any:
    text = _read_text(path, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(unreadable_json(exc), file=name) from exc
    except RecursionError:
        raise BundleError(TOO_DEEP, file=name) from None


CSV_NUMBERS = {"predictions": ("timestamp", "score", "label", "latency_ms"), "kpis": ("timestamp", "value"),
               "metrics": ("timestamp", "value")}
"""Per table, the columns of a CSV file whose types pandas may guess; the others are text the contract names
(model versions, segment values, KPI and metric names, services, dimensions) and are read as written: guessed,
a version ``2026.10`` became the node ``model:m@2026.1`` and a segment ``01`` became ``segment:zip=1``. Feature
samples' columns are guessed (a feature is numbers or text)."""


def _read_table(path: Path, *, numbers: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    """The table, or None when it holds no rows (an empty file, a CSV header alone, a Parquet file of no rows): an
    exporter that had nothing to write, so the family is absent. With ``numbers``, a CSV file's other columns are
    read as text (`CSV_NUMBERS`)."""
    name = path.name
    if path.is_dir():
        return _read_parquet_dataset(path, name)
    if path.stat().st_size == 0:
        return None
    if path.suffix == ".csv":
        text = _read_text(path, name, blank=True)
        if not text:
            return None
        try:
            header = next(csv.reader(io.StringIO(text)), [])
        except csv.Error as exc:  # a field past the csv module's limit (131072 characters)
            raise BundleError(f"the header is not a readable CSV row ({exc}); expected the column names",
                              file=name) from exc
        _one_column_per_name(header, name, "the header")  # pandas would read a second one as "score.1"
        try:
            with warnings.catch_warnings():
                # every row longer than the header: pandas would read the extra leading fields as an index
                warnings.simplefilter("error", pd.errors.ParserWarning)
                text_columns = None if numbers is None else {c: str for c in header if c not in numbers}
                frame = pd.read_csv(io.StringIO(text), low_memory=False, index_col=False, dtype=text_columns)
        except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, ValueError) as exc:
            said = str(exc).strip()
            raise _csv_shape_error(text, len(header), name, said) or BundleError(
                f"not a readable CSV table ({said})", file=name) from exc
    else:
        import pyarrow.parquet as pq

        try:
            _one_column_per_name(pq.read_schema(path).names, name, "the schema")  # pyarrow: "Multiple matches"
            frame = pd.read_parquet(path)
        except BundleError:
            raise
        except Exception as exc:  # pyarrow raises many types for a corrupt or truncated file
            said = " ".join(str(exc).replace(str(path), name).split())  # one line (a schema takes many)
            raise BundleError(f"not a readable Parquet file ({type(exc).__name__}: {said})", file=name) from exc
    return None if len(frame) == 0 else frame


def _read_parquet_dataset(path: Path, name: str) -> pd.DataFrame | None:
    """A Parquet dataset directory (`_present_table`) as one table; None when its part files hold no rows (or
    there are none: an exporter that wrote nothing). Hive partition keys become columns, as Spark reads them back."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    parts = sorted(p for p in path.rglob("*")
                   if p.is_file() and not any(s.startswith(("_", ".")) for s in p.relative_to(path).parts))
    if not parts:
        return None
    schemas = []
    for part in parts:
        where = f"{name}/{part.relative_to(path).as_posix()}"
        try:
            schemas.append(pq.read_schema(part))
        except Exception as exc:  # not Parquet, truncated
            said = " ".join(str(exc).replace(str(part), where).split())
            raise BundleError(f"not a readable Parquet file ({type(exc).__name__}: {clipped(said, 300)}); expected "
                              f"every part file of the dataset to be Parquet", file=where) from exc
        _one_column_per_name(schemas[-1].names, where, "the schema")
    # pandas' index (a RangeIndex is no column; another one is, named like __index_level_0__): not data, as
    # pd.read_parquet leaves it out of a single file's table
    index = {c for sc in schemas for c in (sc.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
    try:
        # one schema for all parts: a column all null in one part (type null) takes the others' type, ints widen, a
        # category of one writer is the text of another, a time without zone is UTC (as everywhere in a bundle)
        schema = pa.unify_schemas([_plain_schema(sc) for sc in schemas], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        said = " ".join(str(exc).split())
        raise BundleError(f"its part files' schemas disagree ({clipped(said, 300)}); expected one type per column",
                          file=name) from exc
    # hive keys as text, as written (a country=01 stays '01'); Spark's __HIVE_DEFAULT_PARTITION__ is a null
    keys = sorted({d.name.split("=", 1)[0] for part in parts for d in part.relative_to(path).parents
                   if "=" in d.name} - set(schema.names))
    partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in keys]), flavor="hive") if keys else None
    try:
        frame = ds.dataset(path, schema=pa.schema([*schema, *((k, pa.string()) for k in keys)]), format="parquet",
                           partitioning=partitioning).to_table().to_pandas()
        frame = frame.drop(columns=[c for c in frame.columns if c in index])
    except Exception as exc:  # a value one part's type cannot be cast to the dataset's
        said = " ".join(str(exc).replace(str(path), name).split())
        raise BundleError(f"not a readable Parquet dataset of {len(parts)} part file(s) ({type(exc).__name__}: "
                          f"{clipped(said, 300)}); expected Parquet part files with one schema", file=name) from exc
    return None if len(frame) == 0 else frame


def _plain_schema(schema):
    """``schema`` with dictionary columns as their values' type and times without a zone as UTC: what one writer
    stores as a category or a naive time, another stores as text or an aware one, and both read alike."""
    import pyarrow as pa

    def plain(t):
        if pa.types.is_dictionary(t):
            return plain(t.value_type)
        if pa.types.is_timestamp(t) and t.tz is None:
            return pa.timestamp(t.unit, tz="UTC")
        return t
    return pa.schema([f.with_type(plain(f.type)) for f in schema], metadata=schema.metadata)


def _one_column_per_name(columns: list[str], name: str, where: str) -> None:
    twice = [c for i, c in enumerate(columns) if c in columns[:i]]
    if twice:
        raise BundleError(f"column {shown(twice[0])} appears more than once in {where}; expected one column per "
                          "name", file=name, field=twice[0])


def _csv_shape_error(text: str, width: int, name: str, said: str) -> BundleError | None:
    """The first data row with more fields than the header's ``width`` or, when pandas ``said`` a quoted field runs
    to the end of the file, the row that opens it; None when neither is found.

    Rows are numbered as every other error numbers them: data rows from 1, blank lines skipped (pandas' "starting
    at row N" counts the header and blank lines)."""
    rows = csv.reader(io.StringIO(text))
    next(rows, None)
    number = 0
    try:
        for fields in rows:
            if not fields:
                continue
            number += 1
            if len(fields) > width:
                return BundleError(f"{len(fields)} fields where the header has {width}; expected one value per "
                                   "column", file=name, row=number)
    except csv.Error:  # a field past the csv module's limit: the one the row being read opened and never closed
        number += 1
    if "EOF inside string" in said and number:  # the csv module reads the open field to the end: the last row
        return BundleError('a quoted field opened in this row is never closed; expected a closing double quote',
                           file=name, row=number)
    return None


def _model(model, data: Any, name: str, *, row: int | None = None):
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data)
        return model.model_validate(data)
    except ValidationError as exc:
        err, *others = exc.errors()
        loc = _loc(err)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("missing", "union_tag_not_found"):
            message = "required field is missing"
            loc = loc or "type"  # a histogram line without its discriminator
        elif err["type"] == "union_tag_invalid" or "discriminator" in err["type"]:
            message = "expected 'type' to be 'numeric' or 'categorical'"
            loc = "type"
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type") and not loc:  # a whole line or file
            found = json.dumps(err["input"], default=str)  # as the file writes it: null, "x", [1, 2]
            message = f"{clipped(found)} is not a JSON object; expected one"
        if others:  # where the others are, so that one fix does not lead to the next error
            where = sorted({_loc(o) or "(the object)" for o in others} - {loc})
            message += f" (+{len(others)} more" + (f", at {', '.join(where[:5])}{', ...' if len(where) > 5 else ''}"
                                                   if where else "") + ")"
        raise BundleError(message, file=name, row=row, field=loc or None) from exc


def _loc(err: dict) -> str:
    """A pydantic error's location, dotted, without the validators and union members pydantic names in it."""
    return _clean_union_loc(".".join(str(p) for p in err["loc"]
                                     if not str(p).startswith(("function-after", "tagged-union"))))


def _clean_union_loc(loc: str) -> str:
    """A histogram error's location without the union member it was checked against (its ``type`` tag)."""
    for tag in ("numeric", "categorical"):
        if loc == tag or loc.startswith(f"{tag}."):
            return loc.removeprefix(tag).removeprefix(".")
    return loc


# ------------------------------------------------------------------------------------------------ tables
def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        has = ", ".join(map(str, frame.columns))
        separator = next((c for c in ";\t|" if len(frame.columns) == 1 and c in str(frame.columns[0])), None)
        hint = f"; the header is one column: fields separated by {separator!r}? expected commas" if separator else ""
        raise BundleError(f"required column missing; has {has}{hint}", file=name, field=missing[0])


def _timestamps(frame: pd.DataFrame, name: str, column: str = "timestamp") -> pd.Series:
    _require_utf8(frame[column], name)   # a Parquet binary column is decoded to be parsed as text
    parsed, bad = parse_timestamp_column(frame[column])
    if bad is not None:
        value = frame[column].iloc[bad]
        raise BundleError(f"cannot parse {shown(value)}; expected an RFC 3339 timestamp or integer epoch "
                          f"milliseconds, from {COLUMN_RANGE}{_finer_unit(value)}", file=name, row=bad + 1,
                          field=column)
    return parsed


def _finer_unit(value: Any) -> str:
    """A hint when ``value`` reads as a time of 2000-2100 in epoch micro- or nanoseconds, else ''."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    for unit, per_ms in (("microseconds", 1e3), ("nanoseconds", 1e6)):
        if 946_684_800_000 <= number / per_ms < 4_102_444_800_000:
            return f"; this looks like epoch {unit}"
    return ""


def _numbers(frame: pd.DataFrame, name: str, column: str, *, nullable: bool = False) -> pd.Series:
    values = frame[column]
    if pd.api.types.is_bool_dtype(values):
        values = values.astype("float64")
    try:
        numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    except OverflowError:  # an integer past float64 (JSON allows any): inf here, so refused below with its row
        numeric = pd.Series([_float_or_nan(v) for v in values], index=values.index, dtype="float64")
    bad = numeric.isna() & (values.notna() if nullable else True)
    bad |= np.isinf(numeric.to_numpy())
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        if pd.isna(values.iloc[pos]):  # a CSV reads '', NA, n/a, null, NaN and the like as missing
            raise BundleError("a missing value (an empty cell, or NA, n/a, null or NaN); expected a finite number",
                              file=name, row=pos + 1, field=column)
        raise BundleError(f"{shown(values.iloc[pos])} is not a finite number", file=name, row=pos + 1, field=column)
    return numeric


YES_NO = {"yes": 1.0, "no": 0.0, "y": 1.0, "n": 0.0, "true": 1.0, "false": 0.0, "t": 1.0, "f": 0.0}
"""Words a classifier's label is written in by tools that export labels as text (a CSV of ``yes``/``no``, Spark's
``true``/``false``), any case: read as 1 and 0."""


def _yes_no(values: pd.Series) -> pd.Series:
    """A text label column's yes/no words (`YES_NO`) as 1 and 0, the rest as it is (nulls kept): a stray word
    (``maybe``) then gets `_numbers`' message with its row."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    try:
        distinct = values.dropna().unique()
    except TypeError:   # unhashable cells: `_numbers` names them
        return values
    words = {v: YES_NO[v.strip().lower()] for v in distinct if isinstance(v, str) and v.strip().lower() in YES_NO}
    if not words:
        return values
    return values.astype(object).map(lambda v: words.get(v, v) if isinstance(v, str) else v)


def _require_values(frame: pd.DataFrame, name: str, column: str) -> None:
    """A key column (a model version, a service, a series name): every row needs a non-blank value."""
    values = frame[column]
    blank = values.isna()
    if not pd.api.types.is_numeric_dtype(values):
        try:
            distinct = values.dropna().unique()
        except TypeError:  # unhashable cells: arrays or objects (a Parquet list column, JSON arrays inline)
            pos = int(np.flatnonzero([not isinstance(v, Hashable) for v in values])[0])
            shape = "an object" if isinstance(values.iloc[pos], dict) else "an array"
            raise BundleError(f"{shown(values.iloc[pos])} is {shape}; expected a text value", file=name,
                              row=pos + 1, field=column) from None
        blanks = [v for v in distinct if not str(v).strip()]  # few distinct values: check those
        if blanks:
            blank |= values.isin(blanks)
    if blank.any():
        pos = int(np.flatnonzero(blank.to_numpy())[0])
        found = "empty" if pd.isna(values.iloc[pos]) else f"blank ({shown(values.iloc[pos])})"
        raise BundleError(f"{found}; expected a value in every row", file=name, row=pos + 1, field=column)


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return math.nan


def _strings(values: pd.Series) -> pd.Series:
    return values.astype("string").astype(object).where(values.notna(), None)


def _categories(values: pd.Series) -> pd.Series:
    return values.astype("string").astype("category")


@functools.cache
def _text_dtype() -> Any:
    """The dtype pandas gives a column assigned from an object array of str and None."""
    return pd.Series(["text", None]).dtype


def _text(values: pd.Series, convert: Callable[[pd.Series], pd.Series], name: str) -> Any:
    """``convert(values)`` as an array to assign to a column: a column that already has the dtype that array
    would be given (pandas' string dtype) is kept as it is, instead of going through 100k Python objects.
    (An all-null column is given ``object``, so it takes the long way.)"""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype == _text_dtype() and values.notna().any():
        return values.array
    _require_utf8(values, name)
    return convert(values).to_numpy()


def _require_utf8(values: pd.Series, name: str) -> None:
    """A column read as text whose cells are bytes (a Parquet ``binary`` column, plain or dictionary-encoded)
    must hold UTF-8: pandas decodes the bytes when converting, and would stop with a UnicodeDecodeError."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        pool, codes = values.cat.categories, values.cat.codes.to_numpy()
    elif values.dtype == object:
        pool, codes = values, None
    else:
        return
    if pd.api.types.infer_dtype(pool, skipna=True) not in ("bytes", "mixed"):
        return
    bad = [i for i, v in enumerate(pool) if isinstance(v, bytes) and not _is_utf8(v)]
    if not bad:
        return
    pos = bad[0] if codes is None else int(np.flatnonzero(np.isin(codes, bad))[0])
    value = values.iloc[pos]
    start = _utf8_error(value).start
    raise BundleError(f"not UTF-8 (byte 0x{value[start]:02x} at offset {start} of the value); expected UTF-8 "
                      "text", file=name, row=pos + 1, field=str(values.name))


def _utf8_error(value: bytes) -> UnicodeDecodeError | None:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    return None


def _is_utf8(value: bytes) -> bool:
    return _utf8_error(value) is None


def _predictions(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    _require(frame, name, B.PREDICTION_COLUMNS)
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    out["timestamp"] = _timestamps(frame, name).array
    _require_values(frame, name, "model_version")
    out["model_version"] = _text(frame["model_version"], _categories, name)
    out["score"] = _numbers(frame, name, "score").to_numpy()
    if "label" in frame:
        labels = pd.DataFrame({"label": _yes_no(frame["label"])})   # one column: no copy of the table
        out["label"] = _numbers(labels, name, "label", nullable=True).to_numpy()
    if "latency_ms" in frame:
        out["latency_ms"] = _numbers(frame, name, "latency_ms", nullable=True).to_numpy()
    if "trace_id" in frame:
        out["trace_id"] = _text(frame["trace_id"], _strings, name)
    for column in frame.columns:
        if column not in out.columns:
            out[str(column)] = _text(frame[column], _categories, name)
    return _in_time_order(out)


def _in_time_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by timestamp (stable), index 0..n-1; a table already in order is returned as is."""
    index = frame.index
    if (frame["timestamp"].is_monotonic_increasing and isinstance(index, pd.RangeIndex) and index.start == 0
            and index.step == 1):
        return frame
    return frame.sort_values("timestamp", kind="stable", ignore_index=True)


# The table parsers below get a frame the loader has just read (or built from inline rows) and no one else
# holds, so they convert its columns in place instead of copying it first.
def _feature_samples(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    _require(frame, name, B.SAMPLE_COLUMNS)
    out = frame
    out["timestamp"] = _timestamps(frame, name).array
    if "role" in out:
        _require_utf8(out["role"], name)
        role = out["role"].astype(object).fillna("serving").astype(str)  # numbers too: as text, refused below
        bad = ~role.isin(["training", "serving"])
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise BundleError(f"{shown(role.iloc[pos])}; expected 'training' or 'serving'", file=name, row=pos + 1,
                              field="role")
        out["role"] = role
    else:
        out["role"] = "serving"
    for column in out.columns:
        if column not in ("timestamp", "role"):
            _no_integer_past_float(out[column], name)
    return _in_time_order(out)


def _no_integer_past_float(values: pd.Series, name: str) -> None:
    """A feature column is kept as sent, but the generators read its numbers as floats: an integer no float holds
    (JSON allows any, so an inline table can send one) must be refused here, with its row."""
    if values.dtype != object or "integer" not in pd.api.types.infer_dtype(values, skipna=True):
        return
    for pos, value in enumerate(values):
        if isinstance(value, int) and math.isinf(_float_or_nan(value)):
            raise BundleError(f"{shown(value)} is an integer past the largest float; expected a number a float "
                              "holds (or text)", file=name, row=pos + 1, field=str(values.name))


def _series(frame: pd.DataFrame, name: str, required: tuple[str, ...]) -> pd.DataFrame:
    """KPI and metric tables: timestamp, string keys, a numeric ``value``, then string dimensions."""
    _require(frame, name, required)
    for column in required:
        if column not in ("timestamp", "value"):  # the keys: name (and service)
            _require_values(frame, name, column)
    out = frame
    out["timestamp"] = _timestamps(frame, name).array
    out["value"] = _numbers(frame, name, "value").to_numpy()
    for column in out.columns:
        if column in ("timestamp", "value"):
            continue
        out[column] = _text(frame[column], (lambda v: v.astype(str)) if column in required else _strings, name)
    return _in_time_order(out)


def _kpis(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return _series(frame, name, B.KPI_COLUMNS)


def _metrics(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return _series(frame, name, B.METRIC_COLUMNS)


def _dedupe(errors: list[BundleError]) -> list[BundleError]:
    seen, out = set(), []
    for e in errors:
        key = str(e)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
