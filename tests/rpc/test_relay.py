"""Relay, signed heads, omission and push between real nodes (real gRPC servers on loopback).

A hostile hub is a real node whose database is altered behind its back: it then serves what a
hub that rewrites or withholds entries would serve. Every refusal is counted and stores nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from node.app.serve import _scheduler, _start
from node.errors import PeerError
from node.feed import NodeIdentity, public_key_to_text, sign_envelope, sign_head
from node.model import Digest, Envelope, Head, KeyId, Seq, SignedEntry, Tlp
from node.rpc.auth import sign_request
from node.rpc.client import PeerClient
from node.rpc.federation import HEADS_METHOD
from node.rpc.pb import federation_pb2, federation_pb2_grpc
from node.store.codec import signatures_to_text
from node.sync.ingest import Ingestor
from tests.support.feeds import T0, FeedWriter, flip_byte, identity, indicator, md5_signal, with_payload
from tests.support.live_nodes import LiveNode, live_nodes
from tests.support.processes import wait_for


def db(node: LiveNode) -> sqlite3.Connection:
    """A second connection to the node's database, to play a hostile operator."""
    return sqlite3.connect(node.node.store.path, isolation_level=None)


def entry_count(node: LiveNode) -> int:
    return int(node.node.store.reader.execute("SELECT COUNT(*) FROM entries").fetchone()[0])


def head_seq(node: LiveNode, origin: KeyId) -> int:
    head = node.node.store.head(origin)
    return 0 if head is None else int(head.seq)


@pytest.fixture
def star(tmp_path: Path) -> Iterator[dict[str, LiveNode]]:
    """origin → hub → spoke. The spoke cannot reach the origin but pins its key as a known origin."""
    with live_nodes(tmp_path, "origin", "hub", "spoke") as nodes:
        origin, hub, spoke = nodes["origin"], nodes["hub"], nodes["spoke"]
        origin.pin(hub, pull=False)
        hub.pin(origin)
        hub.pin(spoke, pull=False)
        spoke.pin(hub)
        spoke.pin(origin, pull=False)
        yield nodes


def test_a_spoke_receives_the_origins_entries_through_a_hub(star: dict[str, LiveNode]) -> None:
    origin, hub, spoke = star["origin"], star["hub"], star["spoke"]
    origin.publish(md5_signal(1))
    origin.publish(md5_signal(2))
    assert hub.node.sync()[0].accepted == 2
    report = spoke.node.sync()[0]
    assert (report.accepted, dict(report.rejected)) == (2, {})
    assert head_seq(spoke, origin.key_id) == 2
    assert spoke.matches(md5_signal(2))
    via = spoke.node.store.reader.execute("SELECT DISTINCT via FROM entries").fetchall()
    assert via == [("hub",)]
    # The hub passed the origin-signed head along; the spoke recorded it as the hub showed it.
    [shown] = spoke.node.store.peer_heads(origin.key_id)
    assert (shown.peer, shown.seq) == ("hub", 2)


def test_an_origin_the_spoke_has_not_pinned_is_never_accepted(star: dict[str, LiveNode]) -> None:
    origin, hub, spoke = star["origin"], star["hub"], star["spoke"]
    spoke.node.remove_partner("origin")
    origin.publish(md5_signal(1))
    hub.node.sync()
    report = spoke.node.sync()[0]
    assert report.accepted == 0
    assert entry_count(spoke) == 0
    assert spoke.node.store.peer_heads() == []


