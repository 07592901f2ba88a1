"""A hub that lies: strips bodies, swaps ciphertext, replays stale heads, unseals to a stranger.

The hub sits between an origin and the nodes behind it. It cannot forge a header (the origin
signs those), so each attack must be noticed and survived: a stripped or swapped body counts
against the hub and is fetched from another peer, a stale head flags the origin, and a
restricted body handed over in the clear is refused by its digest. The transport is the pull
port (``FeedSource`` and friends) served from real stores, as the Federation servicer serves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

import pytest

from node.config import LimitsSection
from node.feed import NodeIdentity
from node.model import ContentType, Distribution, Envelope, KeyId, Partner, Seq, SignedEntry, Tlp
from node.model.clock import format_timestamp, truncate_ms
from node.store import Store
from node.sync.heads import heads_for, stale_origins
from node.sync.ingest import Ingestor
from node.sync.publish import Contribution, Publisher
from node.sync.pull import Puller
from node.sync.serve import bodies_for, entries_for
from tests.support.feeds import T0, encryption_keys, identity, md5_signal

ORIGIN, HUB, RECEIVER, STRANGER = identity(1), identity(2), identity(3), identity(4)
KEYS = {who.key_id: encryption_keys(n) for n, who in enumerate((ORIGIN, HUB, RECEIVER, STRANGER), start=1)}


class Honest:
    """A peer serving what its store holds, as the Federation servicer does."""

    def __init__(self, store: Store, who: NodeIdentity, *, now: datetime = T0) -> None:
        self.store, self.who, self.now = store, who, now

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
        for entry in entries_for(self.store, cursors=cursors):
            yield SignedEntry(entry.envelope, entry.body)

    def bodies(self, wanted: Sequence[tuple[KeyId, Seq]]) -> Iterator[tuple[KeyId, Seq, bytes]]:
        for entry in bodies_for(self.store, wanted):
            assert entry.body is not None
            yield entry.origin, entry.seq, entry.body

    def heads(self) -> list[Envelope]:
        return list(heads_for(self.store, identity=self.who, origin=self.who.key_id, now=self.now).heads)

    def encryption_statements(self) -> list[Envelope]:
        return []


class StrippingHub(Honest):
    """Serves headers without any body, and no body when asked for one."""

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
        for item in super().pull(cursors):
            yield replace(item, body=None)

    def bodies(self, wanted: Sequence[tuple[KeyId, Seq]]) -> Iterator[tuple[KeyId, Seq, bytes]]:
        return iter(())


class SwappingHub(Honest):
    """Serves every body with other bytes of the same length, with its header and when asked."""

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
        for item in super().pull(cursors):
            yield replace(item, body=_swap(item.body) if item.body is not None else None)

    def bodies(self, wanted: Sequence[tuple[KeyId, Seq]]) -> Iterator[tuple[KeyId, Seq, bytes]]:
        for origin, seq, body in super().bodies(wanted):
            yield origin, seq, _swap(body)


def _swap(body: bytes) -> bytes:
    return bytes(b ^ 0x5A for b in body)


def ticking_clock() -> object:
    ticks = count()
    return lambda: truncate_ms(T0 + timedelta(seconds=next(ticks)))


def make_store(tmp_path: Path, name: str, *pins: NodeIdentity) -> Store:
    store = Store(tmp_path / f"{name}.db")
    with store.write() as tx:
        for n, who in enumerate(pins):
            tx.add_partner(
                Partner(name=f"p{n}-{who.key_id[:6]}", key_id=who.key_id, public_key=who.public_key)
            )
    return store


def partner(store: Store, who: NodeIdentity) -> Partner:
    return next(p for p in store.partners() if p.key_id == who.key_id)


def puller(store: Store, who: NodeIdentity) -> Puller:
    keys = KEYS[who.key_id]
    ingestor = Ingestor(
        store=store, limits=LimitsSection(), self_key=who.key_id, encryption_keys=lambda: [keys]
    )
    return Puller(store=store, ingestor=ingestor, self_key=who.key_id)


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[tuple[Store, Publisher]]:
    store = make_store(tmp_path, "origin", HUB, RECEIVER, STRANGER)
    with store.write() as tx:  # every partner confirmed its encryption key to the origin
        for who in (HUB, RECEIVER, STRANGER):
            keys = KEYS[who.key_id]
            tx.record_encryption_key(
                node=who.key_id,
                key_id=keys.key_id,
                key=keys.public,
                announced=format_timestamp(T0),
                source="t",
            )
    publisher = Publisher(
        store=store,
        identity=ORIGIN,
        name="ngo",
        limits=LimitsSection(),
        clock=ticking_clock(),  # type: ignore[arg-type]
        encryption=KEYS[ORIGIN.key_id],
    )
    yield store, publisher
    store.close()


def share(publisher: Publisher, signal: object, tlp: Tlp, *to: NodeIdentity) -> None:
    publisher.contribute(
        [Contribution(signal, ContentType.default_for(signal.type))],  # type: ignore[attr-defined]
        category="csam",
        distribution=Distribution(tlp=tlp, recipients=frozenset(w.key_id for w in to)),
    )


def hub_copy(tmp_path: Path, origin_store: Store) -> Store:
    """The hub's store after an honest pull from the origin (the hub is not a recipient)."""
    hub = make_store(tmp_path, "hub", ORIGIN)
    report = puller(hub, HUB).pull(partner(hub, ORIGIN), Honest(origin_store, ORIGIN))
    assert report.ok
    return hub


