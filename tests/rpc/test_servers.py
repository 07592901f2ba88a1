"""Real gRPC servers on loopback port 0: authentication, paging, health, reflection, Match API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.errors import ConfigError, InvalidSignal, PeerError
from node.feed import NodeIdentity, decode_header, public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.feed.sealing import open_content_key
from node.model import ContentType, Distribution, KeyId, Seq, Signal, Tlp
from node.rpc.auth import sign_request
from node.rpc.client import LocalClient, PeerClient
from node.rpc.convert import match_result_from_proto
from node.rpc.federation import PULL_METHOD
from node.rpc.pb import federation_pb2, federation_pb2_grpc
from node.rpc.server import Servers
from node.sync.publish import Contribution
from tests.support.feeds import encryption_keys, identity, md5_signal, pdq_signal
from tests.support.media import make_image

CALLER = identity(7)
CALLER_KEYS = encryption_keys(7)  # the platform's encryption key, pinned with its key


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example NGO")
    opened = AccordNode.open(tmp_path / "home")
    config = opened.config
    opened.config = replace(
        config,
        network=replace(config.network, local_listen="127.0.0.1:0"),
        limits=replace(config.limits, max_page_bytes=4096),
    )
    opened.add_partner(
        "platform",
        public_key=public_key_to_text(CALLER.public_key),
        endpoint=None,
        encryption_key=encryption_key_to_text(CALLER_KEYS.public),
    )
    yield opened
    opened.close()


@pytest.fixture
def servers(node: AccordNode) -> Iterator[Servers]:
    running = _start(node, "127.0.0.1:0")
    yield running
    running.stop(0)


def publish(node: AccordNode, n: int, *, tlp: Tlp = Tlp.GREEN, to: frozenset[KeyId] = frozenset()) -> None:
    for i in range(n):
        items = [Contribution(pdq_signal(100 * i + j), ContentType.IMAGE, 100) for j in range(10)]
        node.publisher.contribute(items, category="csam", distribution=Distribution(tlp=tlp, recipients=to))


def federation_stub(servers: Servers) -> federation_pb2_grpc.FederationStub:
    channel = grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}")
    return federation_pb2_grpc.FederationStub(channel)


def pull_request(node: AccordNode) -> federation_pb2.PullRequest:
    return federation_pb2.PullRequest(cursors=[federation_pb2.Cursor(origin=node.key_id, seq=0)])


def test_node_info_is_public(node: AccordNode, servers: Servers) -> None:
    info = federation_stub(servers).GetNodeInfo(federation_pb2.NodeInfoRequest(), timeout=5)
    assert (info.name, info.key_id, info.public_key) == ("Example NGO", node.key_id, node.identity.public_key)


def test_a_pinned_partner_pulls_every_entry_in_pages(node: AccordNode, servers: Servers) -> None:
    publish(node, 6)
    stub = federation_stub(servers)
    request = pull_request(node)
    pages = list(stub.Pull(request, metadata=sign_request(CALLER, PULL_METHOD, request), timeout=5))
    assert len(pages) > 1  # 4 KiB pages cannot hold six entries of ten indicators
    seqs = [decode_header(e.header.payload).seq for p in pages for e in p.entries]
    assert seqs == [1, 2, 3, 4, 5, 6]


def _pull_error(stub: federation_pb2_grpc.FederationStub, request, metadata) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Pull(request, metadata=metadata, timeout=5))
    return caught.value


def test_an_unsigned_request_is_unauthenticated(node: AccordNode, servers: Servers) -> None:
    publish(node, 1)
    error = _pull_error(federation_stub(servers), pull_request(node), None)
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "not signed" in error.details()


def test_an_unpinned_caller_is_unauthenticated(node: AccordNode, servers: Servers) -> None:
    request = pull_request(node)
    error = _pull_error(federation_stub(servers), request, sign_request(identity(99), PULL_METHOD, request))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "not pinned" in error.details()


def test_a_spoofed_caller_header_is_unauthenticated(node: AccordNode, servers: Servers) -> None:
    request = pull_request(node)
    metadata = dict(sign_request(identity(99), PULL_METHOD, request))
    metadata["x-accord-caller"] = CALLER.key_id  # claim to be the pinned partner
    error = _pull_error(federation_stub(servers), request, tuple(metadata.items()))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "does not verify" in error.details()


def test_a_request_altered_after_signing_is_unauthenticated(node: AccordNode, servers: Servers) -> None:
    signed = pull_request(node)
    metadata = sign_request(CALLER, PULL_METHOD, signed)
    altered = federation_pb2.PullRequest(cursors=[federation_pb2.Cursor(origin=node.key_id, seq=5)])
    error = _pull_error(federation_stub(servers), altered, metadata)
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


def test_an_expired_timestamp_is_unauthenticated(node: AccordNode, servers: Servers) -> None:
    request = pull_request(node)
    stale = sign_request(CALLER, PULL_METHOD, request, now=time.time() - 3600)
    error = _pull_error(federation_stub(servers), request, stale)
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "replay window" in error.details()


def test_a_replayed_nonce_is_unauthenticated(node: AccordNode, servers: Servers) -> None:
    publish(node, 1)
    stub = federation_stub(servers)
    request = pull_request(node)
    metadata = sign_request(CALLER, PULL_METHOD, request)
    assert len(list(stub.Pull(request, metadata=metadata, timeout=5))) == 1
    error = _pull_error(stub, request, metadata)
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "replayed" in error.details()


def test_a_malformed_cursor_is_invalid_argument(node: AccordNode, servers: Servers) -> None:
    request = federation_pb2.PullRequest(cursors=[federation_pb2.Cursor(origin="not-a-key", seq=0)])
    error = _pull_error(federation_stub(servers), request, sign_request(CALLER, PULL_METHOD, request))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "key id" in error.details()


def test_a_non_recipient_gets_every_header_and_a_restricted_body_only_sealed(
    node: AccordNode, servers: Servers
) -> None:
    other = identity(8)
    node.add_partner(
        "other",
        public_key=public_key_to_text(other.public_key),
        endpoint=None,
        encryption_key=encryption_key_to_text(encryption_keys(8).public),
    )
    publish(node, 1)
    publish(node, 1, tlp=Tlp.RED, to=frozenset({other.key_id}))
    with PeerClient(
        f"127.0.0.1:{servers.federation_port}", identity=CALLER, timeout=5, max_message_bytes=1 << 22
    ) as client:
        received = list(client.pull({node.key_id: Seq(0)}))
    assert [decode_header(e.header.payload).seq for e in received] == [1, 2]  # the feed goes on
    red = received[1]
    header = decode_header(red.header.payload)
    assert header.tlp is Tlp.RED and header.seal is not None and red.body is not None
    assert not any(pdq_signal(j).value.encode() in red.body for j in range(10))  # ciphertext only
    assert open_content_key(header.seal.stanzas, [CALLER_KEYS]) is None  # the caller cannot open it
    assert open_content_key(header.seal.stanzas, [encryption_keys(8)]) is not None  # the recipient can


def test_peer_client_reports_an_unreachable_peer(node: AccordNode) -> None:
    with (
        PeerClient("127.0.0.1:1", identity=CALLER, timeout=2, max_message_bytes=1 << 20) as client,
        pytest.raises(PeerError, match=r"nothing is listening at 127\.0\.0\.1:1\b"),
    ):
        list(client.pull({node.key_id: Seq(0)}))


def test_health_is_not_serving_until_lists_load(node: AccordNode, servers: Servers) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{servers.local_port}")
    health = health_pb2_grpc.HealthStub(channel)
    check = health_pb2.HealthCheckRequest(service="accord.v1.Local")
    assert health.Check(check, timeout=5).status == health_pb2.HealthCheckResponse.NOT_SERVING
    node.load_lists()
    servers.set_serving(True)
    assert health.Check(check, timeout=5).status == health_pb2.HealthCheckResponse.SERVING


def _reflected_services(port: int) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [response] = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    return [s.name for s in response.list_services_response.service]


def test_reflection_is_on_the_local_port_only(servers: Servers) -> None:
    assert "accord.v1.Local" in _reflected_services(servers.local_port)
    with pytest.raises(grpc.RpcError) as caught:
        _reflected_services(servers.federation_port)
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_match_api_answers_signals_with_provenance(node: AccordNode, servers: Servers) -> None:
    publish(node, 1)
    node.load_lists()
    near = bytearray(pdq_signal(3).pdq_bytes())
    near[0] ^= 0b111  # three bits away
    client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=5)
    response = client.match([f"pdq:{bytes(near).hex()}", str(md5_signal(1))])
    hit, miss = response.results
    assert [(m.distance, m.origin_name, m.category, m.tlp) for m in hit.matches] == [
        (3, "Example NGO", "csam", "green")
    ]
    assert hit.corroboration == 1
    assert list(miss.matches) == []
    client.close()


def test_match_api_answers_a_bad_signal_with_its_own_error_and_matches_the_rest(
    node: AccordNode, servers: Servers
) -> None:
    publish(node, 1)
    node.load_lists()
    client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=5)
    batch = ["pdq:abc", str(pdq_signal(3)), "nonsense", str(md5_signal(1))]
    bad, hit, garbage, miss = client.match(batch).results
    assert (bad.query, list(bad.matches)) == ("pdq:abc", [])
    assert "64 hex characters" in bad.error
    assert "TYPE:VALUE" in garbage.error
    assert [m.distance for m in hit.matches] == [0] and hit.error == ""
    assert list(miss.matches) == [] and miss.error == ""
    with pytest.raises(InvalidSignal, match="64 hex characters"):
        match_result_from_proto(bad)  # the client side never takes an error for "no match"
    assert match_result_from_proto(hit).matches[0].distance == 0
    client.close()


def test_match_api_refuses_a_call_with_nothing_to_match(servers: Servers) -> None:
    client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=5)
    with pytest.raises(PeerError, match=r"INVALID_ARGUMENT.*at least one signal"):
        client.match([])
    client.close()


def test_match_api_hashes_media_bytes(node: AccordNode, servers: Servers, tmp_path: Path) -> None:
    image = make_image(tmp_path / "a.png", seed=5)
    node.contribute(files=[image], category="ncii", tlp=Tlp.GREEN)
    client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=5)
    response = client.match([], media=image.read_bytes())
    kinds = {Signal.parse(r.query).type.value: len(r.matches) for r in response.results}
    assert kinds == {"md5": 1, "sha256": 1, "pdq": 1}
    client.close()


def test_status_reports_identity_and_partners(node: AccordNode, servers: Servers) -> None:
    client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=5)
    status = client.status()
    assert (status.name, status.key_id) == ("Example NGO", node.key_id)
    assert [p.name for p in status.partners] == ["platform"]
    client.close()


def test_the_caller_identity_comes_from_the_signature_not_a_header(
    node: AccordNode, servers: Servers
) -> None:
    # An amber entry for the platform: every pinned caller gets its header, a stranger nothing,
    # and only the platform's key opens the body (no request header decides who reads it).
    publish(node, 1, tlp=Tlp.AMBER, to=frozenset({CALLER.key_id}))
    outsider = NodeIdentity.from_seed(b"\x42" * 32)
    node.add_partner("outsider", public_key=public_key_to_text(outsider.public_key), endpoint=None)
    address = f"127.0.0.1:{servers.federation_port}"
    with PeerClient(address, identity=CALLER, timeout=5, max_message_bytes=1 << 22) as client:
        [mine] = list(client.pull({node.key_id: Seq(0)}))
    with PeerClient(address, identity=outsider, timeout=5, max_message_bytes=1 << 22) as client:
        [theirs] = list(client.pull({node.key_id: Seq(0)}))
    assert mine == theirs  # the same header and the same ciphertext for every pinned partner
    seal = decode_header(mine.header.payload).seal
    assert seal is not None
    assert open_content_key(seal.stanzas, [CALLER_KEYS]) is not None
    assert open_content_key(seal.stanzas, [encryption_keys(0x42)]) is None
    stranger = NodeIdentity.from_seed(b"\x43" * 32)
    with (
        PeerClient(address, identity=stranger, timeout=5, max_message_bytes=1 << 22) as client,
        pytest.raises(PeerError, match="UNAUTHENTICATED"),
    ):
        list(client.pull({node.key_id: Seq(0)}))


def test_a_second_node_cannot_take_a_busy_port(node: AccordNode, servers: Servers) -> None:
    # gRPC would share the port through SO_REUSEPORT; the node turns that off so this fails loudly.
    with pytest.raises(ConfigError, match="cannot listen"):
        _start(node, f"127.0.0.1:{servers.federation_port}")


def test_match_stream_answers_each_request_in_order(node: AccordNode, servers: Servers) -> None:
    from node.rpc.pb import local_pb2

    publish(node, 1)
    node.load_lists()
    requests = [local_pb2.MatchRequest(signals=[str(pdq_signal(j))]) for j in range(10)]
    requests.append(local_pb2.MatchRequest(signals=[str(md5_signal(1)), str(pdq_signal(3))]))
    client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=5)
    responses = list(client.match_stream(requests))
    assert [len(r.results) for r in responses] == [1] * 10 + [2]
    assert all(r.results[0].matches[0].distance == 0 for r in responses[:10])
    assert [len(r.matches) for r in responses[10].results] == [0, 1]
    client.close()


def test_match_stream_names_the_bad_request(node: AccordNode, servers: Servers) -> None:
    from node.rpc.pb import local_pb2

    requests = [
        local_pb2.MatchRequest(signals=[str(md5_signal(1)), "md5:zz"]),
        local_pb2.MatchRequest(signals=[]),
    ]
    client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=5)
    received = []
    with pytest.raises(PeerError, match=r"INVALID_ARGUMENT: request 1: give at least one signal"):
        received.extend(client.match_stream(requests))
    assert len(received) == 1  # a bad signal is answered in its response, a bad request ends the call
    assert received[0].results[1].error.startswith("a md5 value must be 32 hex")
    client.close()


def test_match_batch_size_is_limited(node: AccordNode, servers: Servers) -> None:
    too_many = [str(md5_signal(n)) for n in range(node.config.limits.max_batch_signals + 1)]
    client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=10)
    with pytest.raises(PeerError, match="at most"):
        client.match(too_many)
    client.close()


def test_the_cli_asks_the_running_node_and_falls_back_when_it_cannot(
    node: AccordNode, servers: Servers, tmp_path: Path
) -> None:
    publish(node, 1)
    node.load_lists()
    servers.set_serving(True)
    query = [pdq_signal(4)]

    # A second handle on the same home, as `accord match` opens it in its own process.
    cli_side = AccordNode.open(node.home.root)
    cli_side.config = replace(
        cli_side.config,
        network=replace(cli_side.config.network, local_listen=f"127.0.0.1:{servers.local_port}"),
    )
    [answer] = cli_side.match(query, prefer_running_node=True)
    assert answer.matches[0].origin_name == "Example NGO"
    assert not cli_side.lists.ready  # answered by the server: nothing was loaded here

    # Another node on that port (different key) must not answer for us.
    init_home(tmp_path / "other", name="Other")
    stranger = AccordNode.open(tmp_path / "other")
    stranger.config = cli_side.config
    assert stranger.match(query, prefer_running_node=True)[0].matches == ()
    assert stranger.lists.ready  # fell back to its own (empty) lists

    servers.stop(0)
    [fallback] = cli_side.match(query, prefer_running_node=True)
    assert fallback.matches[0].indicator_id == answer.matches[0].indicator_id
    assert cli_side.lists.ready
    cli_side.close()
    stranger.close()
