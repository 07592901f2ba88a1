"""Wiring the HTTP API (node/http) to a node's use cases, the way serve.py wires the gRPC servicers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from node.app.audit import acting_as
from node.app.shapes import contribute_json, curation_json, provenance_json, response_json, status_json
from node.app.uploads import held_uploads, named_by_upload, remove_stale_uploads
from node.errors import NotFound
from node.http.actions import DeliveryServices
from node.http.api import ApiServices, ApiSettings, build_app
from node.http.credentials import CredentialServices
from node.http.endpoints import Contribution, EndpointServices, EndpointSettings, Relabel
from node.http.guard import AuthServices, AuthSettings
from node.http.logins import FailureStore
from node.http.review import ReviewServices
from node.http.server import ConnectionLimits, HttpServer, TlsFiles
from node.model import MatchResult, Signal, Tlp
from node.model.action_shapes import delivery_json
from node.model.deliveries import DeliveryState
from node.model.review import ContentRef
from node.sync.query import signals_of_media

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from node.app.node import AccordNode


def http_tls(node: AccordNode, address: str) -> TlsFiles | None:
    """The node's own certificate when the HTTP API serves TLS on ``address`` (same rule as the
    partner API: TLS off loopback, or everywhere with ``network.tls = "always"``), else None."""
    if node.serves_tls(address) is None:
        return None
    return TlsFiles(key=node.home.tls_key_path, cert=node.home.tls_cert_path)


def media_signals(node: AccordNode) -> Callable[[bytes], tuple[list[Signal], list[str]]]:
    """Media hashing for the match APIs, under the configured pixel limit and the node's shared
    pixel budget (the gRPC Local API and the HTTP API both hash through this)."""
    return partial(signals_of_media, max_pixels=node.config.limits.max_media_pixels, gate=node.media_gate)


def taxii_server(node: AccordNode, address: str) -> HttpServer:
    """A bound (not yet started) TAXII 2.1 server, with TLS by the same rule as the HTTP API."""
    return node.bridges.taxii_server(address, tls=http_tls(node, address))


def _respond(
    node: AccordNode, content: ContentRef, results: Sequence[MatchResult], decision: str | None
) -> dict[str, Any]:
    """Act on one piece of the caller's content (``POST /v1/match`` with ``content``)."""
    return response_json(node, node.respond(content, results, decision))


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
    removed = remove_stale_uploads(node.home.root)  # a process killed mid-upload left them
    if removed:
        log.warning("removed %d media upload(s) a stopped node left in its home", removed)
    services = ApiServices(
        authenticate=node.authenticate_api_token,
        ready=lambda: node.lists.ready,
        status=lambda: status_json(node),
        match=node.matcher.match,
        query=lambda query, actor: node.query(query, actor=actor),
        names=node.names,
        deliveries=delivery_services(node),
        review=review_services(node),
        respond=lambda content, results, decision: response_json(
            node, node.respond(content, results, decision)
        ),
        credentials=credential_services(node),
    )
    settings = ApiSettings(
        max_batch=config.limits.max_batch_signals,
        max_body_bytes=config.http.max_body_bytes,
        rate_per_second=config.http.rate_per_second,
        rate_burst=config.http.rate_burst,
    )
    endpoint_settings = EndpointSettings(
        max_media_bytes=config.http.max_media_bytes,
        max_media_files=config.http.max_media_files,
        max_body_bytes=config.http.max_body_bytes,
        max_batch=config.limits.max_batch_signals,
    )
    return HttpServer(
        build_app(
            services,
            settings,
            endpoints=endpoint_services(node),
            endpoint_settings=endpoint_settings,
            auth=auth_services(node),
            auth_settings=auth_settings(node),
        ),
        address=address,
        tls=http_tls(node, address),
        allow_plaintext=config.network.insecure_plaintext,
        grace_seconds=config.network.grace_seconds,
        max_concurrency=config.network.max_concurrent_rpcs,
        limits=connection_limits(node),
    )


def connection_limits(node: AccordNode) -> ConnectionLimits:
    """``[http]``'s limits on what one caller's connections may hold (HTTP API and TAXII)."""
    http = node.config.http
    return ConnectionLimits(
        request_seconds=http.request_seconds, max_per_address=http.max_connections_per_address
    )


def endpoint_services(node: AccordNode) -> EndpointServices:
    """The use cases of node/http/endpoints.py and node/http/hma.py; each write is audited
    with the calling account (``api:<name>``)."""

    def show(target: str, include_red: bool, actor: str) -> list[dict[str, Any]]:
        with acting_as(actor):
            try:
                return [provenance_json(p) for p in node.show(target, include_red=include_red)]
            except NotFound:  # the handler answers one NotFound, the same for held-but-hidden
                return []

    def tlps_of(target: str) -> list[Tlp]:
        try:
            return [p.row.indicator.tlp for p in node.lookup.show(target, include_red=True)]
        except NotFound:
            return []

    def contribute(asked: Contribution, actor: str) -> dict[str, Any]:
        with acting_as(actor), held_uploads(node.home.root, asked.media) as held:
            report = node.contribute(
                files=list(held),
                any_file=asked.any_file,
                signals=asked.signals,
                category=asked.category,
                tlp=asked.tlp,
                content_type=asked.content_type,
                recipients=asked.recipients,
                groups=asked.groups,
                valid_until=asked.valid_until,
                force=asked.force,
                new_category=asked.new_category,
                force_warninglisted=asked.force_warninglisted,
            )
            return contribute_json(named_by_upload(report, held))

    def revoke(target: str, actor: str) -> dict[str, Any]:
        with acting_as(actor):
            return curation_json("revoke", node.revoke([target]), ())

    def expire(target: str, at: datetime, actor: str) -> dict[str, Any]:
        with acting_as(actor):
            return curation_json("expire", node.expire([target], at=at), ())

    def relabel(target: str, change: Relabel, actor: str) -> dict[str, Any]:
        with acting_as(actor):
            report = node.relabel(
                [target],
                category=change.category,
                content_type=change.content_type,
                tlp=change.tlp,
                recipients=change.recipients,
                groups=change.groups,
                new_category=change.new_category,
            )
        return curation_json("relabel", report, ())

    return EndpointServices(
        media_signals=media_signals(node),
        match=node.matcher.match,
        names=node.names,
        query=lambda query, actor: node.query(query, actor=actor),
        show=show,
        tlps_of=tlps_of,
        contribute=contribute,
        revoke=revoke,
        expire=expire,
        relabel=relabel,
        respond=lambda content, results, decision: response_json(
            node, node.respond(content, results, decision)
        ),
    )


def auth_services(node: AccordNode) -> AuthServices:
    """Sessions and the audit line of the HTTP API, over ``node``'s accounts and audit log."""
    return AuthServices(
        log_in=node.log_in,
        session_account=node.session_account,
        log_out=node.log_out,
        audit=lambda action, details, actor: node.audit.record(action, details, actor=actor),
        session_key=node.http_session_key(),
        login_failures=FailureStore(
            load=node.login_failures, save=node.save_login_failures, forget=node.forget_login_failures
        ),
    )


def credential_services(node: AccordNode) -> CredentialServices:
    """A person's own password and sessions; audited with the account (``api:<name>``)."""

    def change_password(name: str, current: str, new: str, session_id: str) -> int:
        with acting_as(f"api:{name}"):
            return node.change_password(name, current, new, keep_session=session_id)

    def end_sessions(name: str) -> int:
        with acting_as(f"api:{name}"):
            return node.end_sessions(name)

    return CredentialServices(change_password=change_password, end_sessions=end_sessions)


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
