"""Prometheus metrics every node exposes on ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class HttpMetrics:
    """Request counts and latencies per route template (never per raw path: bounded labels)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "jukinet_http_requests_total",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "jukinet_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
        )
