"""Node ids, ``kind:name`` (the contract's "Node ids" section)."""

from __future__ import annotations

import re

from rca.errors import shown

NODE_KINDS = ("feature", "service", "model", "segment", "kpi", "source", "pipeline", "labels")


def node_id(kind: str, name: str) -> str:
    """Build a node id. ``node_id("feature", "amount") == "feature:amount"``."""
    return f"{kind}:{name}"


def node_kind(node: str) -> str:
    """The kind part of a node id (everything before the first colon)."""
    return node.split(":", 1)[0]


def node_name(node: str) -> str:
    """The name part of a node id (everything after the first colon)."""
    return node.split(":", 1)[1] if ":" in node else node


def node_id_problem(node: str, *, example: str = "kpi:approval_rate") -> str | None:
    """What is wrong with ``node`` as a node id (``kind:name``, both parts non-blank), or None when it is one.

    >>> node_id_problem("approval_rate")
    "'approval_rate' is not a node id; expected kind:name such as kpi:approval_rate"
    >>> node_id_problem("feature: ") is not None
    True
    """
    if ":" not in node or not node_kind(node).strip():
        return f"{shown(node)} is not a node id; expected kind:name such as {example}"
    if not node_name(node).strip():
        return f"{shown(node)} has no name; expected a name after the colon ({node_kind(node)}:<name>)"
    return None


def model_node(model: str, version: str) -> str:
    return f"model:{model}@{version}"


def segment_node(dimension: str, value: object) -> str:
    return f"segment:{dimension}={value}"


def labels_node(model: str) -> str:
    return f"labels:{model}"


_V_VERSION = re.compile(r"v\d.*")
_MLFLOW_URI = re.compile(r"models:/(?P<model>[^/@]+)/(?P<version>[^/]+)/?")


def spelled_as(target: str, nodes: set[str] | frozenset[str]) -> str:
    """The node of ``nodes`` an event's ``target`` names when its spelling differs from the bundle's: MLflow's URI
    ``models:/<model>/<version>`` is ``model:<model>@<version>``; then case, ``-`` for ``_`` and a ``v`` before a
    model version's number (``@2`` for ``@v2``) are not told apart. A target that is a node, that matches none or
    more than one, is returned as it is (the URI rewritten).

    >>> spelled_as("models:/fraud-scorer/2", {"model:fraud-scorer@v2", "model:fraud-scorer@v1"})
    'model:fraud-scorer@v2'
    >>> spelled_as("pipeline:User-Profile", {"pipeline:user_profile"}), spelled_as("kpi:x", {"kpi:y"})
    ('pipeline:user_profile', 'kpi:x')
    """
    if match := _MLFLOW_URI.fullmatch(target):
        target = model_node(match["model"], match["version"])
    if target in nodes:
        return target
    key = _spelling(target)
    alike = [n for n in nodes if _spelling(n) == key]
    return alike[0] if len(alike) == 1 else target


def _spelling(node: str) -> str:
    kind, _, name = node.partition(":")
    name = name.lower().replace("-", "_")
    if kind.lower() == "model" and "@" in name:
        model, _, version = name.rpartition("@")
        name = f"{model}@{version[1:] if _V_VERSION.fullmatch(version) else version}"
    return f"{kind.lower()}:{name}"
