"""Publish → serve → pull → ingest between two real stores, with TLP at egress and faults."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest

from node import errors
from node.config import LimitsSection
from node.feed import decode_bundle, decode_header
from node.model import ContentType, Distribution, KeyId, Partner, Seq, SignedEntry, Tlp
from node.model.clock import format_timestamp, truncate_ms
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.publish import Contribution, Publisher
from node.sync.pull import Puller
from node.sync.serve import entries_for
from tests.support.feeds import (
    T0,
    encryption_keys,
    flip_byte,
    identity,
    indicator,
    md5_signal,
    pdq_signal,
    with_payload,
)


def ticking_clock() -> object:
    ticks = count()
    return lambda: truncate_ms(T0 + timedelta(seconds=next(ticks)))


@pytest.fixture
def origin_store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "origin.db")
    yield db
    db.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "receiver.db")
    yield db
    db.close()


ORIGIN = identity(1)
RECEIVER = identity(2)
OTHER = identity(3)
KEYS = {
    ORIGIN.key_id: encryption_keys(1),
    RECEIVER.key_id: encryption_keys(2),
    OTHER.key_id: encryption_keys(3),
}


def make_publisher(store: Store, who: object = ORIGIN, *, limits: LimitsSection | None = None) -> Publisher:
    return Publisher(
        store=store,
        identity=who,  # type: ignore[arg-type]
        name="ngo",
        limits=limits or LimitsSection(),
        clock=ticking_clock(),  # type: ignore[arg-type]
        encryption=KEYS[who.key_id],  # type: ignore[attr-defined]
    )


@pytest.fixture
def publisher(origin_store: Store) -> Publisher:
    return make_publisher(origin_store)


def confirm_key(store: Store, who: object) -> None:
    """``who`` confirmed its encryption key to the store's node (as a pull of it does)."""
    keys = KEYS[who.key_id]  # type: ignore[attr-defined]
    with store.write() as tx:
        tx.record_encryption_key(
            node=who.key_id,  # type: ignore[attr-defined]
            key_id=keys.key_id,
            key=keys.public,
            announced=format_timestamp(T0),
            source="test",
        )


def pin(store: Store, name: str, key: object) -> None:
    with store.write() as tx:
        tx.add_partner(Partner(name=name, key_id=key.key_id, public_key=key.public_key))  # type: ignore[attr-defined]


class StoreSource:
    """A FeedSource that serves from a store exactly as the Federation servicer does."""

    def __init__(self, store: Store, *, fail_after: int | None = None) -> None:
        self.store, self.fail_after = store, fail_after
        self.calls = 0

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
        self.calls += 1
        for n, entry in enumerate(entries_for(self.store, cursors=cursors)):
            if self.fail_after is not None and n == self.fail_after:
                self.fail_after = None
                raise errors.PeerError("connection reset by peer")
            yield SignedEntry(entry.envelope, entry.body)


def contribute(
    publisher: Publisher, *signals, tlp: Tlp = Tlp.GREEN, to: frozenset[KeyId] = frozenset()
) -> None:
    items = [Contribution(s, ContentType.default_for(s.type)) for s in signals]
    publisher.contribute(items, category="csam", distribution=Distribution(tlp=tlp, recipients=to))


def puller(receiver: Store, who: object = RECEIVER) -> Puller:
    keys = KEYS[who.key_id]  # type: ignore[attr-defined]
    ingestor = Ingestor(store=receiver, limits=LimitsSection(), encryption_keys=lambda: [keys])
    return Puller(store=receiver, ingestor=ingestor, self_key=who.key_id)  # type: ignore[attr-defined]


def test_publish_chains_entries_and_reuses_indicator_ids(publisher: Publisher, origin_store: Store) -> None:
    contribute(publisher, pdq_signal(1))
    report = publisher.contribute(
        [Contribution(pdq_signal(1), ContentType.IMAGE)],
        category="ncii",
        distribution=Distribution(Tlp.GREEN),
    )
    assert (report.added, report.updated) == (0, 1)
    unchanged = publisher.contribute(
        [Contribution(pdq_signal(1), ContentType.IMAGE)],
        category="ncii",
        distribution=Distribution(Tlp.GREEN),
    )
    assert unchanged.seqs == () and unchanged.unchanged == 1

    stored = origin_store.entries_after(ORIGIN.key_id, Seq(0), limit=9)
    headers = [decode_header(e.envelope.payload) for e in stored]
    assert [h.seq for h in headers] == [1, 2]
    assert headers[0].prev is None and headers[1].prev is not None
    bundles = [decode_bundle(e.body) for e in stored if e.body is not None]
    ids = {o["id"] for b in bundles for o in b["objects"] if o["type"] == "indicator"}
    assert len(ids) == 1  # relabelling publishes a new version of the same indicator


