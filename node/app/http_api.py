"""Wiring the HTTP API (node/http) to a node's use cases, the way serve.py wires the gRPC servicers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.app.shapes import status_json
from node.http.actions import DeliveryServices
from node.http.api import ApiServices, ApiSettings, build_app
from node.http.server import HttpServer, TlsFiles
from node.model.action_shapes import delivery_json
from node.model.deliveries import DeliveryState

if TYPE_CHECKING:
    from node.app.node import AccordNode


def http_tls(node: AccordNode, address: str) -> TlsFiles | None:
    """The node's own certificate when the HTTP API serves TLS on ``address`` (same rule as the
    partner API: TLS off loopback, or everywhere with ``network.tls = "always"``), else None."""
    if node.serves_tls(address) is None:
        return None
    return TlsFiles(key=node.home.tls_key_path, cert=node.home.tls_cert_path)


def delivery_services(node: AccordNode) -> DeliveryServices:
    """The outbox's use cases for the delivery endpoints, answering in the CLI's JSON shapes."""

    def listing(state: str | None, limit: int) -> list[dict[str, Any]]:
        chosen = DeliveryState.parse(state) if state else None
        return [delivery_json(d) for d in node.deliveries(state=chosen, limit=limit)]

    def replay(delivery_id: int, actor: str) -> dict[str, Any]:
        return delivery_json(node.replay_delivery(delivery_id, actor=actor))

    return DeliveryServices(deliveries=listing, replay=replay)


def http_server(node: AccordNode, address: str) -> HttpServer:
    """A bound (not yet started) HTTP API server over ``node``'s use cases."""
    config = node.config
    services = ApiServices(
        authenticate=node.authenticate_api_token,
        ready=lambda: node.lists.ready,
        status=lambda: status_json(node),
        match=node.matcher.match,
        query=lambda query, actor: node.query(query, actor=actor),
        names=node.names,
        deliveries=delivery_services(node),
    )
    settings = ApiSettings(
        max_batch=config.limits.max_batch_signals,
        max_body_bytes=config.http.max_body_bytes,
        rate_per_second=config.http.rate_per_second,
        rate_burst=config.http.rate_burst,
    )
    return HttpServer(
        build_app(services, settings),
        address=address,
        tls=http_tls(node, address),
        allow_plaintext=config.network.insecure_plaintext,
        grace_seconds=config.network.grace_seconds,
        max_concurrency=config.network.max_concurrent_rpcs,
    )
