"""The Bodies RPC and the encryption-key statements, over real gRPC on loopback.

A header that arrived without its body is completed from any peer that holds the body; the
call is authenticated like Pull, bounded, and never serves a quarantined origin. Statements of
encryption keys ride in requests and Heads answers, so an origin learns the key of a recipient
that only ever pulled from it, and NodeInfo shows the key to anyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.app import AccordNode
from node.errors import InvalidInput, PeerError
from node.feed import NodeIdentity, public_key_to_text
from node.feed.encryption import open_encryption_key
from node.model import Seq, SignedEntry, Tlp
from node.rpc.client import PeerClient
from node.rpc.convert import envelope_from_proto
from node.rpc.pb import federation_pb2
from node.sync.serve import MAX_BODIES_PER_CALL
from tests.support.nodes import LiveNode


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[LiveNode, LiveNode]]:
    ngo = LiveNode.start(tmp_path / "ngo", "ngo")
    platform = LiveNode.start(tmp_path / "platform", "platform")
    platform.pin(ngo, "ngo", endpoint=ngo.address)
    ngo.pin(platform, "platform")
    yield ngo, platform
    platform.stop()
    ngo.stop()


def client(to: LiveNode, who: LiveNode | NodeIdentity) -> PeerClient:
    identity = who if isinstance(who, NodeIdentity) else who.node.identity
    caller = None if isinstance(who, NodeIdentity) else who.node.origin
    return PeerClient(to.address, identity=identity, timeout=10, max_message_bytes=1 << 22, caller=caller)


def test_bodies_serves_held_bodies_sealed_ones_as_ciphertext(pair) -> None:
    ngo, platform = pair
    ngo.publish(1, n=3)
    ngo.publish(2, n=3, tlp=Tlp.RED, to=frozenset({platform.node.origin}))
    with client(ngo, platform) as peer:
        got = {
            seq: body for _, seq, body in peer.bodies([(ngo.node.origin, Seq(1)), (ngo.node.origin, Seq(2))])
        }
    held = {e.seq: e.body for e in ngo.node.store.entries_after(ngo.node.origin, Seq(0), limit=5)}
    assert got == held  # exactly what the origin holds: the clear body and the ciphertext
    assert b"indicator--" in got[1] and b"indicator--" not in got[2]


def test_a_body_stripped_on_the_way_is_fetched_with_bodies_by_the_next_pull(pair) -> None:
    ngo, platform = pair
    ngo.publish(1, n=3)
    entry = ngo.node.store.entry_at(ngo.node.origin, Seq(1))
    assert entry is not None
    # The header alone reaches the platform (as from a relay that stripped the body) ...
    report = platform.node.puller.receive(
        platform.node.store.partner("ngo"),  # type: ignore[arg-type]
        iter([SignedEntry(entry.envelope, None)]),
    )
    assert report.accepted == 1 and platform.node.store.missing_bodies(limit=5)
    # ... and the next pull from a peer that holds it completes it.
    pulled = platform.node.sync()
    assert [r.bodies for r in pulled] == [1]
    assert platform.node.store.missing_bodies(limit=5) == []
    assert sum(c.count for c in platform.node.store.counts()) == 3


def test_bodies_refuses_an_unpinned_caller(pair) -> None:
    ngo, _ = pair
    ngo.publish(1, n=1)
    with client(ngo, NodeIdentity.generate()) as peer, pytest.raises(PeerError, match="UNAUTHENTICATED"):
        list(peer.bodies([(ngo.node.origin, Seq(1))]))


def test_bodies_refuses_too_many_positions_by_name(pair) -> None:
    ngo, platform = pair
    wanted = [(ngo.node.origin, Seq(n + 1)) for n in range(MAX_BODIES_PER_CALL + 1)]
    with client(ngo, platform) as peer, pytest.raises(PeerError, match=f"at most {MAX_BODIES_PER_CALL}"):
        list(peer.bodies(wanted))


def test_the_origin_learns_a_pullers_encryption_key_from_its_signed_request(tmp_path: Path) -> None:
    ngo = LiveNode.start(tmp_path / "ngo", "ngo")
    platform = LiveNode.start(tmp_path / "platform", "platform")
    try:
        # Pinned both ways, but no encryption key exchanged out of band.
        platform.node.add_partner("ngo", public_key=_key(ngo), endpoint=ngo.address)
        ngo.node.add_partner("platform", public_key=_key(platform), endpoint=None)
        with pytest.raises(InvalidInput, match="no recently confirmed encryption key"):
            ngo.publish(1, n=1, tlp=Tlp.RED, to=frozenset({platform.node.origin}))
        platform.node.sync()  # its Pull and Heads requests carry its signed statement
        ngo.publish(1, n=1, tlp=Tlp.RED, to=frozenset({platform.node.origin}))
        platform.node.sync()
        assert sum(c.count for c in platform.node.store.counts()) == 1  # it reads the RED body
    finally:
        platform.stop()
        ngo.stop()


def test_node_info_shows_a_statement_anyone_can_check_against_the_pinned_key(pair) -> None:
    ngo, platform = pair
    with client(ngo, platform) as peer:
        info = peer.node_info()
    statement = open_encryption_key(
        envelope_from_proto(info.encryption_key), pinned={ngo.node.origin: ngo.node.identity.public_key}
    )
    assert statement.node == ngo.node.origin and statement.key == ngo.node.encryption.current.public
    assert isinstance(info, federation_pb2.NodeInfo)


def _key(node: LiveNode) -> str:
    return public_key_to_text(node.node.identity.public_key)


def test_a_serving_node_signs_its_heads_with_a_key_rotated_by_another_process(pair) -> None:
    # `accord key rotate` runs in its own process while `accord serve` keeps serving: the heads
    # the server signs afterwards must be signed by the new key (a retired key's are refused).
    ngo, platform = pair
    ngo.publish(1, n=1)
    platform.node.sync()
    other = AccordNode.open(ngo.node.home.root)  # the CLI's process
    other.rotate_key()
    other.close()
    # The first sync brings the rotation entry (heads are checked before it, so the new key's
    # head is not known yet); from the next one on, the head is the new key's.
    for _ in range(2):
        report = platform.node.sync()
        assert report[0].rejected == {} and report[0].ok
    assert "retired_key" not in platform.node.store.rejection_counts()
    [head] = list(platform.node.store.peer_heads(ngo.node.origin))
    assert head.seq == 2 and head.envelope.signatures[0].keyid == ngo.node.signing_identity().key_id
