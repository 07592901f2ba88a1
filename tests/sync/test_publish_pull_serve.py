"""Publish → serve → pull → ingest between two real stores, with TLP at egress and faults."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest

from node import errors
from node.config import LimitsSection
from node.feed import decode_entry
from node.model import ContentType, Distribution, Envelope, KeyId, Partner, Seq, Tlp
from node.model.clock import truncate_ms
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.publish import Contribution, Publisher
from node.sync.pull import Puller
from node.sync.serve import entries_for
from tests.support.feeds import T0, flip_byte, identity, indicator, md5_signal, pdq_signal, with_payload


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


@pytest.fixture
def publisher(origin_store: Store) -> Publisher:
    return Publisher(
        store=origin_store,
        identity=ORIGIN,
        name="ngo",
        limits=LimitsSection(),
        clock=ticking_clock(),  # type: ignore[arg-type]
    )


def pin(store: Store, name: str, key: object) -> None:
    with store.write() as tx:
        tx.add_partner(Partner(name=name, key_id=key.key_id, public_key=key.public_key))  # type: ignore[attr-defined]


class StoreSource:
    """A FeedSource that serves from a store exactly as the Federation servicer does."""

    def __init__(self, store: Store, *, server: KeyId, caller: KeyId, fail_after: int | None = None) -> None:
        self.store, self.server, self.caller, self.fail_after = store, server, caller, fail_after
        self.calls = 0

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[Envelope]:
        self.calls += 1
        for n, entry in enumerate(
            entries_for(self.store, caller=self.caller, server=self.server, cursors=cursors)
        ):
            if self.fail_after is not None and n == self.fail_after:
                self.fail_after = None
                raise errors.PeerError("connection reset by peer")
            yield entry.envelope


def contribute(
    publisher: Publisher, *signals, tlp: Tlp = Tlp.GREEN, to: frozenset[KeyId] = frozenset()
) -> None:
    items = [Contribution(s, ContentType.default_for(s.type)) for s in signals]
    publisher.contribute(items, category="csam", distribution=Distribution(tlp=tlp, recipients=to))


def puller(receiver: Store) -> Puller:
    return Puller(
        store=receiver, ingestor=Ingestor(store=receiver, limits=LimitsSection()), self_key=RECEIVER.key_id
    )


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

    entries = [
        decode_entry(e.envelope.payload) for e in origin_store.entries_after(ORIGIN.key_id, Seq(0), limit=9)
    ]
    assert [e.seq for e in entries] == [1, 2]
    assert entries[0].prev is None and entries[1].prev is not None
    ids = {o["id"] for e in entries for o in e.bundle["objects"] if o["type"] == "indicator"}
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
    publisher = Publisher(
        store=origin_store, identity=ORIGIN, name="ngo", limits=limits, clock=ticking_clock()
    )  # type: ignore[arg-type]
    contribute(publisher, *[md5_signal(n) for n in range(120)])
    assert origin_store.head(ORIGIN.key_id).seq == 3  # type: ignore[union-attr]
    assert len(origin_store.counts()) == 1 and origin_store.counts()[0].count == 120


def test_pull_brings_a_feed_across_and_revocation_follows(publisher, origin_store, receiver) -> None:
    pin(receiver, "ngo", ORIGIN)
    pin(origin_store, "receiver", RECEIVER)
    contribute(publisher, pdq_signal(1), md5_signal(1))
    source = StoreSource(origin_store, server=ORIGIN.key_id, caller=RECEIVER.key_id)
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
    source = StoreSource(origin_store, server=ORIGIN.key_id, caller=RECEIVER.key_id, fail_after=3)
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
    lab = Publisher(store=good_lab, identity=OTHER, name="lab", limits=LimitsSection(), clock=ticking_clock())  # type: ignore[arg-type]
    contribute(lab, md5_signal(7))
    ngo_store = Store(tmp_path / "ngo.db")
    ngo = Publisher(
        store=ngo_store, identity=ORIGIN, name="ngo", limits=LimitsSection(), clock=ticking_clock()
    )  # type: ignore[arg-type]
    contribute(ngo, pdq_signal(1))
    contribute(ngo, pdq_signal(2))
    first, second = (e.envelope for e in ngo_store.entries_after(ORIGIN.key_id, Seq(0), limit=5))
    lab_envelope = good_lab.entries_after(OTHER.key_id, Seq(0), limit=5)[0].envelope

    class Hostile:
        def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[Envelope]:
            if ORIGIN.key_id in cursors:
                yield with_payload(first, flip_byte(first.payload, 10))
                yield second  # would be a gap: skipped, not counted twice
            if cursors.get(OTHER.key_id) == 0:
                yield lab_envelope

    report = puller(receiver).pull(receiver.partner("ngo"), Hostile())  # type: ignore[arg-type]
    assert report.accepted == 1 and dict(report.rejected) == {"bad_signature": 1}
    assert receiver.rejection_counts() == {"bad_signature": 1}
    assert set(receiver.heads()) == {OTHER.key_id}
    good_lab.close()
    ngo_store.close()


def test_tlp_is_enforced_at_egress(publisher, origin_store) -> None:
    contribute(publisher, md5_signal(1), tlp=Tlp.GREEN)
    contribute(publisher, md5_signal(2), tlp=Tlp.AMBER, to=frozenset({RECEIVER.key_id}))
    contribute(publisher, md5_signal(3), tlp=Tlp.GREEN)
    cursors = {ORIGIN.key_id: Seq(0)}

    def served(caller: KeyId, server: KeyId) -> list[int]:
        return [e.seq for e in entries_for(origin_store, caller=caller, server=server, cursors=cursors)]

    assert served(RECEIVER.key_id, ORIGIN.key_id) == [1, 2, 3]
    # A non-recipient gets the stream only up to the withheld entry: it looks like the end of the feed.
    assert served(OTHER.key_id, ORIGIN.key_id) == [1]


def test_red_is_never_relayed(publisher, origin_store) -> None:
    contribute(publisher, md5_signal(1), tlp=Tlp.RED, to=frozenset({RECEIVER.key_id}))
    cursors = {ORIGIN.key_id: Seq(0)}
    from_origin = list(
        entries_for(origin_store, caller=RECEIVER.key_id, server=ORIGIN.key_id, cursors=cursors)
    )
    from_relay = list(entries_for(origin_store, caller=RECEIVER.key_id, server=OTHER.key_id, cursors=cursors))
    assert [e.seq for e in from_origin] == [1]
    assert from_relay == []


def test_concurrent_pull_of_the_same_partner_is_skipped(publisher, origin_store, receiver) -> None:
    pin(receiver, "ngo", ORIGIN)
    contribute(publisher, pdq_signal(1))
    pulls = puller(receiver)
    partner = receiver.partner("ngo")
    inner = StoreSource(origin_store, server=ORIGIN.key_id, caller=RECEIVER.key_id)
    nested: list[object] = []

    class Reentrant:
        def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[Envelope]:
            nested.append(pulls.pull(partner, inner))  # type: ignore[arg-type]
            yield from inner.pull(cursors)

    report = pulls.pull(partner, Reentrant())  # type: ignore[arg-type]
    assert report.accepted == 1
    assert nested[0].skipped  # type: ignore[attr-defined]
