"""gRPC servers: the Federation API on the partner address, the Local API on loopback.

Both carry the standard health service (NOT_SERVING until the match lists are loaded), each
reporting its own services; reflection is registered on the local port only. Message sizes
are capped; the partner port admits calls through :mod:`node.rpc.admission`, the local port
caps concurrent RPCs.
"""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from node.config import NetworkSection
from node.errors import ConfigError
from node.feed import TlsCredentials
from node.model import is_loopback_endpoint
from node.rpc.admission import Admission, AdmissionLimits
from node.rpc.client import channel_options
from node.rpc.federation import FederationServicer
from node.rpc.local import LocalServicer
from node.rpc.pb import federation_pb2, federation_pb2_grpc, local_pb2, local_pb2_grpc
from node.rpc.refusals import Refusals
from node.rpc.tls import server_credentials

FEDERATION_SERVICE = federation_pb2.DESCRIPTOR.services_by_name["Federation"].full_name
LOCAL_SERVICE = local_pb2.DESCRIPTOR.services_by_name["Local"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


@dataclass(slots=True)
class Servers:
    """Running servers and the ports they bound (port 0 in config picks a free port).

    Each port has its own health service reporting exactly the services it serves (and ""
    for the whole server); reflection, on the local port only, lists only the local services.
    """

    federation: grpc.Server
    local: grpc.Server
    federation_health: health.HealthServicer
    local_health: health.HealthServicer
    federation_port: int
    local_port: int
    refusals: Refusals | None = None

    def set_serving(self, serving: bool) -> None:
        """Report SERVING / NOT_SERVING on every service name of both ports."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for checker, names in (
            (self.federation_health, (FEDERATION_SERVICE, "")),
            (self.local_health, (LOCAL_SERVICE, "")),
        ):
            for name in names:
                checker.set(name, status)

    def stop(self, grace: float) -> None:
        """Refuse new calls at once; let in-flight calls finish within ``grace`` seconds."""
        self.set_serving(False)
        done = [self.federation.stop(grace), self.local.stop(grace)]
        for event in done:
            event.wait(grace + 1)
        if self.refusals is not None:
            self.refusals.close()


def start_servers(
    *,
    federation: FederationServicer,
    local: LocalServicer,
    listen: str,
    network: NetworkSection,
    admission: Admission,
    tls: TlsCredentials | None = None,
    refusals: Refusals | None = None,
) -> Servers:
    """Bind and start both servers; health starts NOT_SERVING. With ``tls`` the partner port is TLS.

    ``admission`` guards the partner port (node/rpc/admission.py); ``refusals`` is flushed on stop.
    """
    if not is_loopback_endpoint(network.local_listen):
        raise ConfigError(f"network.local_listen must be a loopback address, not {network.local_listen}")
    partner_health, local_health = health.HealthServicer(), health.HealthServicer()
    partner_server = _partner_server(network, admission)
    federation_pb2_grpc.add_FederationServicer_to_server(federation, partner_server)
    health_pb2_grpc.add_HealthServicer_to_server(partner_health, partner_server)
    local_server = _server(network)
    local_pb2_grpc.add_LocalServicer_to_server(local, local_server)
    health_pb2_grpc.add_HealthServicer_to_server(local_health, local_server)
    reflection.enable_server_reflection(
        (LOCAL_SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME), local_server
    )
    servers = Servers(
        federation=partner_server,
        local=local_server,
        federation_health=partner_health,
        local_health=local_health,
        federation_port=_bind(partner_server, listen, tls),
        local_port=_bind(local_server, network.local_listen),
        refusals=refusals,
    )
    servers.set_serving(False)
    partner_server.start()
    local_server.start()
    return servers


@dataclass(slots=True)
class MatchServer:
    """A match process's server: the Local service's Match calls and health, on one port."""

    server: grpc.Server
    health: health.HealthServicer
    port: int

    def stop(self, grace: float) -> None:
        """NOT_SERVING, refuse new calls, let in-flight calls finish within ``grace`` seconds."""
        for name in (LOCAL_SERVICE, ""):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace).wait(grace + 1)


def start_match_server(local: LocalServicer, address: str, network: NetworkSection) -> MatchServer:
    """Bind ``address`` (loopback only) and serve ``local`` there, SERVING at once: a match
    process starts its server once its lists are loaded."""
    if not is_loopback_endpoint(address):
        raise ConfigError(f"network.match_listen must be a loopback address, not {address}")
    checker = health.HealthServicer()
    server = _server(network)
    local_pb2_grpc.add_LocalServicer_to_server(local, server)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = _bind(server, address)
    for name in (LOCAL_SERVICE, ""):
        checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    server.start()
    return MatchServer(server=server, health=checker, port=port)


def admission_limits(network: NetworkSection) -> AdmissionLimits:
    """The partner port's budgets from ``[network]``."""
    return AdmissionLimits(
        max_calls=network.max_concurrent_rpcs,
        max_calls_per_partner=network.max_calls_per_partner,
        first_message_seconds=network.first_message_seconds,
    )


def _partner_server(network: NetworkSection, admission: Admission) -> grpc.Server:
    # No server-wide call limit here: it refused health checks and partners alike once a
    # keyless caller held it (issue 13). The admission budgets fail fast instead, and there is
    # a thread for every budgeted call, so none waits for a thread behind another.
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=admission_limits(network).threads),
        interceptors=[admission],
        options=[
            *_options(network),
            # Streams one connection may hold: more wait on the caller's side, not in our threads.
            ("grpc.max_concurrent_streams", network.max_streams_per_connection),
        ],
    )


def _options(network: NetworkSection) -> list[tuple[str, str | int]]:
    return [
        *channel_options(network.max_message_bytes),
        # No SO_REUSEPORT: a second node on a busy port must fail, not silently share it.
        ("grpc.so_reuseport", 0),
        # Requests are small (cursors, signals; media up to the message cap). Without
        # bandwidth probing the receive window stays at its initial 64 KiB, so an oversized
        # message is refused after at most that much of it was read, not megabytes.
        ("grpc.http2.bdp_probe", 0),
    ]


def _server(network: NetworkSection) -> grpc.Server:
    return grpc.server(
        # One worker per admitted call: with fewer, calls within the limit would queue behind
        # held ones instead of running, and the limit would not be the one that refuses.
        futures.ThreadPoolExecutor(max_workers=network.max_concurrent_rpcs),
        options=_options(network),
        maximum_concurrent_rpcs=network.max_concurrent_rpcs,
    )


def _bind(server: grpc.Server, address: str, tls: TlsCredentials | None = None) -> int:
    try:
        if tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, server_credentials(tls))
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {address}: {exc}") from exc
    if port == 0:
        raise ConfigError(f"cannot listen on {address} (address in use or not local)")
    return port
