"""Prometheus text exposition, written by hand: a few counters and histograms per app instance.

Hand-written rather than `prometheus-client` so each app (and each test) has its own registry without a
process-global one, and no dependency is added for ~80 lines.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.buckets, value)  # value <= bucket bound (Prometheus' "le")
        if i < len(self.counts):
            self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: dict[str, str]) -> list[str]:
        out, running = [], 0
        for bound, n in zip(self.buckets, self.counts):
            running += n
            out.append(f"{name}_bucket{_labels({**labels, 'le': _num(bound)})} {running}")
        out.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {self.count}")
        out.append(f"{name}_sum{_labels(labels)} {_num(self.sum)}")
        out.append(f"{name}_count{_labels(labels)} {self.count}")
        return out


def _num(x: float) -> str:
    return repr(float(x)) if x != int(x) else f"{int(x)}.0"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


class Metrics:
    """Request counts and latencies by route, analysis durations by outcome, plus gauges read at scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], Histogram] = defaultdict(Histogram)
        self.analysis: dict[str, Histogram] = defaultdict(Histogram)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            self.latency[(method, route)].observe(seconds)

    def observe_analysis(self, status: str, seconds: float) -> None:
        with self._lock:
            self.analysis[status].observe(seconds)

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        """The exposition text; ``gauges`` maps a metric name to (help, value)."""
        lines = ["# HELP rca_http_requests_total HTTP requests by method, route template and status.",
                 "# TYPE rca_http_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                labels = _labels({"method": method, "route": route, "status": status})
                lines.append(f"rca_http_requests_total{labels} {n}")
            lines += ["# HELP rca_http_request_duration_seconds HTTP request latency by method and route.",
                      "# TYPE rca_http_request_duration_seconds histogram"]
            for (method, route), hist in sorted(self.latency.items()):
                lines += hist.lines("rca_http_request_duration_seconds", {"method": method, "route": route})
            lines += ["# HELP rca_analysis_duration_seconds Time to analyze one incident, by outcome.",
                      "# TYPE rca_analysis_duration_seconds histogram"]
            for status, hist in sorted(self.analysis.items()):
                lines += hist.lines("rca_analysis_duration_seconds", {"status": status})
        for name, (help_text, value) in sorted(gauges.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {_num(value)}"]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request under its route template (not the raw path)."""

    def __init__(self, app, metrics: Metrics, templates: list[str] = ()) -> None:
        from starlette.routing import compile_path

        self.app, self.metrics = app, metrics
        self.templates = [(compile_path(t)[0], t) for t in templates]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        import time

        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or self._template(scope["path"]) or "unmatched"
            self.metrics.observe_request(scope["method"], route, status["code"], time.perf_counter() - started)

    def _template(self, path: str) -> str | None:
        """The route template of a request answered before routing (a 413 of `rca.api.limits.BodyLimitMiddleware`
        was counted as 'unmatched'): the first of ``templates`` whose path matches, whatever its method."""
        return next((template for regex, template in self.templates if regex.match(path)), None)
