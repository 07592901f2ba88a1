"""``accord serve``: run the node until SIGTERM or SIGINT.

Start order: servers bound (health NOT_SERVING) → match lists loaded (from the indexes saved
at the last stop, else rebuilt from the database) → compiled search loops warmed up → SERVING
→ scheduler and the periodic index save. Stop order: NOT_SERVING at once → scheduler stopped →
in-flight calls get the grace period → indexes saved.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from node.app.delivering import Deliverer, start_deliverer
from node.app.http_api import http_server, media_signals, taxii_server
from node.app.locks import serve_lock
from node.app.match_workers import MatchProcesses
from node.app.metrics import NodeMetrics
from node.app.node import AccordNode
from node.errors import AccordError, NodeBusy
from node.http.server import HttpServer
from node.match.pdq import warm_up
from node.model import Partner, is_loopback_endpoint
from node.rpc.admission import Admission
from node.rpc.auth import RequestVerifier
from node.rpc.convert import status_to_proto
from node.rpc.federation import FederationServicer
from node.rpc.local import LocalServicer
from node.rpc.pb import local_pb2
from node.rpc.refusals import Refusals
from node.rpc.server import Servers, admission_limits, start_servers
from node.scheduler import ScheduleSettings, SyncScheduler

log = logging.getLogger(__name__)


def serve(
    node: AccordNode,
    *,
    listen: str | None,
    announce: Callable[[str], None],
    taxii: str | None = None,
    http: str | None = None,
) -> None:
    """Serve until a termination signal arrives. ``announce`` receives human status lines.

    ``taxii`` (else ``taxii.listen`` from the config; empty means off) starts the read-only
    TAXII 2.1 server on that loopback address. ``http`` (else ``http.listen``; empty means off)
    starts the HTTP API there.
    """
    with serve_lock(node.home.root) as held:
        if not held:
            raise NodeBusy(f"another 'accord serve' is running on {node.home.root}")
        _serve(node, listen=listen, announce=announce, taxii=taxii, http=http)


def _serve(
    node: AccordNode,
    *,
    listen: str | None,
    announce: Callable[[str], None],
    taxii: str | None,
    http: str | None = None,
) -> None:
    stop = threading.Event()
    _install_signal_handlers(stop)
    # A native crash (a C extension's segfault, an abort) otherwise ends the process with no
    # word in its log: print the Python stack of every thread to stderr first.
    faulthandler.enable(all_threads=True)
    address = listen or node.config.network.listen
    _warn_about_plaintext(node, address)
    metrics = NodeMetrics(node)
    taxii_address = taxii or node.config.taxii.listen or None  # bound first: a bad address fails early
    taxii_api = taxii_server(node, taxii_address) if taxii_address else None
    http_address = http or node.config.http.listen or None
    http_api = http_server(node, http_address) if http_address else None  # bound early, like TAXII
    servers = _start(node, listen, observe=metrics.observe_match)
    metrics_address = node.config.network.metrics_listen or None  # empty in the config means off
    stop_metrics = metrics.serve(metrics_address) if metrics_address else None
    if metrics_address:
        announce(f"accord: metrics on http://{_host(metrics_address)}:{metrics.port}/metrics")
    transport = f"TLS, certificate {node.tls.fingerprint}" if node.serves_tls(address) else "plaintext"
    announce(
        f"accord: node {node.config.node.name!r} ({node.key_id[:16]}…) serving partners on "
        f"{_host(address)}:{servers.federation_port} ({transport}), "
        f"local API on {_host(node.config.network.local_listen)}:{servers.local_port}"
    )
    _start_web(taxii_api, taxii_address, http_api, http_address, announce)
    matchers = _load_and_serve(node, servers, metrics, announce)
    scheduler = _scheduler(node)
    scheduler.start()
    saver, stop_deliverer = _start_index_saver(node, stop), _start_deliverer(node, stop)  # + webhook outbox
    try:
        stop.wait()
    finally:
        announce("accord: shutting down")
        stop_deliverer()
        if matchers is not None:
            matchers.ask_to_stop()  # they stop beside our own servers, not after them
        servers.set_serving(False)
        scheduler.stop()
        if taxii_api is not None:
            taxii_api.stop()
        if http_api is not None:
            http_api.stop()
        servers.stop(node.config.network.grace_seconds)
        if matchers is not None:
            matchers.stop(node.config.network.grace_seconds)
        if saver is not None:
            saver.join()
        _save_indexes(node)
        if stop_metrics is not None:
            stop_metrics()
        node.close()


def _start_web(
    taxii_api: HttpServer | None,
    taxii_address: str | None,
    http_api: HttpServer | None,
    http_address: str | None,
    announce: Callable[[str], None],
) -> None:
    """Start the TAXII server and the HTTP API (each when configured) and say where they are."""
    if taxii_api is not None:
        taxii_api.start()
        scheme = "http" if taxii_api.tls is None else "https"
        announce(f"accord: TAXII 2.1 on {scheme}://{_host(taxii_address or '')}:{taxii_api.port}/taxii2/")
    if http_api is not None:
        http_api.start()  # /v1/health answers 503 until the match lists are loaded
        scheme = "http" if http_api.tls is None else "https"
        announce(f"accord: HTTP API on {scheme}://{_host(http_address or '')}:{http_api.port}/v1/")


def _load_and_serve(
    node: AccordNode, servers: Servers, metrics: NodeMetrics, announce: Callable[[str], None]
) -> MatchProcesses | None:
    """Load the lists, start the match processes, then report SERVING."""
    loaded, resumed = node.open_lists()
    warm_up()  # numba compiles (or loads from its cache) here, not in the first match
    try:
        matchers = _start_match_processes(node, metrics, announce)
    except BaseException:
        servers.stop(0)
        raise
    servers.set_serving(True)
    source = "saved index + changes since" if resumed else "database"
    announce(f"accord: match lists loaded from {source} ({loaded} indicators); SERVING")
    return matchers


def _start_match_processes(
    node: AccordNode, metrics: NodeMetrics, announce: Callable[[str], None]
) -> MatchProcesses | None:
    """The match processes of ``network.match_workers`` (None when 0), answering once this
    returns. They adopt the indexes saved here, so each loads in seconds, not a rebuild."""
    network = node.config.network
    if network.match_workers == 0:
        return None
    cores = os.cpu_count() or 1
    if network.match_workers > cores:
        log.warning(
            "network.match_workers = %d on %d cores: more processes than cores only add copies"
            " of the lists (memory), not speed",
            network.match_workers,
            cores,
        )
    _save_indexes(node)
    processes = MatchProcesses(
        root=node.home.root,
        origin=node.origin,
        count=network.match_workers,
        listen=network.match_listen,
        count_matches=node.tape.append,
        observe=metrics.observe_match,
    )
    addresses = processes.start()
    metrics.watch_match_processes(processes.answering, processes.restarts)
    announce(
        f"accord: Match API also on {', '.join(addresses)} ({len(addresses)} match processes;"
        f" spread calls over them: gRPC target ipv4:{','.join(addresses)}, round_robin)"
    )
    return processes


def _start_index_saver(node: AccordNode, stop: threading.Event) -> threading.Thread | None:
    """Save the indexes every ``match.index_save_seconds`` until ``stop`` (0: never)."""
    interval = node.config.match.index_save_seconds
    if interval <= 0:
        return None

    def run() -> None:
        while not stop.wait(interval):
            _save_indexes(node)

    thread = threading.Thread(target=run, name="index-saver", daemon=True)
    thread.start()
    return thread


def _start_deliverer(node: AccordNode, stop: threading.Event) -> Callable[[], None]:
    """Send the outbox's deliveries in a background thread until ``stop``; returns the join."""
    deliverer = Deliverer(store=node.store, home=node.home.root, settings=lambda: node.config.actions)
    thread = start_deliverer(deliverer, stop, node.outbox_wake)

    def join() -> None:
        node.outbox_wake.set()  # wakes the thread, which sees ``stop`` at once
        thread.join(timeout=node.config.network.grace_seconds)

    return join


