"""The store's commit watch: two equal looks mean nobody committed in between, whichever
process or connection wrote; the Matcher's provenance copy relies on it to skip its read."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from node.model import KeyId, PartnerPolicy, Trust
from node.store import Store
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
