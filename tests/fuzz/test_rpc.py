"""Every RPC fed arbitrary requests over real gRPC: each answers OK or a specific status with a
message that says what is wrong — never INTERNAL or UNKNOWN (issue 6)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from hypothesis import strategies as st

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.feed import public_key_to_text
from node.model import ENTRY_PAYLOAD_TYPE, Tlp
from node.rpc.auth import sign_request
from node.rpc.federation import BODIES_METHOD, HEADS_METHOD, PULL_METHOD, PUSH_METHOD
from node.rpc.pb import federation_pb2, federation_pb2_grpc, local_pb2, local_pb2_grpc
from node.rpc.server import Servers
from tests.fuzz.test_parsers import both_modes
from tests.support.feeds import identity, md5_signal, pdq_signal

CALLER = identity(7)
ALLOWED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AccordNode, Servers]]:
    root: Path = tmp_path_factory.mktemp("fuzz") / "home"
    init_home(root, name="fuzz")
    node = AccordNode.open(root)
    node.config = replace(node.config, network=replace(node.config.network, local_listen="127.0.0.1:0"))
    node.add_partner("caller", public_key=public_key_to_text(CALLER.public_key), endpoint=None)
    node.contribute(signals=[str(pdq_signal(1)), str(md5_signal(1))], category="csam", tlp=Tlp.GREEN)
    node.load_lists()
    servers = _start(node, "127.0.0.1:0")
    servers.set_serving(True)
    yield node, servers
    servers.stop(0)
    node.close()


def assert_specific(error: grpc.RpcError) -> None:
    assert error.code() in ALLOWED, (error.code(), error.details())
    assert error.details()


signal_text = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda t, v: f"{t}:{v}",
        st.sampled_from(["pdq", "md5", "sha1", "sha256", "PDQ", "x"]),
        st.text("0123456789abcdefABCDEFxyz", max_size=70),
    ),
    st.just(str(pdq_signal(1))),
)


def _match(running: tuple[AccordNode, Servers], signals: list[str], media: bytes) -> None:
    _, servers = running
    stub = local_pb2_grpc.LocalStub(grpc.insecure_channel(f"127.0.0.1:{servers.local_port}"))
    try:
        response = stub.Match(local_pb2.MatchRequest(signals=signals, media=media), timeout=10)
    except grpc.RpcError as error:
        assert_specific(error)
        return
    assert len(response.results) >= len(signals)


test_match_rpc, test_match_rpc_long = both_modes(
    signals=st.lists(signal_text, max_size=5), media=st.binary(max_size=300)
)(_match)


cursor = st.builds(
    lambda origin, seq: federation_pb2.Cursor(origin=origin, seq=seq),
    st.one_of(st.text(max_size=70), st.just(identity(1).key_id), st.just("")),
    st.integers(0, 2**64 - 1),
)


def _pull(running: tuple[AccordNode, Servers], cursors: list[federation_pb2.Cursor], sign: bool) -> None:
    node, servers = running
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    request = federation_pb2.PullRequest(cursors=[*cursors, federation_pb2.Cursor(origin=node.key_id, seq=0)])
    metadata = sign_request(CALLER, PULL_METHOD, request) if sign else None
    try:
        pages = list(stub.Pull(request, metadata=metadata, timeout=10))
    except grpc.RpcError as error:
        assert_specific(error)
        return
    assert sign and sum(len(p.entries) for p in pages) == 1


test_pull_rpc, test_pull_rpc_long = both_modes(cursors=st.lists(cursor, max_size=4), sign=st.booleans())(
    _pull
)


def _bodies(running: tuple[AccordNode, Servers], cursors: list[federation_pb2.Cursor], sign: bool) -> None:
    node, servers = running
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    request = federation_pb2.BodiesRequest(wanted=cursors)
    metadata = sign_request(CALLER, BODIES_METHOD, request) if sign else None
    try:
        pages = list(stub.Bodies(request, metadata=metadata, timeout=10))
    except grpc.RpcError as error:
        assert_specific(error)
        return
    # Only bodies the node holds, at the positions asked for (here: its own seq 1, if asked).
    served = {(b.origin, b.seq) for p in pages for b in p.bodies}
    assert sign and served <= {(node.key_id, 1)} & {(c.origin, c.seq) for c in cursors}


test_bodies_rpc, test_bodies_rpc_long = both_modes(
    cursors=st.lists(cursor | st.just(federation_pb2.Cursor(origin=identity(7).key_id, seq=1)), max_size=4),
    sign=st.booleans(),
)(_bodies)


metadata_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=90)


def _pull_metadata(running: tuple[AccordNode, Servers], fields: dict[str, str]) -> None:
    _, servers = running
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Pull(federation_pb2.PullRequest(), metadata=tuple(fields.items()), timeout=10))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details()


test_pull_metadata, test_pull_metadata_long = both_modes(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "x-accord-caller": st.one_of(metadata_value, st.just(CALLER.key_id)),
            "x-accord-timestamp": metadata_value,
            "x-accord-nonce": metadata_value,
            "x-accord-signature": metadata_value,
        },
    )
)(_pull_metadata)


def _query(running: tuple[AccordNode, Servers], fields: dict[str, object]) -> None:
    _, servers = running
    stub = local_pb2_grpc.LocalStub(grpc.insecure_channel(f"127.0.0.1:{servers.local_port}"))
    try:
        response = stub.Query(local_pb2.QueryRequest(**fields), timeout=10)  # type: ignore[arg-type]
    except grpc.RpcError as error:
        assert_specific(error)
        return
    assert all(row.tlp != "red" for row in response.rows)


words = st.lists(
    st.one_of(st.text(max_size=20), st.sampled_from(["csam", "red", "green", "active", "image"])), max_size=3
)
test_query_rpc, test_query_rpc_long = both_modes(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "signal": signal_text,
            "near": signal_text,
            "distance": st.integers(0, 2**32 - 1),
            "has_distance": st.booleans(),
            "categories": words,
            "origins": st.lists(st.one_of(st.text(max_size=70), st.just(identity(1).key_id)), max_size=2),
            "tlps": words,
            "statuses": words,
            "content_types": words,
            "since": st.one_of(st.text(max_size=30), st.just("2026-11-30"), st.just("2026-11-30T00:00:00Z")),
            "until": st.one_of(st.text(max_size=30), st.just("2026-12-30")),
            "sort": st.one_of(st.text(max_size=12), st.sampled_from(["-created", "distance", "origin"])),
            "limit": st.integers(0, 2**32 - 1),
        },
    )
)(_query)


entry_message = st.builds(
    lambda kind, payload, keyid, sig, body: federation_pb2.Entry(
        header=federation_pb2.Envelope(
            payload_type=kind, payload=payload, signatures=[federation_pb2.Signature(keyid=keyid, sig=sig)]
        ),
        body=body or b"",
        has_body=body is not None,
    ),
    st.one_of(
        st.text(max_size=60),
        st.just("application/vnd.accord.entry+json; version=1"),
        st.just(ENTRY_PAYLOAD_TYPE),
    ),
    st.binary(max_size=400),
    st.one_of(st.text(max_size=70), st.just(CALLER.key_id)),
    st.binary(max_size=80),
    st.none() | st.binary(max_size=400),
)


def _push(running: tuple[AccordNode, Servers], entries: list[federation_pb2.Entry], sign: bool) -> None:
    _, servers = running
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    metadata = sign_request(CALLER, PUSH_METHOD, federation_pb2.PushRequest()) if sign else None
    try:
        reply = stub.Push(iter([federation_pb2.PushRequest(entries=entries)]), metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        assert_specific(error)
        assert not sign
        return
    # Random bytes are never a valid entry of a pinned origin: the first of each claimed signer is
    # refused by reason, and the rest of that signer's stream is not taken (as in a pull).
    assert reply.accepted == 0
    assert (sum(reply.refused.values()) > 0) == bool(entries)


test_push_rpc, test_push_rpc_long = both_modes(
    entries=st.lists(entry_message, max_size=3), sign=st.booleans()
)(_push)


def _heads(running: tuple[AccordNode, Servers], sign: bool, nonce: str) -> None:
    node, servers = running
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    request = federation_pb2.HeadsRequest()
    metadata = sign_request(CALLER, HEADS_METHOD, request) if sign else (("x-accord-nonce", nonce),)
    try:
        response = stub.Heads(request, metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        assert_specific(error)
        assert not sign
        return
    assert {c.origin: c.seq for c in response.held} == {node.key_id: 1}


test_heads_rpc, test_heads_rpc_long = both_modes(sign=st.booleans(), nonce=metadata_value)(_heads)


def _value_of(kind: str, data: st.DataObject) -> str:
    """A metadata value: digits of any length (a timestamp that overflows a float), signed
    numbers, text, or the value a real signature would carry."""
    strategies = {
        "digits": st.text("0123456789", min_size=1, max_size=4000),
        "number": st.integers(-(10**400), 10**400).map(str),
        "text": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=200),
        "float": st.floats(allow_nan=True, allow_infinity=True).map(repr),
    }
    return data.draw(strategies[kind])


def _metadata_values(running: tuple[AccordNode, Servers], method: str, replaced: dict[str, str]) -> None:
    """Signed metadata of the pinned caller with some values replaced: always UNAUTHENTICATED
    with a reason (issue 13: a huge timestamp raised OverflowError, answered UNKNOWN)."""
    node, servers = running
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    if method == "pull":
        request = federation_pb2.PullRequest(cursors=[federation_pb2.Cursor(origin=node.key_id, seq=0)])
        metadata = [(k, replaced.get(k, v)) for k, v in sign_request(CALLER, PULL_METHOD, request)]
        call = lambda: list(stub.Pull(request, metadata=metadata, timeout=10))  # noqa: E731
    else:
        heads = federation_pb2.HeadsRequest()
        metadata = [(k, replaced.get(k, v)) for k, v in sign_request(CALLER, HEADS_METHOD, heads)]
        call = lambda: stub.Heads(heads, metadata=metadata, timeout=10)  # noqa: E731
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED, (
        caught.value.code(),
        caught.value.details(),
    )
    assert caught.value.details()


@st.composite
def replaced_values(draw: st.DrawFn) -> dict[str, str]:
    keys = draw(
        st.lists(
            st.sampled_from(["x-accord-timestamp", "x-accord-nonce", "x-accord-signature"]),
            min_size=1,
            unique=True,
        )
    )
    data = draw(st.data())
    return {k: _value_of(draw(st.sampled_from(["digits", "number", "text", "float"])), data) for k in keys}


test_metadata_values, test_metadata_values_long = both_modes(
    method=st.sampled_from(["pull", "heads"]), replaced=replaced_values()
)(_metadata_values)
