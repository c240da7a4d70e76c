"""Node ids, ``kind:name`` (the contract's "Node ids" section)."""

from __future__ import annotations

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
