"""Checkpoints beside the writer while a first sync loads (node/store/checkpoints.py).

What matters to a user: nothing committed is lost or damaged by checkpointing on another
thread, the WAL does not grow without bound while a first sync writes gigabytes, and the node
goes back to its ordinary checkpoints once the load is over.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from node.store import Store
from node.store.checkpoints import Checkpointer
from node.store.commits import CommitWatch
from node.store.database import WAL_CHECKPOINT_PAGES
from tests.support.feeds import pdq_signal
from tests.sync.test_publish_pull_serve import ORIGIN, contribute, make_publisher

BLOB = 64 * 1024  # 16 pages of 4 KiB a row


def wal_writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # as the store's writer during a first sync
    conn.execute("CREATE TABLE IF NOT EXISTS blobs (n INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    return conn


def checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "accord-checkpoint"]


def test_the_backlog_counts_committed_frames_a_checkpoint_has_not_copied(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    conn = wal_writer(path)
    watch = CommitWatch(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert watch.backlog() == 0
        conn.execute("INSERT INTO blobs (data) VALUES (?)", (os.urandom(BLOB),))
        waiting = watch.backlog()
        assert waiting is not None and waiting >= BLOB // 4096  # the row's pages, at least
        busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, logged, copied) == (0, waiting, waiting)
        assert watch.backlog() == 0
    finally:
        watch.close()
        conn.close()
    assert CommitWatch(tmp_path / "absent.db").backlog() is None  # no -shm: unknown, not zero


def test_checkpoints_beside_a_writer_keep_the_wal_small_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    conn = wal_writer(path)
    rounds, per_round = 20, 20  # 25 MiB through the WAL, 1.25 MiB (320 pages) a round
    written = []
    watch = CommitWatch(path)
    checkpointer = Checkpointer(path, pages=64)
    try:
        for round_ in range(rounds):
            for n in range(per_round):
                data = os.urandom(BLOB)
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO blobs (n, data) VALUES (?, ?)", (round_ * per_round + n, data))
                conn.execute("COMMIT")
                written.append(data)
            # An entry of a first sync takes ~0.3 s to prepare: time enough to catch up.
            deadline = time.monotonic() + 10
            while (watch.backlog() or 0) >= 64 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert (watch.backlog() or 0) < 64, f"round {round_}: the checkpoints fell behind"
    finally:
        checkpointer.stop()
        watch.close()
    assert checkpointer.checkpoints >= rounds
    # Without them the WAL would hold all 25 MiB; the writer restarts it once they caught up.
    assert os.path.getsize(f"{path}-wal") < 4 * per_round * BLOB
    conn.close()  # the last connection folds the WAL in
    check = sqlite3.connect(str(path))
    try:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = [row[0] for row in check.execute("SELECT data FROM blobs ORDER BY n")]
        assert stored == written
    finally:
        check.close()


def autocheckpoint(store: Store) -> int:
    return int(store._writer.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_a_first_sync_checkpoints_aside_and_the_writer_checkpoints_again_after(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.db")
    try:
        assert autocheckpoint(store) == WAL_CHECKPOINT_PAGES and not checkpoint_threads()
        with store.bulk_load() as deferred:
            assert deferred  # an empty node: a first sync
            assert autocheckpoint(store) == 0
            assert len(checkpoint_threads()) == 1
        assert autocheckpoint(store) == WAL_CHECKPOINT_PAGES
        assert not checkpoint_threads()
        assert store.wait_for_indexes(30)
    finally:
        store.close()


def test_a_sync_into_a_node_that_holds_indicators_checkpoints_as_usual(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.db")
    try:
        contribute(make_publisher(store), pdq_signal(1))
        with store.bulk_load() as deferred:
            assert not deferred
            assert autocheckpoint(store) == WAL_CHECKPOINT_PAGES
            assert not checkpoint_threads()
        assert store.heads()[ORIGIN.key_id].seq == 1
    finally:
        store.close()