def test_a_hub_that_strips_green_bodies_is_caught_and_the_body_comes_from_another_peer(
    tmp_path, origin
) -> None:
    origin_store, publisher = origin
    share(publisher, md5_signal(1), Tlp.GREEN)
    hub = hub_copy(tmp_path, origin_store)
    receiver = make_store(tmp_path, "receiver", ORIGIN, HUB)

    # Round 1: through the stripping hub. The chain advances on the header; the omission is
    # counted against the hub; nothing matches yet.
    first = puller(receiver, RECEIVER).pull(partner(receiver, HUB), StrippingHub(hub, HUB))
    assert (first.accepted, first.rejected["body_withheld"]) == (1, 1)
    assert receiver.head(ORIGIN.key_id).seq == 1  # type: ignore[union-attr]
    assert receiver.indicators_with_signal(md5_signal(1)) == []
    assert receiver.missing_bodies(limit=5) == [(ORIGIN.key_id, 1, 1)]
    # Round 2: from the origin, which holds the body: fetched, applied, nothing missing.
    second = puller(receiver, RECEIVER).pull(partner(receiver, ORIGIN), Honest(origin_store, ORIGIN))
    assert (second.accepted, second.bodies) == (0, 1)
    assert receiver.indicators_with_signal(md5_signal(1)) and receiver.missing_bodies(limit=5) == []
    hub.close()
    receiver.close()


def test_a_hub_that_swaps_sealed_ciphertext_is_refused_by_digest_and_fetched_elsewhere(
    tmp_path, origin
) -> None:
    origin_store, publisher = origin
    share(publisher, md5_signal(2), Tlp.RED, RECEIVER)
    hub = hub_copy(tmp_path, origin_store)
    receiver = make_store(tmp_path, "receiver", ORIGIN, HUB)

    first = puller(receiver, RECEIVER).pull(partner(receiver, HUB), SwappingHub(hub, HUB))
    assert first.accepted == 1 and receiver.rejection_counts()["body_mismatch"] == 2  # pull + Bodies
    assert receiver.indicators_with_signal(md5_signal(2)) == []
    second = puller(receiver, RECEIVER).pull(partner(receiver, ORIGIN), Honest(origin_store, ORIGIN))
    assert second.bodies == 1
    [held] = receiver.indicators_with_signal(md5_signal(2))
    assert held.tlp is Tlp.RED
    hub.close()
    receiver.close()