def test_a_batch_looks_up_its_current_versions_in_one_query_per_signal_type(
    publisher: Publisher, origin_store: Store
) -> None:
    signals = [pdq_signal(n) for n in range(300)] + [md5_signal(n) for n in range(200)]
    contribute(publisher, *signals)
    reads: list[str] = []
    origin_store.reader.set_trace_callback(reads.append)
    relabelled = [Contribution(s, ContentType.default_for(s.type), category="tvec") for s in signals[:10]]
    report = publisher.contribute(
        [*relabelled, *(Contribution(s, ContentType.default_for(s.type)) for s in signals[10:])],
        category="csam",
        distribution=Distribution(Tlp.GREEN),
    )
    origin_store.reader.set_trace_callback(None)
    assert (report.added, report.updated, report.unchanged) == (0, 10, 490)
    assert len([q for q in reads if "FROM indicators" in q]) == 2


def test_own_indicators_are_only_this_nodes_contributions(publisher: Publisher, origin_store: Store) -> None:
    contribute(publisher, pdq_signal(1))
    theirs = indicator(OTHER.key_id, pdq_signal(1))
    with origin_store.write() as tx:
        tx.upsert_indicators([theirs], entry_seq=Seq(1))
    [own] = publisher.own_indicators(pdq_signal(1))
    assert own.origin == ORIGIN.key_id
    assert {i.id for i in origin_store.indicators_with_signal(pdq_signal(1))} == {own.id, theirs.id}


def test_large_batches_are_split_into_entries_within_the_limits(origin_store: Store) -> None:
    limits = LimitsSection(max_objects_per_entry=58)
    publisher = make_publisher(origin_store, limits=limits)
    contribute(publisher, *[md5_signal(n) for n in range(120)])
    assert origin_store.head(ORIGIN.key_id).seq == 3  # type: ignore[union-attr]
    assert len(origin_store.counts()) == 1 and origin_store.counts()[0].count == 120


def test_pull_brings_a_feed_across_and_revocation_follows(publisher, origin_store, receiver) -> None:
    pin(receiver, "ngo", ORIGIN)
    pin(origin_store, "receiver", RECEIVER)
    contribute(publisher, pdq_signal(1), md5_signal(1))
    source = StoreSource(origin_store)
    partner = receiver.partner("ngo")

    report = puller(receiver).pull(partner, source)  # type: ignore[arg-type]
    assert (report.accepted, report.indicators, report.ok) == (1, 2, True)

    [pdq] = origin_store.indicators_with_signal(pdq_signal(1))
    publisher.revoke([pdq.id])
    puller(receiver).pull(partner, source)  # type: ignore[arg-type]
    assert receiver.indicators_by_id([pdq.id])[pdq.id].revoked
    assert receiver.sync_records()["ngo"].received == 2


def test_a_fault_mid_stream_keeps_what_was_committed_and_resumes(publisher, origin_store, receiver) -> None:
    pin(receiver, "ngo", ORIGIN)
    for n in range(5):
        contribute(publisher, pdq_signal(n))
    source = StoreSource(origin_store, fail_after=3)
    partner = receiver.partner("ngo")

    failed = puller(receiver).pull(partner, source)  # type: ignore[arg-type]
    assert failed.error is not None and "connection reset" in failed.error
    assert failed.accepted == 3 and receiver.head(ORIGIN.key_id).seq == 3  # type: ignore[union-attr]
    assert receiver.sync_records()["ngo"].last_success is None

    resumed = puller(receiver).pull(partner, source)  # type: ignore[arg-type]
    assert resumed.ok and resumed.accepted == 2
    assert receiver.head(ORIGIN.key_id).seq == 5  # type: ignore[union-attr]


def test_a_refused_entry_stops_its_origin_but_not_the_others(tmp_path, receiver) -> None:
    pin(receiver, "ngo", ORIGIN)
    pin(receiver, "lab", OTHER)
    good_lab = Store(tmp_path / "lab.db")
    lab = make_publisher(good_lab, OTHER)
    contribute(lab, md5_signal(7))
    ngo_store = Store(tmp_path / "ngo.db")
    ngo = make_publisher(ngo_store)
    contribute(ngo, pdq_signal(1))
    contribute(ngo, pdq_signal(2))
    first, second = (
        SignedEntry(e.envelope, e.body) for e in ngo_store.entries_after(ORIGIN.key_id, Seq(0), limit=5)
    )
    lab_entry = good_lab.entries_after(OTHER.key_id, Seq(0), limit=5)[0]
    lab_envelope = SignedEntry(lab_entry.envelope, lab_entry.body)

    class Hostile:
        def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
            if ORIGIN.key_id in cursors:
                yield with_payload(first, flip_byte(first.header.payload, 10))
                yield second  # would be a gap: skipped, not counted twice
            if cursors.get(OTHER.key_id) == 0:
                yield lab_envelope

    report = puller(receiver).pull(receiver.partner("ngo"), Hostile())  # type: ignore[arg-type]
    assert report.accepted == 1 and dict(report.rejected) == {"bad_signature": 1}
    assert receiver.rejection_counts() == {"bad_signature": 1}
    assert set(receiver.heads()) == {OTHER.key_id}
    good_lab.close()
    ngo_store.close()