def test_a_header_rewritten_by_the_hub_is_refused_and_nothing_is_stored(star: dict[str, LiveNode]) -> None:
    origin, hub, spoke = star["origin"], star["hub"], star["spoke"]
    origin.publish(md5_signal(1))
    hub.node.sync()
    with db(hub) as conn:
        payload = conn.execute("SELECT payload FROM entries").fetchone()[0]
        changed = flip_byte(bytes(payload), len(payload) // 2)
        conn.execute("UPDATE entries SET payload = ?", (changed,))
    report = spoke.node.sync()[0]
    assert (report.accepted, dict(report.rejected)) == (0, {"bad_signature": 1})
    assert entry_count(spoke) == 0
    assert not spoke.matches(md5_signal(1))
    assert spoke.node.store.rejection_counts() == {"bad_signature": 1}


def test_a_body_rewritten_by_the_hub_is_counted_and_none_of_it_is_stored(star: dict[str, LiveNode]) -> None:
    origin, hub, spoke = star["origin"], star["hub"], star["spoke"]
    origin.publish(md5_signal(1))
    hub.node.sync()
    with db(hub) as conn:  # one object changed: the header's body digest no longer matches
        body = bytes(conn.execute("SELECT body FROM entries").fetchone()[0])
        changed = body.replace(b'"csam"', b'"ncii"')
        assert changed != body
        conn.execute("UPDATE entries SET body = ?", (changed,))
    report = spoke.node.sync()[0]
    assert report.rejected["body_mismatch"] >= 1
    assert spoke.node.store.rejection_counts()["body_mismatch"] >= 1
    assert head_seq(spoke, origin.key_id) == 1  # the signed header is kept; its body is missing
    [held] = spoke.node.store.entries_after(origin.key_id, Seq(0), limit=1)
    assert held.body is None
    assert not spoke.matches(md5_signal(1))  # nothing of the rewritten body is stored
    assert list(spoke.node.store.iter_indicators(include_revoked=True)) == []


def test_a_hub_that_re_signs_an_origins_entry_with_its_own_key_is_refused(star: dict[str, LiveNode]) -> None:
    origin, hub, spoke = star["origin"], star["hub"], star["spoke"]
    origin.publish(md5_signal(1))
    hub.node.sync()
    stored = hub.node.store.entries_after(origin.key_id, Seq(0), limit=1)[0].envelope
    # The hub signs with its own key, which the spoke pins: a wrong signer for this origin.
    forged = sign_envelope(stored.payload_type, stored.payload, hub.node.identity)
    with db(hub) as conn:
        conn.execute("UPDATE entries SET signatures = ?", (signatures_to_text(forged),))
    report = spoke.node.sync()[0]
    assert (report.accepted, dict(report.rejected)) == (0, {"malformed_entry": 1})
    assert entry_count(spoke) == 0


@pytest.fixture
def two_hubs(tmp_path: Path) -> Iterator[dict[str, LiveNode]]:
    """origin → b_hub, c_hub → spoke (pulling b_hub first, by name)."""
    with live_nodes(tmp_path, "origin", "b_hub", "c_hub", "spoke") as nodes:
        origin, spoke = nodes["origin"], nodes["spoke"]
        for hub in (nodes["b_hub"], nodes["c_hub"]):
            origin.pin(hub, pull=False)
            hub.pin(origin)
            hub.pin(spoke, pull=False)
            spoke.pin(hub)
        spoke.pin(origin, pull=False)
        yield nodes


def test_a_withheld_entry_is_detected_and_fetched_from_another_peer(two_hubs: dict[str, LiveNode]) -> None:
    origin, b_hub, c_hub, spoke = (two_hubs[n] for n in ("origin", "b_hub", "c_hub", "spoke"))
    for seed in (1, 2, 3):
        origin.publish(md5_signal(seed))
    b_hub.node.sync()
    c_hub.node.sync()
    with db(b_hub) as conn:  # b_hub now serves seq 1, then seq 3: it withholds seq 2
        conn.execute("DELETE FROM entries WHERE seq = 2")
    alone = spoke.node.sync("b_hub")[0]
    assert alone.accepted == 1
    assert dict(alone.rejected) == {"gap": 1, "withheld": 1}
    assert head_seq(spoke, origin.key_id) == 1  # the cursor stays at k-1
    assert not spoke.matches(md5_signal(3))
    reports = {r.partner: r for r in spoke.node.sync()}
    assert reports["c_hub"].accepted == 2
    assert head_seq(spoke, origin.key_id) == 3
    assert spoke.matches(md5_signal(2)) and spoke.matches(md5_signal(3))
    counts = spoke.node.store.rejection_counts()
    assert counts["withheld"] >= 1 and counts["gap"] >= 1


class StopsShort:
    """A real peer whose answers are cut after ``last`` seq, while its signed heads pass unchanged."""

    def __init__(self, client: PeerClient, last: int) -> None:
        self._client, self._last = client, last

    def heads(self) -> list[Envelope]:
        return self._client.heads()

    def encryption_statements(self) -> list[Envelope]:
        return self._client.encryption_statements()

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
        for entry in self._client.pull(cursors):
            if json.loads(entry.header.payload)["seq"] <= self._last:
                yield entry


def test_a_peer_that_stops_short_of_its_signed_head_is_detected(two_hubs: dict[str, LiveNode]) -> None:
    origin, b_hub, c_hub, spoke = (two_hubs[n] for n in ("origin", "b_hub", "c_hub", "spoke"))
    origin.publish(md5_signal(1))
    origin.publish(md5_signal(2))
    b_hub.node.sync()
    c_hub.node.sync()
    partner = spoke.node.store.partner("b_hub")
    assert partner is not None
    with _client(b_hub, spoke) as client:
        report = spoke.node.puller.pull(partner, StopsShort(client, last=1))
    assert (report.accepted, dict(report.rejected)) == (1, {"withheld": 1})
    assert head_seq(spoke, origin.key_id) == 1
    spoke.node.sync()
    assert head_seq(spoke, origin.key_id) == 2


def test_heads_show_every_pinned_partner_every_header_and_a_stranger_nothing(
    star: dict[str, LiveNode],
) -> None:
    origin, hub, spoke = star["origin"], star["hub"], star["spoke"]
    origin.publish(md5_signal(1))
    origin.publish(md5_signal(2), tlp=Tlp.RED, to=frozenset({hub.key_id}))
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(origin.endpoint))

    def view(caller: LiveNode) -> dict[str, int]:
        request = federation_pb2.HeadsRequest()
        metadata = sign_request(caller.node.identity, HEADS_METHOD, request)
        return {c.origin: c.seq for c in stub.Heads(request, metadata=metadata, timeout=10).held}

    assert view(hub) == {origin.key_id: 2}
    origin.pin(spoke, pull=False)
    # Format 2: a non-recipient sees the RED header too (its body reaches it only sealed).
    assert view(spoke) == {origin.key_id: 2}
    stranger = identity(9)
    request = federation_pb2.HeadsRequest()
    with pytest.raises(grpc.RpcError) as error:
        stub.Heads(request, metadata=sign_request(stranger, HEADS_METHOD, request), timeout=10)
    assert error.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_forked_heads_quarantine_the_origin_and_its_signals_stop_matching(
    two_hubs: dict[str, LiveNode],
) -> None:
    b_hub, c_hub, spoke = two_hubs["b_hub"], two_hubs["c_hub"], two_hubs["spoke"]
    liar = identity(40)  # an origin that shows b_hub one seq 2 and c_hub another
    writer = FeedWriter(liar, name="liar")
    first = writer.entry([indicator(liar.key_id, md5_signal(1))])
    fork_a = writer.entry([indicator(liar.key_id, md5_signal(2))], advance=False)
    fork_b = writer.entry([indicator(liar.key_id, md5_signal(3))])
    for hub, fork in ((b_hub, fork_a), (c_hub, fork_b)):
        hub.node.add_partner("liar", public_key=_key_text(liar), endpoint=None)
        ingestor = Ingestor(store=hub.node.store, limits=hub.node.config.limits)
        for envelope in (first, fork):
            ingestor.ingest(envelope, pinned=hub.node.store.pinned_keys(), via="liar")
        digest = hub.node.store.head(liar.key_id).digest  # type: ignore[union-attr]
        with hub.node.store.write() as tx:  # the head the liar signed for this hub
            signed = sign_head(Head(origin=liar.key_id, seq=Seq(2), digest=digest), liar, now=T0)
            tx.record_peer_head(
                peer="liar", origin=liar.key_id, seq=Seq(2), digest=Digest(digest), envelope=signed
            )
    spoke.node.add_partner("liar", public_key=_key_text(liar), endpoint=None)

    assert spoke.node.sync("b_hub")[0].accepted == 2
    assert spoke.matches(md5_signal(2))
    report = spoke.node.sync("c_hub")[0]
    committed = time.monotonic()
    assert report.accepted == 0
    assert report.rejected["equivocation"] >= 1
    assert liar.key_id in spoke.node.store.quarantined_origins()
    assert spoke.node.store.evidence_count() >= 2
    # Refreshing is what the running node does every refresh_seconds; it takes well under 1 s.
    spoke.node.refresher.refresh()
    assert time.monotonic() - committed < 1.0
    assert not spoke.node.lists.query(md5_signal(2), pdq_threshold=0)  # out of the match lists
    assert not any(spoke.matches(md5_signal(n)) for n in (1, 2, 3))  # zero forked entries match
    assert spoke.node.status().quarantined == (liar.key_id,)


