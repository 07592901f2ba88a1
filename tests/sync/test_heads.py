"""Heads received from peers: verified, compared with held entries and other peers, recorded."""

from __future__ import annotations

from node.feed import payload_digest, sign_head
from node.match import MatchLists
from node.model import Digest, Distribution, Head, Seq, Tlp
from node.sync.heads import check_heads, heads_for, visible_head
from node.sync.refresh import ListRefresher
from tests.support.feeds import T0, FeedWriter, flip_byte, identity, indicator, pdq_signal, with_payload

SELF = identity(9)


def signed(writer: FeedWriter, seq: int, digest: Digest) -> object:
    return sign_head(Head(origin=writer.origin, seq=Seq(seq), digest=digest), writer.signer, now=T0)


def test_a_head_naming_another_entry_than_the_held_one_quarantines_the_origin(
    store, pinned, ingestor, ngo: FeedWriter
) -> None:
    held = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    ingestor.ingest(held, pinned=pinned, via="ngo")
    lists = MatchLists()
    refresher = ListRefresher(store=store, lists=lists)
    refresher.load()
    assert lists.query(pdq_signal(1), pdq_threshold=0)

    other = Digest("sha256:" + "cd" * 32)
    report = check_heads(store, [signed(ngo, 1, other)], peer="hub", pinned=pinned, self_key=SELF.key_id)  # type: ignore[list-item]

    assert report.rejected == {"equivocation": 1} and report.shown == {}
    assert store.quarantined_origins() == {ngo.origin}
    assert {(e.seq, e.via) for e in store.evidence()} == {(1, None), (1, "hub")}  # both statements kept
    refresher.refresh()
    assert not lists.query(pdq_signal(1), pdq_threshold=0)  # its signals left the match lists
    assert store.rejection_counts() == {"equivocation": 1}


def test_two_peers_showing_different_heads_at_one_seq_is_equivocation(store, pinned, ngo: FeedWriter) -> None:
    first = check_heads(
        store, [signed(ngo, 4, Digest("sha256:" + "ab" * 32))], peer="b", pinned=pinned, self_key=SELF.key_id
    )  # type: ignore[list-item]
    assert first.shown == {ngo.origin: 4}
    second = check_heads(
        store, [signed(ngo, 4, Digest("sha256:" + "cd" * 32))], peer="c", pinned=pinned, self_key=SELF.key_id
    )  # type: ignore[list-item]
    assert second.rejected == {"equivocation": 1}
    assert {e.via for e in store.evidence()} == {"b", "c"}
    assert store.quarantined_origins() == {ngo.origin}


def test_a_tampered_head_is_refused_counted_and_not_recorded(store, pinned, ngo: FeedWriter) -> None:
    good = signed(ngo, 2, Digest("sha256:" + "ab" * 32))
    bad = with_payload(good, flip_byte(good.payload, 30))  # type: ignore[attr-defined]
    report = check_heads(store, [bad], peer="hub", pinned=pinned, self_key=SELF.key_id)
    assert report.rejected == {"bad_signature": 1} and report.shown == {}
    assert store.peer_heads() == []
    assert store.rejection_counts() == {"bad_signature": 1}


def test_heads_of_unpinned_origins_are_ignored(store, pinned) -> None:
    stranger = FeedWriter(identity(30))
    report = check_heads(
        store,
        [signed(stranger, 1, Digest("sha256:" + "ab" * 32))],
        peer="hub",
        pinned=pinned,
        self_key=SELF.key_id,
    )  # type: ignore[list-item]
    assert (report.shown, report.rejected) == ({}, {})
    assert store.peer_heads() == [] and store.rejection_counts() == {}


def test_a_caller_sees_the_head_of_what_it_may_receive_only(store, pinned, ingestor, ngo, lab) -> None:
    green = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    red = ngo.entry(
        [indicator(ngo.origin, pdq_signal(2), tlp=Tlp.RED)],
        distribution=Distribution(tlp=Tlp.RED, recipients=frozenset({lab.origin})),
    )
    for envelope in (green, red):
        ingestor.ingest(envelope, pinned=pinned, via="ngo")
    # We relay; the red entry is never ours to serve, to anyone.
    assert visible_head(store, origin=ngo.origin, caller=lab.origin, server=SELF.key_id) == Head(
        origin=ngo.origin, seq=Seq(1), digest=payload_digest(green.payload)
    )
    # Our own feed's head is signed afresh for the caller, and verifies as ours.
    view = heads_for(store, identity=SELF, caller=lab.origin, now=T0)
    assert view.held == {ngo.origin: 1}
    assert view.heads == ()  # no origin-signed head of ngo was shown to us, so none to pass on