def test_a_restricted_entry_never_freezes_the_feed_for_a_non_recipient(
    publisher, origin_store, receiver
) -> None:
    # The review's largest finding: GREEN, then RED to another partner, then a revocation of the
    # GREEN hash. A non-recipient must get the later GREEN entry and the revocation, and none of
    # the RED content (it holds the RED body only as ciphertext it cannot open).
    pin(receiver, "ngo", ORIGIN)
    confirm_key(origin_store, OTHER)
    contribute(publisher, md5_signal(1), tlp=Tlp.GREEN)
    contribute(publisher, md5_signal(2), tlp=Tlp.RED, to=frozenset({OTHER.key_id}))
    [green] = origin_store.indicators_with_signal(md5_signal(1))
    publisher.revoke([green.id])
    contribute(publisher, md5_signal(3), tlp=Tlp.GREEN)

    report = puller(receiver).pull(receiver.partner("ngo"), StoreSource(origin_store))  # type: ignore[arg-type]

    assert (report.accepted, report.ok) == (4, True)
    assert receiver.head(ORIGIN.key_id).seq == 4  # type: ignore[union-attr]
    assert receiver.indicators_by_id([green.id])[green.id].revoked
    assert receiver.indicators_with_signal(md5_signal(3))
    assert receiver.indicators_with_signal(md5_signal(2)) == []
    red = receiver.entry_at(ORIGIN.key_id, Seq(2))
    assert red is not None and red.sealed and red.body is not None
    assert md5_signal(2).value.encode() not in red.body + red.envelope.payload


def test_a_recipient_reads_the_sealed_body_and_a_relay_forwards_it_unread(
    publisher, origin_store, receiver, tmp_path
) -> None:
    # The hub is not a recipient: it holds the ciphertext, verifies the chain, and forwards the
    # body unchanged; the recipient behind it opens the stanza sealed to it.
    hub = Store(tmp_path / "hub.db")
    pin(hub, "ngo", ORIGIN)
    pin(receiver, "ngo", ORIGIN)
    pin(receiver, "hub", OTHER)
    confirm_key(origin_store, RECEIVER)
    contribute(publisher, md5_signal(5), tlp=Tlp.RED, to=frozenset({RECEIVER.key_id}))

    hub_report = puller(hub, OTHER).pull(hub.partner("ngo"), StoreSource(origin_store))  # type: ignore[arg-type]
    assert (hub_report.accepted, hub_report.indicators) == (1, 0)
    assert hub.indicators_with_signal(md5_signal(5)) == []

    report = puller(receiver).pull(receiver.partner("hub"), StoreSource(hub))  # type: ignore[arg-type]
    assert (report.accepted, report.indicators) == (1, 1)
    [held] = receiver.indicators_with_signal(md5_signal(5))
    assert held.tlp is Tlp.RED
    hub.close()


def test_publishing_to_a_recipient_without_a_confirmed_key_is_refused(publisher, origin_store) -> None:
    with pytest.raises(errors.InvalidInput, match="no recently confirmed encryption key"):
        contribute(publisher, md5_signal(1), tlp=Tlp.AMBER, to=frozenset({OTHER.key_id}))
    assert origin_store.head(ORIGIN.key_id) is None  # nothing was published


def test_concurrent_pull_of_the_same_partner_is_skipped(publisher, origin_store, receiver) -> None:
    pin(receiver, "ngo", ORIGIN)
    contribute(publisher, pdq_signal(1))
    pulls = puller(receiver)
    partner = receiver.partner("ngo")
    inner = StoreSource(origin_store)
    nested: list[object] = []

    class Reentrant:
        def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
            nested.append(pulls.pull(partner, inner))  # type: ignore[arg-type]
            yield from inner.pull(cursors)

    report = pulls.pull(partner, Reentrant())  # type: ignore[arg-type]
    assert report.accepted == 1
    assert nested[0].skipped  # type: ignore[attr-defined]
