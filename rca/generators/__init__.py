"""Candidate generators, registered by name. `generate_candidates` runs them all on one bundle."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from rca.contract.bundle import Bundle
from rca.errors import UnknownNameError
from rca.generators.base import Anomaly, Candidates, Generator, Hypothesis

_REGISTRY: dict[str, Callable[[], Generator]] = {}
log = logging.getLogger(__name__)


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


def generate_candidates(bundle: Bundle, names: Iterable[str] | None = None, *, strict: bool = False) -> Candidates:
    """Run the named generators (all registered ones by default) on one bundle and pool their output.

    A generator that raises on the bundle (a bug met on data of a shape it was not written for) is left out, logged
    and named with its error in ``Candidates.failed``, so that the others still propose what they find: a surprise
    in one signal family does not cost the whole answer. With ``strict`` (building training tables) it raises."""
    out = Candidates()
    for name in names if names is not None else registered():
        generator = get_generator(name)
        try:
            found = generator.generate(bundle)
        except Exception as exc:
            if strict:
                raise
            log.exception("generator %s failed on incident %s; ranking without it", name, bundle.incident.id)
            out.failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        out.extend(found)
    return out


__all__ = ["Anomaly", "Candidates", "Generator", "Hypothesis", "generate_candidates", "get_generator",
           "register", "registered"]
