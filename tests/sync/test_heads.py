"""Heads received from peers: verified, compared with held entries and other peers, recorded."""

from __future__ import annotations

from datetime import timedelta

from node.feed import open_head, payload_digest, sign_head
from node.match import MatchLists
from node.model import Digest, Distribution, Head, Seq, Tlp
from node.sync.heads import check_heads, heads_for, stale_origins
from node.sync.refresh import ListRefresher
from node.sync.serve import entries_for
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


def test_every_partner_sees_every_origins_head_whatever_its_tlp(store, pinned, ingestor, ngo, lab) -> None:
    green = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    red = ngo.entry(
        [indicator(ngo.origin, pdq_signal(2), tlp=Tlp.RED)],
        distribution=Distribution(tlp=Tlp.RED, recipients=frozenset({lab.origin})),
    )
    for envelope in (green, red):
        ingestor.ingest(envelope, pinned=pinned, via="ngo")
    # A restricted entry is a header like any other: hiding it would freeze the feed for whoever
    # may not read it (its body is sealed instead).
    view = heads_for(store, identity=SELF, origin=SELF.key_id, now=T0)
    assert view.held == {ngo.origin: 2}
    assert view.heads == ()  # no origin-signed head of ngo was shown to us, so none to pass on
    check_heads(
        store,
        [signed(ngo, 2, payload_digest(red.header.payload))],
        peer="ngo",
        pinned=pinned,
        self_key=SELF.key_id,
    )  # type: ignore[list-item]
    [relayed] = heads_for(store, identity=SELF, origin=SELF.key_id, now=T0).heads
    assert open_head(relayed, pinned=pinned).head.seq == 2


def test_a_quarantined_origin_is_shown_to_no_one(store, pinned, ingestor, ngo) -> None:
    ingestor.ingest(ngo.entry([indicator(ngo.origin, pdq_signal(1))]), pinned=pinned, via="ngo")
    check_heads(
        store,
        [signed(ngo, 1, Digest("sha256:" + "cd" * 32))],
        peer="hub",
        pinned=pinned,
        self_key=SELF.key_id,
    )  # type: ignore[list-item]
    assert store.quarantined_origins() == {ngo.origin}
    assert heads_for(store, identity=SELF, origin=SELF.key_id, now=T0).held == {}
    assert list(entries_for(store, cursors={ngo.origin: Seq(0)})) == []


def test_a_relay_replaying_an_old_head_leaves_the_origin_flagged_stale(store, pinned, ngo) -> None:
    # TUF's freeze attack: a relay keeps showing a validly signed but old head so that nobody
    # notices newer entries. The origin re-signs its head at every call; an old one is noticed.
    old = sign_head(
        Head(origin=ngo.origin, seq=Seq(1), digest=Digest("sha256:" + "ab" * 32)), ngo.signer, now=T0
    )
    check_heads(store, [old], peer="hub", pinned=pinned, self_key=SELF.key_id)
    now = T0 + timedelta(hours=2)
    assert stale_origins(store, now=now, max_age=timedelta(hours=1)) == {
        ngo.origin: "2026-11-01T12:00:00.000Z"
    }
    fresh = sign_head(
        Head(origin=ngo.origin, seq=Seq(1), digest=Digest("sha256:" + "ab" * 32)), ngo.signer, now=now
    )
    check_heads(store, [fresh], peer="ngo", pinned=pinned, self_key=SELF.key_id)
    assert stale_origins(store, now=now, max_age=timedelta(hours=1)) == {}


def test_after_a_key_rotation_the_origins_head_is_signed_and_accepted_under_the_new_key(
    store, pinned, ingestor, ngo
) -> None:
    ingestor.ingest(ngo.entry([indicator(ngo.origin, pdq_signal(1))]), pinned=pinned, via="ngo")
    old_signer, new = ngo.signer, identity(40)
    rotation = ngo.rotation(new)
    ingestor.ingest(rotation, pinned=pinned, via="ngo")
    head = Head(origin=ngo.origin, seq=Seq(2), digest=payload_digest(rotation.header.payload))

    report = check_heads(
        store, [sign_head(head, new, now=T0)], peer="ngo", pinned=store.pinned_keys(), self_key=SELF.key_id
    )
    assert report.shown == {ngo.origin: 2} and report.rejected == {}
    # The retired key makes no statement about the feed any more.
    stale = check_heads(
        store,
        [sign_head(head, old_signer, now=T0)],
        peer="x",
        pinned=store.pinned_keys(),
        self_key=SELF.key_id,
    )
    assert stale.rejected == {"retired_key": 1}