def _save_indexes(node: AccordNode) -> None:
    # A failed save costs the next start a rebuild, nothing else: say so and carry on.
    try:
        node.save_indexes()
    except Exception:
        log.exception("could not save the match indexes; the next start rebuilds them")


def _start(
    node: AccordNode, listen: str | None, *, observe: Callable[[float, int], None] | None = None
) -> Servers:
    config = node.config
    verifier = RequestVerifier(pinned=node.store.caller_keys, window_seconds=config.limits.clock_skew_seconds)
    refusals = Refusals(node.store)
    federation = FederationServicer(
        store=node.store,
        identity=node.identity,
        name=config.node.name,
        verifier=verifier,
        limits=config.limits,
        receive=node.receive_push,
        origin=node.origin,
        statement=node.encryption_statement,
        signing_identity=node.signing_identity,
        refusals=refusals,
    )
    local = LocalServicer(
        matcher=node.matcher,
        status=lambda: _status(node),
        max_batch=config.limits.max_batch_signals,
        observe=observe,
        query=node.lookup.query,
        media_signals=media_signals(node),
        credentials=node.media_credentials,
    )
    address = listen or config.network.listen
    return start_servers(
        federation=federation,
        local=local,
        listen=address,
        network=config.network,
        tls=node.serves_tls(address),
        admission=Admission(verifier=verifier, refusals=refusals, limits=admission_limits(config.network)),
        refusals=refusals,
    )


