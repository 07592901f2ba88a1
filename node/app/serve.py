"""``accord serve``: run the node until SIGTERM or SIGINT.

Start order: servers bound (health NOT_SERVING) → match lists loaded → SERVING → scheduler.
Stop order: NOT_SERVING at once → scheduler stopped → in-flight calls get the grace period.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from node.app.metrics import NodeMetrics
from node.app.node import AccordNode
from node.model import Partner, is_loopback_endpoint
from node.rpc.auth import RequestVerifier
from node.rpc.convert import status_to_proto
from node.rpc.federation import FederationServicer
from node.rpc.local import LocalServicer
from node.rpc.pb import local_pb2
from node.rpc.server import Servers, start_servers
from node.scheduler import ScheduleSettings, SyncScheduler

log = logging.getLogger(__name__)


def serve(node: AccordNode, *, listen: str | None, announce: Callable[[str], None]) -> None:
    """Serve until a termination signal arrives. ``announce`` receives human status lines."""
    stop = threading.Event()
    _install_signal_handlers(stop)
    address = listen or node.config.network.listen
    if not is_loopback_endpoint(address):
        # TLS with pinned certificates comes with the federation-trust work; until then say so.
        log.warning("partner API on %s is PLAINTEXT: requests are signed, but not encrypted", address)
    metrics = NodeMetrics(node)
    servers = _start(node, listen, observe=metrics.observe_match)
    metrics_address = node.config.network.metrics_listen or None  # empty in the config means off
    stop_metrics = metrics.serve(metrics_address) if metrics_address else None
    if metrics_address:
        announce(f"accord: metrics on http://{_host(metrics_address)}:{metrics.port}/metrics")
    announce(
        f"accord: node {node.config.node.name!r} ({node.key_id[:16]}…) serving partners on "
        f"{_host(listen or node.config.network.listen)}:{servers.federation_port}, "
        f"local API on {_host(node.config.network.local_listen)}:{servers.local_port}"
    )
    loaded = node.load_lists()
    servers.set_serving(True)
    announce(f"accord: match lists loaded ({loaded} indicators); SERVING")
    scheduler = _scheduler(node)
    scheduler.start()
    try:
        stop.wait()
    finally:
        announce("accord: shutting down")
        servers.set_serving(False)
        scheduler.stop()
        servers.stop(node.config.network.grace_seconds)
        if stop_metrics is not None:
            stop_metrics()
        node.close()


def _start(
    node: AccordNode, listen: str | None, *, observe: Callable[[float, int], None] | None = None
) -> Servers:
    config = node.config
    verifier = RequestVerifier(pinned=node.store.caller_keys, window_seconds=config.limits.clock_skew_seconds)
    federation = FederationServicer(
        store=node.store,
        identity=node.identity,
        name=config.node.name,
        verifier=verifier,
        limits=config.limits,
        origin=node.origin,
    )
    local = LocalServicer(
        matcher=node.matcher,
        status=lambda: _status(node),
        max_batch=config.limits.max_batch_signals,
        observe=observe,
    )
    return start_servers(
        federation=federation, local=local, listen=listen or config.network.listen, network=config.network
    )


def _status(node: AccordNode) -> local_pb2.StatusResponse:
    return status_to_proto(
        node.status(), names=node.names(), sizes=node.lists.sizes(), ready=node.lists.ready
    )


def _scheduler(node: AccordNode) -> SyncScheduler:
    sync = node.config.sync

    def peers() -> list[str]:
        return [p.name for p in node.store.partners() if p.endpoint]

    def pull(name: str) -> bool:
        partner: Partner | None = node.store.partner(name)
        if partner is None or partner.endpoint is None:
            return True  # unpinned since scheduled; the next reconcile removes the job
        return node.pull_partner(partner).error is None  # skipped (already running) is not a failure

    settings = ScheduleSettings(
        interval=sync.interval_seconds,
        jitter=sync.jitter_seconds,
        max_backoff=sync.max_backoff_seconds,
        refresh=sync.refresh_seconds,
    )
    return SyncScheduler(settings=settings, peers=peers, pull=pull, refresh=node.maintain)


def _install_signal_handlers(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d; stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0]
