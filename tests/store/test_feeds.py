"""The store's transactions, migrations, entries and heads, and two writers on one file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from node.feed import body_digest, decode_header
from node.model import Distribution, Seq, Tlp
from node.store import Store, StoredBody
from tests.store.build import ALICE, BOB, CAROL, append, indicator, open_store, signed_entry


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "accord.db"
    with open_store(path) as first, first.write() as tx:
        append(tx, ALICE)
    with open_store(path) as second, open_store(path) as third:
        assert second.head(ALICE.key_id) is not None
        assert third.head(ALICE.key_id) == second.head(ALICE.key_id)
        applied = second.reader.execute("SELECT name FROM _sqlite_migrations").fetchall()
    names = [name for (name,) in applied]
    assert len(names) == len(set(names))  # each applied once, however often the store is opened
    assert {
        "m001_feeds",
        "m002_indicators",
        "m003_partners",
        "m004_indicators_by_change",
        "m005_ecosystem",
        "m006_analyst",
        "m008_tls_pins_and_sharing_groups",
        "m009_peer_heads",
        "m011_restore_state",
        "m012_opinions_and_partner_policy",
        "m013_value_prefix_index",
    } <= set(names)


def test_the_database_is_in_wal_mode(store: Store) -> None:
    assert store.reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_readers_cannot_write(store: Store) -> None:
    with pytest.raises(sqlite3.OperationalError):
        store.reader.execute("DELETE FROM heads")


def test_a_failed_write_leaves_nothing_behind(store: Store) -> None:
    seen_inside: list[int] = []

    def write_then_fail() -> None:
        with store.write() as tx:
            append(tx, ALICE)
            append(tx, ALICE)
            tx.upsert_indicators([indicator(1)], entry_seq=Seq(1))
            tx.record_rejection(partner=None, origin=None, seq=None, reason="gap", message="m")
            tx.record_sync(partner="p", success=True, result="ok", error=None, received=1, rejected=0)
            seen_inside.append(tx.head(ALICE.key_id).seq)  # type: ignore[union-attr]
            raise RuntimeError("midway")

    with pytest.raises(RuntimeError, match="midway"):
        write_then_fail()
    assert seen_inside == [2]  # the writes were visible inside the transaction
    assert store.heads() == {}
    assert store.entries_after(ALICE.key_id, Seq(0), limit=10) == []
    assert list(store.iter_indicators(include_revoked=True)) == []
    assert store.rejection_counts() == {}
    assert store.sync_records() == {}


def test_the_store_is_usable_after_a_failed_write(store: Store) -> None:
    def write_then_fail() -> None:
        with store.write() as tx:
            append(tx, ALICE)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        write_then_fail()
    with store.write() as tx:
        append(tx, ALICE)
    assert store.head(ALICE.key_id).seq == 1  # type: ignore[union-attr]


def test_a_failing_statement_rolls_back_the_whole_transaction(store: Store) -> None:
    with store.write() as tx:
        append(tx, ALICE)
    header, item, digest = signed_entry(ALICE, 1, None)

    def append_bob_then_alice_again() -> None:
        with store.write() as tx:
            append(tx, BOB)
            tx.append_entry(  # seq 1 of Alice is held already
                origin=ALICE.key_id,
                seq=Seq(1),
                digest=digest,
                prev=None,
                envelope=item.header,
                tlp=Tlp.GREEN,
                recipients=frozenset(),
                created="2025-01-01T00:00:00.000Z",
                via=None,
                objects=0,
                body=StoredBody(
                    digest=header.body_digest, size=header.body_size, sealed=False, body=item.body
                ),
            )

    with pytest.raises(sqlite3.IntegrityError):
        append_bob_then_alice_again()
    assert set(store.heads()) == {ALICE.key_id}


def test_append_entry_advances_the_head(store: Store) -> None:
    assert store.head(ALICE.key_id) is None
    with store.write() as tx:
        first = append(tx, ALICE)
    head = store.head(ALICE.key_id)
    assert head is not None
    assert (head.origin, head.seq, head.digest) == (ALICE.key_id, 1, first)
    with store.write() as tx:
        second = append(tx, ALICE)
        assert tx.digest_at(ALICE.key_id, Seq(1)) == first
        assert tx.digest_at(ALICE.key_id, Seq(2)) == second
        assert tx.digest_at(ALICE.key_id, Seq(3)) is None
    assert store.head(ALICE.key_id).seq == 2  # type: ignore[union-attr]
    assert store.head(ALICE.key_id).digest == second  # type: ignore[union-attr]
    assert store.head(BOB.key_id) is None


def test_entries_are_stored_exactly_as_signed(store: Store) -> None:
    recipients = frozenset({BOB.key_id, CAROL.key_id})
    with store.write() as tx:
        append(tx, ALICE)
        append(tx, ALICE, distribution=Distribution(Tlp.RED, recipients))
    _, first, _ = signed_entry(ALICE, 1, None)
    stored = store.entries_after(ALICE.key_id, Seq(0), limit=10)
    assert [s.seq for s in stored] == [1, 2]
    assert stored[0].envelope == first.header
    assert stored[0].envelope.payload == first.header.payload
    assert (stored[0].body, stored[0].sealed) == (first.body, False)
    assert (stored[0].tlp, stored[0].recipients) == (Tlp.GREEN, frozenset())
    assert (stored[1].tlp, stored[1].recipients) == (Tlp.RED, recipients)
    red = decode_header(stored[1].envelope.payload)
    assert stored[1].sealed and red.sealed  # a restricted body is held as the sealed ciphertext
    assert stored[1].body is not None and body_digest(stored[1].body) == red.body_digest
    assert b'"seq"' not in stored[1].body


def test_entries_after_pages_in_seq_order(store: Store) -> None:
    with store.write() as tx:
        for _ in range(5):
            append(tx, ALICE)
        append(tx, BOB)
    assert [e.seq for e in store.entries_after(ALICE.key_id, Seq(1), limit=2)] == [2, 3]
    assert [e.seq for e in store.entries_after(ALICE.key_id, Seq(3), limit=10)] == [4, 5]
    assert store.entries_after(ALICE.key_id, Seq(5), limit=10) == []
    assert all(e.origin == ALICE.key_id for e in store.entries_after(ALICE.key_id, Seq(0), limit=10))


def test_evidence_is_kept_once_and_quarantines_the_origin(store: Store) -> None:
    _, fork, digest = signed_entry(ALICE, 1, None, Distribution(Tlp.CLEAR))
    with store.write() as tx:
        assert not tx.is_quarantined(ALICE.key_id)
        for _ in range(2):
            tx.add_evidence(origin=ALICE.key_id, seq=Seq(1), digest=digest, envelope=fork.header, via="hub")
        assert tx.is_quarantined(ALICE.key_id)
        assert not tx.is_quarantined(BOB.key_id)
    assert store.evidence_count() == 1


def test_two_stores_on_one_file_lose_no_write(tmp_path: Path) -> None:
    path = tmp_path / "accord.db"
    per_writer = 200
    errors: list[BaseException] = []

    def write_feed(store: Store, identity: object) -> None:
        try:
            for _ in range(per_writer):
                with store.write() as tx:
                    append(tx, identity)  # type: ignore[arg-type]
        except BaseException as exc:  # reported below; a thread's exception would be lost
            errors.append(exc)

    with open_store(path) as one, open_store(path) as two:
        threads = [
            threading.Thread(target=write_feed, args=(one, ALICE)),
            threading.Thread(target=write_feed, args=(two, BOB)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    assert errors == []
    with open_store(path) as check:
        heads = check.heads()
        assert heads[ALICE.key_id].seq == per_writer
        assert heads[BOB.key_id].seq == per_writer
        for identity in (ALICE, BOB):
            seqs = [e.seq for e in check.entries_after(identity.key_id, Seq(0), limit=1000)]
            assert seqs == list(range(1, per_writer + 1))


def test_two_stores_appending_to_one_feed_never_claim_the_same_seq(tmp_path: Path) -> None:
    # BEGIN IMMEDIATE makes read-head-then-append atomic across connections (processes).
    path = tmp_path / "accord.db"
    errors: list[BaseException] = []

    def write_feed(store: Store) -> None:
        try:
            for _ in range(100):
                with store.write() as tx:
                    append(tx, CAROL)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with open_store(path) as one, open_store(path) as two:
        threads = [threading.Thread(target=write_feed, args=(s,)) for s in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    with open_store(path) as check:
        assert check.head(CAROL.key_id).seq == 200  # type: ignore[union-attr]
        assert len(check.entries_after(CAROL.key_id, Seq(0), limit=1000)) == 200


def test_threads_sharing_one_store_are_serialised(store: Store) -> None:
    # Read-then-write inside write(): without serialisation two threads would claim one seq.
    def work() -> None:
        for _ in range(50):
            with store.write() as tx:
                append(tx, CAROL)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert store.head(CAROL.key_id).seq == 200  # type: ignore[union-attr]
