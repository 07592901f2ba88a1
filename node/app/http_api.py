"""Wiring the HTTP API (node/http) to a node's use cases, the way serve.py wires the gRPC servicers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.app.shapes import status_json
from node.http.api import ApiServices, ApiSettings, build_app
from node.http.guard import AuthServices, AuthSettings
from node.http.server import HttpServer, TlsFiles

if TYPE_CHECKING:
    from node.app.node import AccordNode


def http_tls(node: AccordNode, address: str) -> TlsFiles | None:
    """The node's own certificate when the HTTP API serves TLS on ``address`` (same rule as the
    partner API: TLS off loopback, or everywhere with ``network.tls = "always"``), else None."""
    if node.serves_tls(address) is None:
        return None
    return TlsFiles(key=node.home.tls_key_path, cert=node.home.tls_cert_path)


def taxii_server(node: AccordNode, address: str) -> HttpServer:
    """A bound (not yet started) TAXII 2.1 server, with TLS by the same rule as the HTTP API."""
    return node.bridges.taxii_server(address, tls=http_tls(node, address))


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
    )
    settings = ApiSettings(
        max_batch=config.limits.max_batch_signals,
        max_body_bytes=config.http.max_body_bytes,
        rate_per_second=config.http.rate_per_second,
        rate_burst=config.http.rate_burst,
    )
    return HttpServer(
        build_app(services, settings, auth=auth_services(node), auth_settings=auth_settings(node)),
        address=address,
        tls=http_tls(node, address),
        allow_plaintext=config.network.insecure_plaintext,
        grace_seconds=config.network.grace_seconds,
        max_concurrency=config.network.max_concurrent_rpcs,
    )


def auth_services(node: AccordNode) -> AuthServices:
    """Sessions and the audit line of the HTTP API, over ``node``'s accounts and audit log."""
    return AuthServices(
        log_in=node.log_in,
        session_account=node.session_account,
        log_out=node.log_out,
        audit=lambda action, details, actor: node.audit.record(action, details, actor=actor),
        session_key=node.http_session_key(),
    )


def auth_settings(node: AccordNode) -> AuthSettings:
    """``[http]``'s session and login limits."""
    http = node.config.http
    return AuthSettings(
        session_seconds=http.session_seconds,
        anonymous_rate_per_second=http.anonymous_rate_per_second,
        anonymous_rate_burst=http.anonymous_rate_burst,
        login_max_failures=http.login_max_failures,
        login_max_failures_per_address=http.login_max_failures_per_address,
        login_lockout_seconds=http.login_lockout_seconds,
    )
