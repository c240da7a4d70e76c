"""Incident bundles QA wrote to imitate other tools' output, each with one injected fault and its known cause.

Not our simulator (`rca.simulate`): two QA engineers wrote these generators to check that the engine reads what
other sources export. `metrics` writes series as Kubernetes (cAdvisor, kube-state-metrics), Istio, Prometheus
client libraries and RCAEval's wide tables name them; `traces` writes OTLP/JSON as the OpenTelemetry SDKs, the
Collector's Jaeger and Zipkin receivers and Istio's Envoy sidecars spell it. `bench/other_sources.py` writes them
and ranks them. They are a regression check, never training data: their worlds are small and hand-made, and a
ranker fitted to them would learn the QA's simulator instead of incidents.
"""

from bench.qa_bundles.common import QaBundle
from bench.qa_bundles.metrics import METRIC_BUNDLES
from bench.qa_bundles.traces import TRACE_BUNDLES

ALL = (*METRIC_BUNDLES, *TRACE_BUNDLES)
"""Every bundle, the metrics family first, each in the order QA numbered them."""

__all__ = ["ALL", "METRIC_BUNDLES", "TRACE_BUNDLES", "QaBundle"]
