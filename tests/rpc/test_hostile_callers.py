"""Hostile callers of the Federation API: each is refused, counted in status, and gets nothing.

Every case is a real server on loopback and a real signed (or mis-signed) request. What the
caller may see is decided only from the key that verified the signature; the count of refused
requests appears in ``accord status`` under ``unauthenticated``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import ContentType, Distribution, Tlp
from node.rpc.auth import sign_request
from node.rpc.federation import PULL_METHOD
from node.rpc.pb import federation_pb2, federation_pb2_grpc
from node.rpc.server import Servers
from node.sync.publish import Contribution
from tests.support.feeds import encryption_keys, identity, pdq_signal

PLATFORM = identity(7)  # pinned, and the only recipient of the RED entry
PLATFORM_KEYS = encryption_keys(7)  # the platform's encryption key the RED body is sealed to
HOTLINE = identity(8)  # pinned too, but not a recipient
STRANGER = identity(99)  # never pinned

Metadata = list[tuple[str, str]]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example NGO")
    opened = AccordNode.open(tmp_path / "home")
    opened.config = replace(opened.config, network=replace(opened.config.network, local_listen="127.0.0.1:0"))
    platform_key = encryption_key_to_text(PLATFORM_KEYS.public)  # compared out of band, like the key
    opened.add_partner(
        "platform",
        public_key=public_key_to_text(PLATFORM.public_key),
        endpoint=None,
        encryption_key=platform_key,
    )
    opened.add_partner("hotline", public_key=public_key_to_text(HOTLINE.public_key), endpoint=None)
    items = [Contribution(pdq_signal(j), ContentType.IMAGE, 100) for j in range(3)]
    red = Distribution(tlp=Tlp.RED, recipients=frozenset({PLATFORM.key_id}))
    opened.publisher.contribute(items, category="csam", distribution=red)
    yield opened
    opened.close()


@pytest.fixture
def servers(node: AccordNode) -> Iterator[Servers]:
    running = _start(node, "127.0.0.1:0")
    yield running
    running.stop(0)


def request_for(node: AccordNode, seq: int = 0) -> federation_pb2.PullRequest:
    return federation_pb2.PullRequest(cursors=[federation_pb2.Cursor(origin=node.key_id, seq=seq)])


def claiming(metadata: Metadata, key_id: str) -> Metadata:
    return [(k, key_id if k == "x-accord-caller" else v) for k, v in metadata]


def spoofed_header(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)  # a stranger signs, and claims to be the platform
    return request, claiming(sign_request(STRANGER, PULL_METHOD, request), PLATFORM.key_id)


def wrong_signer(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)  # a pinned partner signs, and claims to be another pinned partner
    return request, claiming(sign_request(HOTLINE, PULL_METHOD, request), PLATFORM.key_id)


def expired_timestamp(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)
    return request, sign_request(PLATFORM, PULL_METHOD, request, now=time.time() - 3600)


def future_timestamp(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)
    return request, sign_request(PLATFORM, PULL_METHOD, request, now=time.time() + 3600)


def unknown_key(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)
    return request, sign_request(STRANGER, PULL_METHOD, request)


def method_mismatch(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)  # signed for another method, sent to Pull
    return request, sign_request(PLATFORM, "/accord.v1.Federation/GetNodeInfo", request)


def digest_mismatch(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    signed = request_for(node, seq=5)  # signed for other cursors than the ones sent
    return request_for(node), sign_request(PLATFORM, PULL_METHOD, signed)


def bad_signature_encoding(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)
    metadata = sign_request(PLATFORM, PULL_METHOD, request)
    return request, [(k, "not*base64" if k == "x-accord-signature" else v) for k, v in metadata]


CASES: dict[str, tuple[Callable[[AccordNode], tuple[federation_pb2.PullRequest, Metadata]], str]] = {
    "spoofed identity header": (spoofed_header, "does not verify"),
    "wrong signer": (wrong_signer, "does not verify"),
    "expired timestamp": (expired_timestamp, "replay window"),
    "timestamp from the future": (future_timestamp, "replay window"),
    "unknown key": (unknown_key, "not pinned"),
    "method mismatch": (method_mismatch, "does not verify"),
    "digest mismatch": (digest_mismatch, "does not verify"),
    "signature not base64": (bad_signature_encoding, "not base64"),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_hostile_caller_is_refused_counted_and_gets_nothing(
    node: AccordNode, servers: Servers, case: str
) -> None:
    build, message = CASES[case]
    request, metadata = build(node)
    entries_before = node.store.reader.execute("SELECT COUNT(*) FROM entries").fetchone()
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    pages: list[federation_pb2.EntryPage] = []
    with pytest.raises(grpc.RpcError) as caught:
        pages.extend(stub.Pull(request, metadata=metadata, timeout=5))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert message in (caught.value.details() or "")
    assert pages == []  # not one entry left the node
    assert node.status().rejections == {"unauthenticated": 1}
    assert node.store.reader.execute("SELECT COUNT(*) FROM entries").fetchone() == entries_before


def test_a_replayed_nonce_is_refused_and_counted_while_the_first_call_succeeds(
    node: AccordNode, servers: Servers
) -> None:
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    request = request_for(node)
    metadata = sign_request(PLATFORM, PULL_METHOD, request)
    assert len(list(stub.Pull(request, metadata=metadata, timeout=5))) == 1
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Pull(request, metadata=metadata, timeout=5))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED and "replayed" in (
        caught.value.details() or ""
    )
    assert node.status().rejections == {"unauthenticated": 1}


def test_a_pinned_non_recipient_gets_the_red_header_but_only_ciphertext(
    node: AccordNode, servers: Servers
) -> None:
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    request = request_for(node)
    for caller in (HOTLINE, PLATFORM):  # format 2: every pinned partner gets every header
        pages = list(stub.Pull(request, metadata=sign_request(caller, PULL_METHOD, request), timeout=5))
        entries = [entry for page in pages for entry in page.entries]
        assert len(entries) == 1 and entries[0].has_body
        body = entries[0].body  # sealed: no hash value of the RED entry travels in the clear
        assert all(pdq_signal(j).value.encode() not in body for j in range(3))
        assert b"indicator" not in body and b"pdq" not in body
