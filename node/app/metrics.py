"""Prometheus metrics (DESIGN §11): what an operator graphs and alerts on.

Counts that the database already keeps (entries refused by reason, sync outcomes per partner,
feed heads, indicators held) are read at scrape time, so they survive restarts and include
what ``accord sync`` or ``accord contribute`` did in another process. Match latency is observed
in this process. Labels carry names, reasons and categories — never hash values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from node.app.node import AccordNode
from node.errors import ConfigError
from node.model import is_loopback_endpoint
from node.model.clock import parse_timestamp
from node.sync.status import PartnerStatus

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
"""Match latency buckets: the Match API's budget is single-digit milliseconds per upload."""


class NodeMetrics:
    """One node's metrics registry (no process-global state)."""

    def __init__(self, node: AccordNode, *, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._latency = Histogram(
            "accord_match_latency_seconds",
            "Time to answer one Match request (or one MatchStream message).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._signals = Counter(
            "accord_match_signals", "Signals matched through the Local API.", registry=self.registry
        )
        self.registry.register(_StoreCollector(node, clock))

    def observe_match(self, seconds: float, signals: int) -> None:
        """Record one answered Match request."""
        self._latency.observe(seconds)
        self._signals.inc(signals)

    def watch_match_processes(self, answering: Callable[[], int], restarts: Callable[[], int]) -> None:
        """Export the match processes' state (``network.match_workers``), read at scrape time."""
        self.registry.register(_MatchProcessCollector(answering, restarts))

    def serve(self, address: str) -> Callable[[], None]:
        """Serve ``/metrics`` on a loopback ``HOST:PORT``; returns a function that stops it."""
        if not is_loopback_endpoint(address):
            raise ConfigError(f"network.metrics_listen must be a loopback address, not {address}")
        host, _, port = address.rpartition(":")
        server, thread = start_http_server(int(port), addr=host.strip("[]"), registry=self.registry)
        self.port = int(server.server_port)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop


class _MatchProcessCollector(Collector):
    """How many match processes answer now, and how often one was restarted."""

    def __init__(self, answering: Callable[[], int], restarts: Callable[[], int]) -> None:
        self._answering = answering
        self._restarts = restarts

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "accord_match_processes", "Match processes answering now.", value=self._answering()
        )
        yield CounterMetricFamily(
            "accord_match_process_restarts",
            "Match processes restarted after they exited unasked.",
            value=self._restarts(),
        )


class _StoreCollector(Collector):
    """Reads the node's bookkeeping at scrape time."""

    def __init__(self, node: AccordNode, clock: Callable[[], float]) -> None:
        self._node = node
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []  # collected on demand; nothing to describe up front

    def collect(self) -> Iterator[Metric]:
        status = self._node.status()
        names = self._node.names()
        yield _counter(
            "accord_entries_rejected",
            "Entries and envelopes refused, by reason.",
            ["reason"],
            [([r], n) for r, n in status.rejections.items()],
        )
        heads = [([status.name], status.own_head_seq)] + [
            ([p.partner.name], p.head_seq) for p in status.partners
        ]
        yield _gauge("accord_feed_head_seq", "Last accepted seq per origin's feed.", ["origin"], heads)
        yield from self._sync_metrics(status.partners)
        counts = [
            ([names.get(c.origin, c.origin[:12]), c.category, c.signal_type], c.count) for c in status.counts
        ]
        yield _gauge(
            "accord_indicators", "Active indicators held.", ["origin", "category", "signal_type"], counts
        )
        sizes = [([kind], n) for kind, n in self._node.lists.sizes().items()]
        yield _gauge("accord_index_size", "Indicators in the in-memory match lists.", ["signal_type"], sizes)
        yield _gauge(
            "accord_equivocation_evidence",
            "Conflicting envelopes kept as evidence.",
            [],
            [([], status.evidence)],
        )
        yield _gauge(
            "accord_ready", "1 once the match lists are loaded.", [], [([], int(self._node.lists.ready))]
        )
        yield from self._delivery_metrics()
        yield from _review_metrics(self._node)

    def _delivery_metrics(self) -> Iterator[Metric]:
        """The webhook outbox (issue 14): deliveries per webhook and state, oldest pending age."""
        summary = self._node.delivery_summary()
        per_hook = [
            ([hook, state], n) for hook, states in summary["webhooks"].items() for state, n in states.items()
        ]
        yield _gauge(
            "accord_webhook_deliveries", "Webhook deliveries in the outbox.", ["webhook", "state"], per_hook
        )
        oldest = summary["oldest_pending"]
        age = 0.0 if oldest is None else max(0.0, self._clock() - parse_timestamp(oldest).timestamp())
        yield _gauge(
            "accord_webhook_oldest_pending_seconds", "Age of the oldest pending delivery.", [], [([], age)]
        )

    def _sync_metrics(self, partners: Sequence[PartnerStatus]) -> Iterator[Metric]:
        now = self._clock()
        success: list[tuple[list[str], float]] = []
        lag: list[tuple[list[str], float]] = []
        received: list[tuple[list[str], float]] = []
        rejected: list[tuple[list[str], float]] = []
        for p in partners:
            if p.sync is None:
                continue
            received.append(([p.partner.name], p.sync.received))
            rejected.append(([p.partner.name], p.sync.rejected))
            if p.sync.last_success:
                at = parse_timestamp(p.sync.last_success).timestamp()
                success.append(([p.partner.name], at))
                lag.append(([p.partner.name], max(0.0, now - at)))
        yield _gauge(
            "accord_sync_last_success_timestamp_seconds", "Last successful pull.", ["partner"], success
        )
        yield _gauge("accord_sync_lag_seconds", "Seconds since the last successful pull.", ["partner"], lag)
        yield _counter(
            "accord_sync_entries_received", "Entries accepted from a partner.", ["partner"], received
        )
        yield _counter(
            "accord_sync_entries_rejected", "Entries refused from a partner.", ["partner"], rejected
        )


def _review_metrics(node: AccordNode) -> Iterator[Metric]:
    """The review queue and flood protection (issue 14)."""
    queue = node.review_metrics()
    yield _gauge(
        "accord_review_queue_depth",
        "Review items waiting, by status.",
        ["status"],
        [([s], n) for s, n in sorted(queue.by_status.items())],
    )
    oldest: list[tuple[list[str], float]] = (
        [([], queue.oldest_age_seconds)] if queue.oldest_age_seconds is not None else []
    )
    yield _gauge("accord_review_oldest_age_seconds", "Age of the oldest waiting review item.", [], oldest)
    yield _gauge(
        "accord_review_decisions_last_hour",
        "Review decisions in the last hour, per reviewer.",
        ["reviewer"],
        [([r], n) for r, n in sorted(queue.decisions_by_reviewer.items())],
    )
    yield _gauge(
        "accord_review_appeals_open", "Appeals waiting for a decision.", [], [([], queue.appeals_open)]
    )
    yield _gauge(
        "accord_flood_held_indicators",
        "Indicators flood protection holds (their matches go to review).",
        [],
        [([], queue.held)],
    )


def _gauge(name: str, doc: str, labels: list[str], samples: Sequence[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _counter(name: str, doc: str, labels: list[str], samples: Sequence[tuple[list[str], float]]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family
