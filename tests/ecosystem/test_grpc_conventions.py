"""Standard gRPC clients work against the node: grpcio-health-checking and grpcio-reflection.

Health is checked (Check and Watch) with the health package's own client stub; reflection is
read with ``ProtoReflectionDescriptorDatabase``, the descriptor database grpcurl-like tools
use. Reflection answers on the local port and is absent on the partner port.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.rpc.server import Servers

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    init_home(tmp_path / "home", name="Example NGO")
    node = AccordNode.open(tmp_path / "home")
    node.config = replace(node.config, network=replace(node.config.network, local_listen="127.0.0.1:0"))
    running = _start(node, "127.0.0.1:0")
    yield running
    running.stop(0)
    node.close()


def channel(port: int) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{port}")


SERVED = [
    ("federation_port", ""),
    ("federation_port", "accord.v1.Federation"),
    ("local_port", ""),
    ("local_port", "accord.v1.Local"),
]


@pytest.mark.parametrize(("port_of", "service"), SERVED)
def test_health_check_follows_readiness(servers: Servers, port_of: str, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(channel(getattr(servers, port_of)))
    request = health_pb2.HealthCheckRequest(service=service)
    assert stub.Check(request, timeout=5).status == NOT_SERVING
    servers.set_serving(True)
    assert stub.Check(request, timeout=5).status == SERVING


@pytest.mark.parametrize(
    ("port_of", "service"), [("federation_port", "accord.v1.Local"), ("local_port", "accord.v1.Federation")]
)
def test_each_port_reports_health_only_for_what_it_serves(
    servers: Servers, port_of: str, service: str
) -> None:
    """Issue 13: the local port reported accord.v1.Federation SERVING though it does not serve it."""
    servers.set_serving(True)
    stub = health_pb2_grpc.HealthStub(channel(getattr(servers, port_of)))
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_health_check_of_an_unknown_service_is_not_found(servers: Servers) -> None:
    stub = health_pb2_grpc.HealthStub(channel(servers.local_port))
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(health_pb2.HealthCheckRequest(service="accord.v1.Nothing"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_health_watch_streams_each_transition(servers: Servers) -> None:
    stub = health_pb2_grpc.HealthStub(channel(servers.federation_port))
    call = stub.Watch(health_pb2.HealthCheckRequest(service="accord.v1.Federation"), timeout=30)
    seen: queue.Queue[int] = queue.Queue()

    def read() -> None:
        try:
            for response in call:
                seen.put(response.status)
        except grpc.RpcError:
            pass  # cancelled at the end of the test

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert seen.get(timeout=10) == NOT_SERVING
    servers.set_serving(True)
    assert seen.get(timeout=10) == SERVING
    servers.set_serving(False)
    assert seen.get(timeout=10) == NOT_SERVING
    call.cancel()
    reader.join(timeout=10)


def test_reflection_on_the_local_port_lists_and_resolves_the_local_api(servers: Servers) -> None:
    database = ProtoReflectionDescriptorDatabase(channel(servers.local_port))
    services = set(database.get_services())
    # Exactly what the local port serves: not the Federation API, which only the partner port has.
    assert services == {
        "accord.v1.Local",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    pool = DescriptorPool(database)
    local = pool.FindServiceByName("accord.v1.Local")
    methods = {m.name for m in local.methods}
    assert {"Match", "MatchStream", "Status"} <= methods
    match = local.methods_by_name["Match"]
    assert match.input_type.full_name.startswith("accord.v1.")
    assert match.input_type.fields  # the request message itself resolved, field by field


def test_reflection_is_absent_on_the_federation_port(servers: Servers) -> None:
    database = ProtoReflectionDescriptorDatabase(channel(servers.federation_port))
    with pytest.raises(grpc.RpcError) as caught:
        list(database.get_services())
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