def _warn_about_plaintext(node: AccordNode, address: str) -> None:
    if not node.config.network.insecure_plaintext:
        return
    log.warning(
        "INSECURE: network.insecure_plaintext is set: partners without a pinned certificate are"
        " reached in PLAINTEXT, and the partner API serves plaintext"
    )
    if not is_loopback_endpoint(address):
        log.warning(
            "INSECURE: partner API on %s is PLAINTEXT: requests are signed, but every entry"
            " (restricted lists included) crosses the network readable",
            address,
        )


def _status(node: AccordNode) -> local_pb2.StatusResponse:
    return status_to_proto(
        node.status(), names=node.names(), sizes=node.lists.sizes(), ready=node.lists.ready
    )


def _scheduler(node: AccordNode) -> SyncScheduler:
    sync = node.config.sync

    def peers() -> list[str]:
        # TAXII sources are pulled on the partners' schedule; their names never clash with a partner's.
        return [p.name for p in node.store.partners() if p.endpoint] + node.bridges.taxii_source_names()

    def pull(name: str) -> bool:
        if name in node.bridges.taxii_source_names():
            return node.pull_source(name).error is None
        partner: Partner | None = node.store.partner(name)
        if partner is None or partner.endpoint is None:
            return True  # unpinned since scheduled; the next reconcile removes the job
        pulled = node.pull_partner(partner).error is None  # skipped (already running) is not a failure
        return _push_if_asked(node, partner) and pulled

    settings = ScheduleSettings(
        interval=sync.interval_seconds,
        jitter=sync.jitter_seconds,
        max_backoff=sync.max_backoff_seconds,
        refresh=sync.refresh_seconds,
    )
    return SyncScheduler(settings=settings, peers=peers, pull=pull, refresh=node.maintain)


def _push_if_asked(node: AccordNode, partner: Partner) -> bool:
    """Push our new entries to ``partner`` when the config asks for it; False when that failed."""
    if partner.name not in node.config.sync.push_targets:
        return True
    try:
        report = node.push(partner.name)
    except AccordError as exc:
        log.warning("push to %s failed: %s", partner.name, exc)
        return False
    if report.refused:
        log.warning("push to %s: %s", partner.name, report.summary())
    return True


def _install_signal_handlers(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d; stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0]
