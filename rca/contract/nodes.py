"""Node ids, ``kind:name`` (the contract's "Node ids" section)."""

from __future__ import annotations

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


def model_node(model: str, version: str) -> str:
    return f"model:{model}@{version}"


def segment_node(dimension: str, value: object) -> str:
    return f"segment:{dimension}={value}"


def labels_node(model: str) -> str:
    return f"labels:{model}"
