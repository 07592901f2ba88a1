"""m023_ingest_entries_rowid: ``entries`` keeps its rows, key, indexes and triggers as a rowid table.

As a WITHOUT ROWID table every lookup by ``(origin, seq)`` compared keys against whole rows,
bodies of megabytes included (SQLite reads a cell's overflow chain to compare it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from node.model import Seq
from node.store.schema import migrations
from tests.store.build import ALICE, open_store

BODY = bytes(range(256)) * 4096  # 1 MiB: spills into overflow pages


def old_database(path: Path) -> None:
    db = Database(sqlite3.connect(str(path)))
    migrations.apply(db, stop_before="m023_ingest_entries_rowid")
    db.execute(
        "CREATE TRIGGER entries_test_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    for seq in (1, 2):
        db.execute(
            "INSERT INTO entries (origin, seq, digest, prev, payload_type, payload, signatures, tlp,"
            " recipients, created, received_at, via, objects, body, body_digest, body_size)"
            " VALUES (?, ?, ?, NULL, 't', x'00', '[]', 'green', '[]', 'c', 'r', 'bob', 0, ?, 'b', ?)",
            (ALICE.key_id, seq, f"d{seq}", BODY if seq == 1 else None, len(BODY)),
        )
    db.conn.commit()
    db.close()


def test_entries_become_a_rowid_table_with_every_row_index_and_trigger(tmp_path: Path) -> None:
    old_database(tmp_path / "old.db")
    before = sqlite3.connect(tmp_path / "old.db")
    assert (
        "WITHOUT ROWID"
        in before.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()[0]
    )
    before.close()

    with open_store(tmp_path / "old.db") as store:
        conn = store.reader
        sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'entries'"
        ).fetchone()[0]
        assert "WITHOUT ROWID" not in sql.upper()
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'entries'")}
        assert {"entries_origin_created", "entries_missing_body", "entries_test_no_delete"} <= names
        held = store.entry_at(ALICE.key_id, Seq(1))
        assert held is not None and held.body == BODY
        assert store.entry_at(ALICE.key_id, Seq(2)) is not None
        plan = str(
            conn.execute(
                "EXPLAIN QUERY PLAN SELECT digest FROM entries WHERE origin = ? AND seq = ?", ("o", 1)
            ).fetchall()
        )
        assert "sqlite_autoindex_entries_1" in plan  # the key's own index, not the rows
        with pytest.raises(sqlite3.IntegrityError), store.write() as tx:  # the key still holds
            tx.execute(
                "INSERT INTO entries (origin, seq, digest, payload_type, payload, signatures, tlp,"
                " recipients, created, received_at, objects) VALUES (?, 1, 'x', 't', x'00', '[]', 'green',"
                " '[]', 'c', 'r', 0)",
                (ALICE.key_id,),
            )
        with pytest.raises(sqlite3.IntegrityError, match="no"), store.write() as tx:
            tx.execute("DELETE FROM entries")