def _key_text(identity_: NodeIdentity) -> str:
    return public_key_to_text(identity_.public_key)


@pytest.fixture
def push_pair(tmp_path: Path) -> Iterator[dict[str, LiveNode]]:
    """A contributor that cannot accept connections, and the hub it pushes to."""
    with live_nodes(tmp_path, "contributor", "hub", serving=("hub",)) as nodes:
        nodes["contributor"].pin(nodes["hub"])
        nodes["hub"].pin(nodes["contributor"])
        yield nodes


def test_a_contributor_pushes_its_entries_to_a_hub(push_pair: dict[str, LiveNode]) -> None:
    contributor, hub = push_pair["contributor"], push_pair["hub"]
    contributor.publish(md5_signal(1))
    contributor.publish(md5_signal(2))
    first = contributor.node.push("hub")
    assert (first.resumed_after, first.accepted, first.refused) == (0, 2, {})
    assert head_seq(hub, contributor.key_id) == 2
    assert hub.matches(md5_signal(2))
    contributor.publish(md5_signal(3))
    second = contributor.node.push("hub")
    assert (second.resumed_after, second.accepted) == (2, 1)
    assert hub.node.store.sync_records()["contributor"].received == 3


def signed_entries(node: LiveNode, *, limit: int) -> list[SignedEntry]:
    """A node's own first entries, header and body, as it would push them."""
    held = node.node.store.entries_after(node.key_id, Seq(0), limit=limit)
    return [SignedEntry(header=e.envelope, body=e.body) for e in held]


