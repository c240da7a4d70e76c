"""The dependency graph of one incident and the propagation features computed on it.

An edge ``a -> b`` means "a fault in a can show up in b" (the contract's direction), so impact flows along
edges and causes sit upstream of their symptoms.
"""

from rca.graph.build import build_graph, symptom_node
from rca.graph.symptom import SYMPTOM_FEATURES, symptom_features
from rca.graph.features import GRAPH_FEATURES, UNREACHABLE, anomaly_weights, graph_features, personalized_pagerank

__all__ = ["GRAPH_FEATURES", "SYMPTOM_FEATURES", "symptom_features", "UNREACHABLE", "anomaly_weights", "build_graph",
           "graph_features", "personalized_pagerank", "symptom_node"]
