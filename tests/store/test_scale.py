"""What the store does for ingest at scale: migration m004, chunked upserts, local lookups.

m004 rebuilds the indicators table keyed by change id with one random-key index (id) and a
partial index over the node's own contributions; existing databases move forward unchanged in
content. The upsert writes rows in multi-row statements; it must behave exactly as one
statement per row would, across chunk boundaries too.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from node.model import Indicator, KeyId, Seq, Signal, SignalType
from node.store import Store
from node.store.codec import INDICATOR_COLUMNS, indicator_to_row
from node.store.codec import ROWS_PER_STATEMENT as _ROWS_PER_STATEMENT
from node.store.schema import migrations
from tests.store.build import ALICE, BOB, append, indicator, open_store

ANALYST_INDEXES = {
    "indicators_value_prefix",
    "indicators_created",
    "indicators_category_created",
    "indicators_origin_created",
    "indicators_tlp_created",
}

OLD_COLUMNS = f"{INDICATOR_COLUMNS}, entry_seq, change_id"


def old_database(path: Path, rows: list[tuple[Indicator, int, int]], *, own: KeyId) -> None:
    """A database as m001-m003 left it, holding ``rows`` (indicator, entry seq, change id).

    ``own``'s feed has one entry written by the publisher (no ``via``); BOB's came from a peer.
    """
    db = Database(sqlite3.connect(str(path)))
    migrations.apply(db, stop_before="m004_indicators_by_change")
    for origin, via in ((own, None), (BOB.key_id, "bob")):
        db.execute(
            "INSERT INTO entries (origin, seq, digest, prev, payload_type, payload, signatures, tlp,"
            " recipients, created, received_at, via, objects) VALUES (?, 1, 'd', NULL, 't', x'00', '[]',"
            " 'green', '[]', 'c', 'r', ?, 0)",
            (origin, via),
        )
    db.conn.executemany(
        f"INSERT INTO indicators ({OLD_COLUMNS}) VALUES ({', '.join('?' * 14)})",
        [(*indicator_to_row(ind), seq, change) for ind, seq, change in rows],
    )
    db.conn.commit()
    db.close()


def test_m004_moves_an_existing_database_forward(tmp_path: Path) -> None:
    mine = [indicator(n) for n in range(3)]
    theirs = [indicator(10 + n, origin=BOB.key_id, signal_type=SignalType.PDQ) for n in range(2)]
    rows = [(ind, 1, 7 + 3 * n) for n, ind in enumerate([*mine, *theirs])]
    old_database(tmp_path / "old.db", rows, own=ALICE.key_id)

    with open_store(tmp_path / "old.db") as store:
        everything = [*mine, *theirs]
        assert store.indicators_by_id(i.id for i in everything) == {i.id: i for i in everything}
        changes = store.changes_since(0, limit=100)
        assert [(c.change_id, c.indicator_id) for c in changes] == [(c, i.id) for i, _, c in rows]
        assert store.local_indicators_with_signals(i.signal for i in everything) == {
            i.signal: [i] for i in mine
        }
        indexes = {r[0] for r in store.reader.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {i for i in indexes if i.startswith("indicators")} == {
            "indicators_local_signal",
            "indicators_revoked_pdq",  # m022: the revoked PDQ rows near queries read
            "indicators_id",  # m025: the upsert's conflict key, by name (a first sync defers it)
            *ANALYST_INDEXES,  # m006: the analyst-query indexes
        }
        # New writes continue the change stream after the highest id carried over.
        with store.write() as tx:
            tx.upsert_indicators([indicator(99)], entry_seq=Seq(2))
        assert store.changes_since(changes[-1].change_id, limit=10)[0].change_id == changes[-1].change_id + 1


def test_only_local_rows_are_found_by_the_local_lookup(store: Store) -> None:
    own = indicator(1)
    received = indicator(2, origin=BOB.key_id, signal=own.signal)
    with store.write() as tx:
        tx.upsert_indicators([own], entry_seq=Seq(1), local=True)
        tx.upsert_indicators([received], entry_seq=Seq(1))
    assert store.local_indicators_with_signals([own.signal, indicator(3).signal]) == {own.signal: [own]}
    assert {i.id for i in store.indicators_with_signal(own.signal)} == {own.id, received.id}


def test_the_local_lookup_uses_its_index(store: Store) -> None:
    plan = store.reader.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM indicators WHERE local = 1 AND signal_type = ?"
        " AND value IN (SELECT value FROM json_each(?))",
        ("pdq", json.dumps(["00"])),
    ).fetchall()
    assert any("indicators_local_signal" in row[-1] for row in plan)


def test_upserts_count_what_they_wrote(store: Store) -> None:
    first = [indicator(n) for n in range(5)]
    with store.write() as tx:
        assert tx.upsert_indicators_counted(first, entry_seq=Seq(1)) == 5
    newer = [
        indicator(0, minutes=5, category="tvec"),
        indicator(1, minutes=0),
        indicator(2, origin=BOB.key_id),
    ]
    with store.write() as tx:
        # a newer version (written), an equal one (left out), another origin's id (left out)
        assert tx.upsert_indicators_counted(newer, entry_seq=Seq(2)) == 1


def test_chunked_upserts_behave_as_one_statement_per_row(tmp_path: Path) -> None:
    """Versions of one indicator on both sides of a chunk boundary, and a revocation among them."""
    boundary = _ROWS_PER_STATEMENT
    batch = [indicator(n) for n in range(boundary + 50)]
    batch[boundary - 1] = indicator(0, minutes=1, category="tvec")  # newer version of row 0
    batch[boundary + 1] = indicator(0, minutes=2, revoked=True)  # then revoked
    batch[boundary + 2] = indicator(0, minutes=3)  # a later add cannot revive it
    batch[5] = indicator(5, minutes=3)
    batch[boundary + 3] = indicator(5, minutes=1)  # an older version is left out
    with open_store(tmp_path / "chunked.db") as chunked, open_store(tmp_path / "rows.db") as one_by_one:
        with chunked.write() as tx:
            written = tx.upsert_indicators_counted(batch, entry_seq=Seq(1))
        one_at_a_time = 0
        for ind in batch:
            with one_by_one.write() as tx:
                one_at_a_time += tx.upsert_indicators_counted([ind], entry_seq=Seq(1))
        assert written == one_at_a_time
        assert stream(chunked) == stream(one_by_one)
        ids = {i.id for i in batch}
        assert chunked.indicators_by_id(ids) == one_by_one.indicators_by_id(ids)


def stream(store: Store) -> list[tuple[str, str, str, bool]]:
    """The change stream without change ids (two stores number their writes differently)."""
    return [(c.indicator_id, c.signal_type, c.value, c.active) for c in store.changes_since(0, limit=10**5)]


def test_a_foreign_id_is_found_among_many(store: Store) -> None:
    theirs = indicator(1, origin=BOB.key_id)
    with store.write() as tx:
        tx.upsert_indicators([theirs], entry_seq=Seq(1))
        append(tx, ALICE)
        ids = [indicator(n).id for n in range(2, 5000)] + [theirs.id]
        assert tx.foreign_indicator_ids(ids, ALICE.key_id) == [theirs.id]


def test_signals_pass_through_unchanged(store: Store) -> None:
    signal = Signal(SignalType.SHA256, "ab" * 32)
    own = indicator(1, signal=signal)
    with store.write() as tx:
        tx.upsert_indicators([own], entry_seq=Seq(1), local=True)
    assert store.local_indicators_with_signals([signal])[signal][0].signal == signal