def test_the_hub_relays_red_it_cannot_read_and_the_recipient_behind_it_reads_it(tmp_path, origin) -> None:
    origin_store, publisher = origin
    share(publisher, md5_signal(3), Tlp.RED, RECEIVER)
    hub = hub_copy(tmp_path, origin_store)
    assert hub.indicators_with_signal(md5_signal(3)) == []
    assert md5_signal(3).value.encode() not in b"".join(
        e.body or b"" for e in entries_for(hub, cursors={ORIGIN.key_id: Seq(0)})
    )
    receiver = make_store(tmp_path, "receiver", ORIGIN, HUB)

    report = puller(receiver, RECEIVER).pull(partner(receiver, HUB), Honest(hub, HUB))

    assert (report.accepted, report.indicators) == (1, 1)
    assert receiver.indicators_with_signal(md5_signal(3))
    hub.close()
    receiver.close()


def test_a_hub_replaying_stale_heads_leaves_the_origin_flagged_stale(tmp_path, origin) -> None:
    origin_store, publisher = origin
    share(publisher, md5_signal(4), Tlp.GREEN)
    hub = make_store(tmp_path, "hub", ORIGIN)
    later = T0 + timedelta(days=2)
    # The hub pulled once, long ago, and keeps showing the head the origin signed then.
    puller(hub, HUB).pull(partner(hub, ORIGIN), Honest(origin_store, ORIGIN, now=T0))
    receiver = make_store(tmp_path, "receiver", ORIGIN, HUB)
    puller(receiver, RECEIVER).pull(partner(receiver, HUB), Honest(hub, HUB, now=later))

    assert set(stale_origins(receiver, now=later, max_age=timedelta(hours=3))) == {ORIGIN.key_id}
    # The origin itself signs its head afresh at every call: once heard from, it is not stale.
    puller(receiver, RECEIVER).pull(partner(receiver, ORIGIN), Honest(origin_store, ORIGIN, now=later))
    assert stale_origins(receiver, now=later, max_age=timedelta(hours=3)) == {}
    hub.close()
    receiver.close()


def test_a_recipient_that_pushes_a_restricted_body_unsealed_to_a_stranger_is_refused(
    tmp_path, origin
) -> None:
    origin_store, publisher = origin
    share(publisher, md5_signal(5), Tlp.RED, HUB)
    hub = hub_copy(tmp_path, origin_store)  # here the hub is a recipient: it reads the body
    [read] = hub.indicators_with_signal(md5_signal(5))
    entry = hub.entry_at(ORIGIN.key_id, Seq(1))
    assert entry is not None
    plaintext = hub.reader.execute("SELECT bundle FROM entries WHERE seq = 1").fetchone()[0]
    stranger = make_store(tmp_path, "stranger", ORIGIN, HUB)

    report = puller(stranger, STRANGER).receive(
        partner(stranger, HUB), iter([SignedEntry(entry.envelope, bytes(plaintext))])
    )

    assert report.accepted == 1  # the header is the origin's: the chain may advance
    assert stranger.rejection_counts() == {"body_mismatch": 1}
    assert stranger.indicators_with_signal(md5_signal(5)) == []
    everything = json.dumps([list(map(str, r)) for r in stranger.reader.execute("SELECT * FROM entries")])
    assert read.signal.value not in everything
    hub.close()
    stranger.close()


def test_a_revocation_after_a_restricted_entry_reaches_a_non_recipient_by_push(tmp_path, origin) -> None:
    # The pushed path, as a contributor that cannot accept connections uses it: GREEN, RED to
    # someone else, then the revocation of the GREEN hash. The stranger must end revoked.
    origin_store, publisher = origin
    share(publisher, md5_signal(6), Tlp.GREEN)
    share(publisher, md5_signal(7), Tlp.RED, RECEIVER)
    [green] = origin_store.indicators_with_signal(md5_signal(6))
    publisher.revoke([green.id])
    stranger = make_store(tmp_path, "stranger", ORIGIN)
    pushed = [
        SignedEntry(e.envelope, e.body) for e in entries_for(origin_store, cursors={ORIGIN.key_id: Seq(0)})
    ]

    report = puller(stranger, STRANGER).receive(partner(stranger, ORIGIN), iter(pushed))

    assert (report.accepted, report.rejected) == (3, {})
    assert stranger.indicators_by_id([green.id])[green.id].revoked
    assert stranger.indicators_with_signal(md5_signal(7)) == []
    stranger.close()
