"""Prometheus metrics every node exposes on ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


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


@dataclass(frozen=True, slots=True)
class NodeSample:
    """What the national center knows of one node, as plain numbers (ages in seconds)."""

    node_id: str
    role: str
    backlog: int
    oldest_pending_age: float | None
    last_seen_age: float


class NodeGauges(Collector):
    """Per-node gauges read from the national center's monitoring table at every scrape.

    Labels are the node id and its role: node ids are bounded (one national center, one
    prefectural center, at most one per municipality), so the series count stays bounded.
    """

    def __init__(self, read: Callable[[], Iterable[NodeSample]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        labels = ["node", "role"]
        backlog = GaugeMetricFamily(
            "jukinet_node_outbox_backlog", "Undelivered outbox messages of the node", labels=labels
        )
        oldest = GaugeMetricFamily(
            "jukinet_node_oldest_pending_seconds",
            "Age of the node's oldest undelivered message (0 when none)",
            labels=labels,
        )
        seen = GaugeMetricFamily(
            "jukinet_node_last_seen_seconds",
            "Seconds since the node's last heartbeat reached the national center",
            labels=labels,
        )
        for s in self._read():
            backlog.add_metric([s.node_id, s.role], s.backlog)
            oldest.add_metric([s.node_id, s.role], s.oldest_pending_age or 0.0)
            seen.add_metric([s.node_id, s.role], s.last_seen_age)
        yield from (backlog, oldest, seen)
