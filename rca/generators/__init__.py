"""Candidate generators, registered by name. `generate_candidates` runs them all on one bundle."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rca.contract.bundle import Bundle
from rca.errors import UnknownNameError
from rca.generators.base import Anomaly, Candidates, Generator, Hypothesis

_REGISTRY: dict[str, Callable[[], Generator]] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: register a generator class under ``name`` (its ``name`` attribute is set too)."""

    def wrap(cls: type) -> type:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load_builtin() -> None:
    # Importing the modules registers them; done lazily so importing rca.generators stays cheap.
    from rca.generators import builtin  # noqa: F401


def registered() -> list[str]:
    """Names of the registered generators, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def get_generator(name: str) -> Generator:
    _load_builtin()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownNameError("generator", name, _REGISTRY) from None


def generate_candidates(bundle: Bundle, names: Iterable[str] | None = None) -> Candidates:
    """Run the named generators (all registered ones by default) on one bundle and pool their output."""
    out = Candidates()
    for name in names if names is not None else registered():
        out.extend(get_generator(name).generate(bundle))
    return out


__all__ = ["Anomaly", "Candidates", "Generator", "Hypothesis", "generate_candidates", "get_generator",
           "register", "registered"]
