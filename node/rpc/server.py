"""gRPC servers: the Federation API on the partner address, the Local API on loopback.

Both carry the standard health service (NOT_SERVING until the match lists are loaded);
reflection is registered on the local port only. Message sizes and concurrent RPCs are capped.
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
from node.rpc.client import channel_options
from node.rpc.federation import FederationServicer
from node.rpc.local import LocalServicer
from node.rpc.pb import federation_pb2, federation_pb2_grpc, local_pb2, local_pb2_grpc
from node.rpc.tls import server_credentials

_SERVICES = ("accord.v1.Federation", "accord.v1.Local", "")


@dataclass(slots=True)
class Servers:
    """Running servers and the ports they bound (port 0 in config picks a free port)."""

    federation: grpc.Server
    local: grpc.Server
    health: health.HealthServicer
    federation_port: int
    local_port: int

    def set_serving(self, serving: bool) -> None:
        """Report SERVING / NOT_SERVING on every service name."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in _SERVICES:
            self.health.set(name, status)

    def stop(self, grace: float) -> None:
        """Refuse new calls at once; let in-flight calls finish within ``grace`` seconds."""
        self.set_serving(False)
        done = [self.federation.stop(grace), self.local.stop(grace)]
        for event in done:
            event.wait(grace + 1)


def start_servers(
    *,
    federation: FederationServicer,
    local: LocalServicer,
    listen: str,
    network: NetworkSection,
    tls: TlsCredentials | None = None,
) -> Servers:
    """Bind and start both servers; health starts NOT_SERVING. With ``tls`` the partner port is TLS."""
    if not is_loopback_endpoint(network.local_listen):
        raise ConfigError(f"network.local_listen must be a loopback address, not {network.local_listen}")
    checker = health.HealthServicer()
    partner_server = _server(network)
    federation_pb2_grpc.add_FederationServicer_to_server(federation, partner_server)
    health_pb2_grpc.add_HealthServicer_to_server(checker, partner_server)
    local_server = _server(network)
    local_pb2_grpc.add_LocalServicer_to_server(local, local_server)
    health_pb2_grpc.add_HealthServicer_to_server(checker, local_server)
    names = (
        federation_pb2.DESCRIPTOR.services_by_name["Federation"].full_name,
        local_pb2.DESCRIPTOR.services_by_name["Local"].full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(names, local_server)
    servers = Servers(
        federation=partner_server,
        local=local_server,
        health=checker,
        federation_port=_bind(partner_server, listen, tls),
        local_port=_bind(local_server, network.local_listen),
    )
    servers.set_serving(False)
    partner_server.start()
    local_server.start()
    return servers


def _server(network: NetworkSection) -> grpc.Server:
    return grpc.server(
        # One worker per admitted call: with fewer, calls within the limit would queue behind
        # held ones instead of running, and the limit would not be the one that refuses.
        futures.ThreadPoolExecutor(max_workers=network.max_concurrent_rpcs),
        # No SO_REUSEPORT: a second node on a busy port must fail, not silently share it.
        options=[
            *channel_options(network.max_message_bytes),
            ("grpc.so_reuseport", 0),
            # Requests are small (cursors, signals; media up to the message cap). Without
            # bandwidth probing the receive window stays at its initial 64 KiB, so an oversized
            # message is refused after at most that much of it was read, not megabytes.
            ("grpc.http2.bdp_probe", 0),
        ],
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
