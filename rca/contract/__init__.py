"""The incident-bundle contract: models, loading and validation (the only place that parses files)."""

from rca.contract.bundle import Bundle, FeatureHistograms, empty_windows
from rca.contract.load import bundle_from_dict, load_bundle, load_label, validate_bundle
from rca.contract.models import (
    Answer,
    CategoricalHistogram,
    Cause,
    CauseKind,
    EmptyWindow,
    Event,
    Evidence,
    GeneratorError,
    Incident,
    Label,
    NotCompared,
    NumericHistogram,
    RankedCause,
    Symptom,
    Unread,
    Window,
)
from rca.contract.nodes import labels_node, model_node, node_id, node_kind, node_name, segment_node
from rca.contract.timestamps import format_timestamp, parse_timestamp

__all__ = [
    "Answer", "Bundle", "CategoricalHistogram", "Cause", "CauseKind", "EmptyWindow", "Event", "Evidence",
    "FeatureHistograms", "GeneratorError", "Incident", "Label", "NotCompared", "NumericHistogram", "RankedCause",
    "Symptom", "Unread", "Window",
    "bundle_from_dict", "empty_windows", "format_timestamp", "labels_node", "load_bundle", "load_label",
    "model_node", "node_id", "node_kind", "node_name", "parse_timestamp", "segment_node", "validate_bundle",
]
