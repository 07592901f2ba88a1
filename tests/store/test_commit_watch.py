"""The store's commit watch: two equal looks mean nobody committed in between, whichever
process or connection wrote; the Matcher's provenance copy relies on it to skip its read."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from node.model import KeyId, PartnerPolicy, Trust
from node.store import Store
from node.store.checkpoints import POLL_SECONDS
from node.store.commits import CommitWatch, UntilCommit

WRITE_IN_ANOTHER_PROCESS = """
import sys
from node.model import KeyId, PartnerPolicy, Trust
from node.store import Store
store = Store(__import__("pathlib").Path(sys.argv[1]))
with store.write() as tx:
    tx.set_partner_policy(sys.argv[2], PartnerPolicy(trust=Trust.OBSERVE))
store.close()
"""


# The byte of the ``-shm`` file that SQLite's unix VFS holds a shared lock on while any
# connection of a process has the WAL-index mapped (UNIX_SHM_DMS in os_unix.c: (22 + 8) * 4 + 8).
# A process that finds nobody holding it truncates and rebuilds the file as its first user.
DMS_BYTE = 128

CLAIM_IN_ANOTHER_PROCESS = """
import fcntl, os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDWR)
except FileNotFoundError:  # the last connection to close removed it
    print("free")
    sys.exit()
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, int(sys.argv[2]))
except OSError:
    print("in use")
else:
    print("free")
"""


def seen_from_another_process(database: Path) -> str:
    """Whether another process finds the database's WAL-index in use ("in use") or would be
    its first user, free to truncate it ("free")."""
    claim = [sys.executable, "-c", CLAIM_IN_ANOTHER_PROCESS, f"{database}-shm", str(DMS_BYTE)]
    return subprocess.run(claim, check=True, capture_output=True, text=True).stdout.strip()


def test_a_closed_watch_leaves_the_database_in_use_for_other_processes(tmp_path: Path) -> None:
    """Closing a descriptor releases every POSIX lock its process holds on the file: a watch
    that closed its own while the store stayed open let the next process truncate the WAL-index
    under the store, whose next commit died of SIGBUS."""
    path = tmp_path / "node.db"
    store = Store(path)
    with store.write() as tx:
        tx.set_partner_policy(KeyId("a" * 64), PartnerPolicy(trust=Trust.REVIEW))
    assert seen_from_another_process(path) == "in use"
    for _ in range(2):  # another watch of this process on the same file, opened and closed
        other = CommitWatch(path)
        assert other.look() is not None
        other.close()
        assert seen_from_another_process(path) == "in use"
    assert store.commits.look() is not None  # the store's own watch reads on
    store.close()
    assert (
        seen_from_another_process(path) == "free"
    )  # closed: its process no longer uses it (the check can fail)


def test_closing_one_of_two_stores_on_a_database_leaves_it_in_use(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    first, second = Store(path), Store(path)
    assert first.commits.look() is not None and second.commits.look() is not None
    first.close()
    try:
        assert seen_from_another_process(path) == "in use"
        with second.write() as tx:
            tx.set_partner_policy(KeyId("a" * 64), PartnerPolicy(trust=Trust.REVIEW))
        assert second.commits.look() is not None
    finally:
        second.close()


def test_a_first_sync_checkpointing_aside_leaves_the_database_in_use(tmp_path: Path) -> None:
    """The path that failed: a first sync's checkpoint thread watches the WAL while the load
    runs, and stops when it ends."""
    path = tmp_path / "node.db"
    store = Store(path)
    try:
        with store.bulk_load() as deferred:
            assert deferred
            with store.write() as tx:
                tx.set_partner_policy(KeyId("a" * 64), PartnerPolicy(trust=Trust.REVIEW))
            time.sleep(3 * POLL_SECONDS)  # the checkpoint thread looks at the WAL meanwhile
        assert store.wait_for_indexes(timeout=30)
        assert seen_from_another_process(path) == "in use"
        with store.write() as tx:  # and the store commits on
            tx.set_partner_policy(KeyId("a" * 64), PartnerPolicy(trust=Trust.OBSERVE))
    finally:
        store.close()


def test_looks_are_equal_until_a_commit_by_any_connection(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.db")
    try:
        first = store.commits.look()
        assert first is not None
        store.indicators_by_id(["indicator--absent"])  # reads commit nothing
        assert store.commits.look() == first
        other = sqlite3.connect(tmp_path / "node.db")  # another connection, outside the Store
        other.execute("UPDATE speed_generations SET n = n + 1 WHERE kind = 'opinions'")
        other.commit()
        second = store.commits.look()
        assert second not in (None, first)
        other.execute("BEGIN IMMEDIATE")  # a transaction rolled back changes nothing
        other.execute("UPDATE speed_generations SET n = n + 1 WHERE kind = 'opinions'")
        other.rollback()
        other.close()
        assert store.commits.look() == second
    finally:
        store.close()


def test_a_commit_in_another_process_changes_the_look_even_across_a_wal_restart(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = Store(path)
    try:
        for round_ in range(3):
            before = store.commits.look()
            subprocess.run([sys.executable, "-c", WRITE_IN_ANOTHER_PROCESS, str(path), "a" * 64], check=True)
            after = store.commits.look()
            assert after not in (None, before), f"round {round_}: a commit went unseen"
            assert store.partner_policies()["a" * 64].trust is Trust.OBSERVE
            with store.write() as tx:  # back, for the next round
                tx.set_partner_policy(KeyId("a" * 64), PartnerPolicy(trust=Trust.REVIEW))
            # The WAL restarts from its first frame: the same frame count must not look alike.
            store.reader.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        store.close()


def test_without_a_wal_index_every_look_says_maybe(tmp_path: Path) -> None:
    plain = tmp_path / "rollback.db"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.close()  # journal_mode DELETE
    watch = CommitWatch(plain)
    assert watch.look() is None
    store = Store(tmp_path / "node.db")
    store.close()
    assert store.commits.look() is None  # closed: never "unchanged"


def test_answers_are_remembered_until_anyone_commits(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = Store(path)
    try:
        remembered: UntilCommit[str, str] = UntilCommit(store.commits, max_entries=2)
        reads: list[str] = []

        def read(answer: str) -> Callable[[], str]:
            return lambda: reads.append(answer) or answer

        assert remembered.get("k", read("first")) == "first"
        assert remembered.get("k", read("second")) == "first"  # nobody committed
        subprocess.run([sys.executable, "-c", WRITE_IN_ANOTHER_PROCESS, str(path), "b" * 64], check=True)
        assert remembered.get("k", read("third")) == "third"  # another process committed
        assert remembered.get("absent", lambda: None) is None
        assert remembered.get("absent", read("now-present")) == "now-present"  # None is not kept
        assert remembered.get("x", read("x")) == "x"  # over max_entries: read, not kept
        assert remembered.get("x", read("x again")) == "x again"
        assert reads == ["first", "third", "now-present", "x", "x again"]
    finally:
        store.close()