def _client(hub: LiveNode, caller: LiveNode) -> PeerClient:
    return PeerClient(hub.endpoint, identity=caller.node.identity, timeout=10, max_message_bytes=1 << 22)


def test_a_tampered_push_is_refused_like_a_tampered_pull(push_pair: dict[str, LiveNode]) -> None:
    contributor, hub = push_pair["contributor"], push_pair["hub"]
    contributor.publish(md5_signal(1))
    [entry] = signed_entries(contributor, limit=1)
    tampered = with_payload(entry, flip_byte(entry.header.payload, len(entry.header.payload) // 2))
    with _client(hub, contributor) as client:
        reply = client.push([tampered], per_message=1)
    assert (reply.accepted, dict(reply.refused)) == (0, {"bad_signature": 1})
    assert entry_count(hub) == 0
    assert hub.node.store.rejection_counts() == {"bad_signature": 1}


def test_pushed_entries_out_of_order_or_replayed_are_refused(push_pair: dict[str, LiveNode]) -> None:
    contributor, hub = push_pair["contributor"], push_pair["hub"]
    contributor.publish(md5_signal(1))
    contributor.publish(md5_signal(2))
    one, two = signed_entries(contributor, limit=2)
    with _client(hub, contributor) as client:
        early = client.push([two], per_message=1)
        assert (early.accepted, dict(early.refused)) == (0, {"gap": 1})
        assert entry_count(hub) == 0
        assert client.push([one, two], per_message=1).accepted == 2
        again = client.push([one], per_message=1)
    assert (again.accepted, dict(again.refused)) == (0, {"replayed": 1})
    assert entry_count(hub) == 2


def test_a_push_from_an_unpinned_caller_is_unauthenticated(push_pair: dict[str, LiveNode]) -> None:
    hub = push_pair["hub"]
    stranger = FeedWriter(identity(9))
    with (
        PeerClient(hub.endpoint, identity=identity(9), timeout=10, max_message_bytes=1 << 22) as client,
        pytest.raises(PeerError, match="UNAUTHENTICATED"),
    ):
        client.push([stranger.entry([indicator(stranger.origin, md5_signal(1))])], per_message=1)
    assert entry_count(hub) == 0


def test_a_push_larger_than_the_message_limit_is_refused(push_pair: dict[str, LiveNode]) -> None:
    contributor, hub = push_pair["contributor"], push_pair["hub"]
    contributor.publish(*(md5_signal(n) for n in range(400)))
    [entry] = signed_entries(contributor, limit=1)
    assert entry.body is not None
    limit = len(entry.body) // 2  # the body travels in the same message as its header
    hub.servers.stop(0)  # type: ignore[union-attr]
    hub.node.config = replace(
        hub.node.config, network=replace(hub.node.config.network, max_message_bytes=limit)
    )
    hub.servers = _start(hub.node, "127.0.0.1:0")
    try:
        with _client(hub, contributor) as client, pytest.raises(PeerError, match="RESOURCE_EXHAUSTED"):
            client.push([entry], per_message=1)
        assert entry_count(hub) == 0
    finally:
        hub.servers.stop(0)


def test_a_scheduled_push_follows_each_pull_from_a_partner_named_in_push_to(
    push_pair: dict[str, LiveNode],
) -> None:
    contributor, hub = push_pair["contributor"], push_pair["hub"]
    config = contributor.node.config
    contributor.node.config = replace(
        config, sync=replace(config.sync, interval_seconds=0.5, jitter_seconds=0.0, push_to=" hub ,")
    )
    contributor.publish(md5_signal(1))
    scheduler = _scheduler(contributor.node)
    scheduler.start()
    try:
        wait_for(lambda: head_seq(hub, contributor.key_id) == 1, timeout=30)
        contributor.publish(md5_signal(2))
        wait_for(lambda: head_seq(hub, contributor.key_id) == 2, timeout=30)
    finally:
        scheduler.stop()
    assert hub.node.store.rejection_counts() == {}
