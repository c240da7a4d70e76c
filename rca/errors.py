"""The exceptions `rca` raises, all under one root.

    RcaError
    ├── BundleError            bad incident bundle: names the file, row or line, field, what was expected
    │   └── ArchiveError       unsafe, truncated or oversized .tar.gz / .zip
    ├── ConfigError            a setting or parameter out of range
    ├── UnknownNameError       a registry lookup (generator, ranker...) for a name that does not exist
    ├── NotFittedError         a model used before `fit`
    ├── NotFoundError          a stored object (incident, ranker version) that does not exist
    ├── ConflictError          a request that contradicts what is stored (same incident id, other body)
    └── InputError             a bad request value outside a bundle (a review, a filter): names the field

Every message says where (file, row, field), what was found and what was expected, in one line, so the
CLI can print it as is and exit with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable

SHOWN_MAX = 60
"""The longest a value quoted in a message gets (`shown`)."""


def shown(value: object, limit: int = SHOWN_MAX) -> str:
    """``value`` as a message quotes it: a numpy scalar as the plain value it holds (``nan``, ``3``, not
    ``np.float64(nan)``), a string in quotes, and anything longer than ``limit`` characters cut with ``...``.

    >>> shown(3), shown("yesterday"), len(shown("x" * 100)), shown("x" * 100)[-4:]
    ('3', "'yesterday'", 60, 'x...')
    """
    if type(value).__module__ == "numpy" and hasattr(value, "dtype"):  # a numpy scalar (no numpy import here)
        # str, not repr: repr is np.float64(nan); str prints a float32 as 0.1 (its .item() as 0.10000000149011612)
        # and a datetime64 as its time (its .item() can be an integer of nanoseconds). Strings keep their quotes.
        text = repr(value.item()) if value.dtype.kind in "SU" else str(value)
    else:
        text = repr(value)
    return clipped(text, limit)


def clipped(text: str, limit: int = SHOWN_MAX) -> str:
    """``text`` cut with ``...`` when longer than ``limit`` characters, as `shown` cuts a value."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RcaError(Exception):
    """Root of every error the engine raises on purpose."""


class BundleError(RcaError):
    """An incident bundle that does not follow the contract.

    Parameters
    ----------
    message : what is wrong and what was expected.
    file : the bundle file (relative name such as ``predictions.csv``), when known.
    row : 1-based data row for tables, 1-based line for JSONL files, when known.
    field : the column or JSON field, when known.
    """

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.field = field
        super().__init__(self.__str__())

    @property
    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"row {self.row}" if not _is_jsonl(self.file) else f"line {self.row}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        return {"message": self.message, "file": self.file, "row": self.row, "field": self.field}


def _is_jsonl(file: str | None) -> bool:
    return bool(file) and file.endswith(".jsonl")


class ArchiveError(BundleError):
    """An archive that cannot be extracted safely or completely."""


class BundleErrors(BundleError):
    """Several bundle problems at once (what `rca validate` reports)."""

    def __init__(self, errors: Iterable[BundleError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, file=first.file, row=first.row, field=first.field)

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return str(self.errors[0])
        return f"{len(self.errors)} problems; first: {self.errors[0]}"


class ConfigError(RcaError):
    """A parameter or setting with a value it does not accept."""

    def __init__(self, name: str, got: object, accepts: str) -> None:
        self.name, self.got, self.accepts = name, got, accepts
        super().__init__(f"{name}: got {got!r}, expected {accepts}")


class UnknownNameError(RcaError, KeyError):
    """A name that is not in a registry; the message lists the registered names."""

    def __init__(self, what: str, name: str, known: Iterable[str]) -> None:
        self.what, self.name, self.known = what, name, sorted(known)
        super().__init__(f"unknown {what} {name!r}; known: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:
        return self.args[0]


class NotFittedError(RcaError):
    """A model used before it was fitted or loaded."""


class NotFoundError(RcaError):
    """A stored object that does not exist."""


class ConflictError(RcaError):
    """A request that contradicts stored state, e.g. a different body under an existing incident id."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message, self.field = message, field
        super().__init__(message)


class InputError(RcaError):
    """A bad value in a request that is not a bundle (a review, a filter), naming the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message, self.field = message, field
        super().__init__(f"field '{field}': {message}" if field else message)


def error_detail(exc: RcaError) -> dict:
    """``exc`` as the API's error body gives it (`rca.api.errors`): ``message`` and ``field`` (a ConfigError's is
    the setting), and a BundleError's ``file`` and ``row``. The retrain status (`rca.service.last_retrain`) keeps a
    failed retrain's error so."""
    if isinstance(exc, BundleError):
        return {"message": str(exc), "field": exc.field, "file": exc.file, "row": exc.row}
    if isinstance(exc, ConfigError):
        return {"message": str(exc), "field": exc.name}
    return {"message": getattr(exc, "message", str(exc)), "field": getattr(exc, "field", None)}
