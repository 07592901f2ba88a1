"""Wiring the HTTP API (node/http) to a node's use cases, the way serve.py wires the gRPC servicers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.app.shapes import status_json
from node.http.api import ApiServices, ApiSettings, build_app
from node.http.review import ReviewServices
from node.http.server import HttpServer, TlsFiles

if TYPE_CHECKING:
    from node.app.node import AccordNode


def http_tls(node: AccordNode, address: str) -> TlsFiles | None:
    """The node's own certificate when the HTTP API serves TLS on ``address`` (same rule as the
    partner API: TLS off loopback, or everywhere with ``network.tls = "always"``), else None."""
    if node.serves_tls(address) is None:
        return None
    return TlsFiles(key=node.home.tls_key_path, cert=node.home.tls_cert_path)


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
        review=review_services(node),
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


def review_services(node: AccordNode) -> ReviewServices:
    """The review queue's use cases for the HTTP API."""
    return ReviewServices(
        queue=lambda tlp, limit: node.review_queue(max_tlp=tlp, limit=limit),
        item=lambda item_id, tlp: node.review_item(item_id, max_tlp=tlp),
        decide=lambda item_id, decision, reason, safelist, actor, tlp: node.decide_review(
            item_id, decision, reason=reason, safelist=safelist, actor=actor, max_tlp=tlp
        ),
        undo=lambda item_id, actor, tlp: node.undo_review(item_id, actor=actor, max_tlp=tlp),
        add_appeal=lambda content_id, statement, actor: node.add_appeal(content_id, statement, actor=actor),
        appeals=lambda open_only, tlp: node.appeals(open_only=open_only, max_tlp=tlp),
        decide_appeal=lambda appeal_id, outcome, reason, safelist, actor, tlp: node.decide_appeal(
            appeal_id, outcome, reason=reason, safelist=safelist, actor=actor, max_tlp=tlp
        ),
        metrics=node.review_metrics,
        priorities=lambda: node.config.review.category_priority,
    )
