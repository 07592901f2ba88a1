"""A first sync into an empty node builds the analyst indexes after its rows (node/store/bulk.py).

Every entry is still verified and committed in its own transaction; only when the secondary
indexes on ``indicators`` are written changes. A crash in between must leave nothing half-done:
the next open of the store builds them, unless the process that deferred them is still loading.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from node.model import Seq
from node.store import Store
from node.store.bulk import DEFERRED_AT_FIRST_SYNC
from node.store.codec import VALUE_MATCHES, value_params
from tests.support.feeds import md5_signal, pdq_signal
from tests.sync.test_publish_pull_serve import (
    ORIGIN,
    StoreSource,
    contribute,
    make_publisher,
    pin,
    puller,
)


def indexes(store: Store) -> set[str]:
    rows = store.reader.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'indicators'"
    )
    return {r[0] for r in rows}


def pull_watching_indexes(receiver: Store, origin_store: Store) -> list[set[str]]:
    """Pull everything from ``origin_store``; the indexes on ``indicators`` at each commit."""
    seen: list[set[str]] = []
    pulling = puller(receiver)
    commit = pulling._ingestor.commit

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(indexes(receiver))
        return commit(*args, **kwargs)

    pulling._ingestor.commit = watched  # type: ignore[method-assign]
    report = pulling.pull(receiver.partner("ngo"), StoreSource(origin_store))  # type: ignore[arg-type]
    assert report.ok and not report.rejected
    return seen


def published_to_empty(tmp_path: Path) -> tuple[Store, Store]:
    """An origin that published three entries (six indicators), and an empty node pinning it."""
    origin_store, receiver = Store(tmp_path / "origin.db"), Store(tmp_path / "receiver.db")
    publisher = make_publisher(origin_store)
    for n in range(3):
        contribute(publisher, pdq_signal(n), md5_signal(n))
    pin(receiver, "ngo", ORIGIN)
    return origin_store, receiver


def test_a_first_sync_writes_rows_before_the_analyst_indexes_and_builds_them_after(
    tmp_path: Path,
) -> None:
    origin_store, receiver = published_to_empty(tmp_path)

    seen = pull_watching_indexes(receiver, origin_store)
    assert receiver.wait_for_indexes(30)  # built by a thread of the store once the pull ended

    assert len(seen) == 3 and all(not (s & set(DEFERRED_AT_FIRST_SYNC)) for s in seen)
    assert set(DEFERRED_AT_FIRST_SYNC) <= indexes(receiver)  # built when the pull ended
    assert receiver.deferred_indexes() == []
    assert "indicators_id" in DEFERRED_AT_FIRST_SYNC  # the upserts' conflict key too (bulk_ids.py)
    plan = receiver.reader.execute(
        f"EXPLAIN QUERY PLAN SELECT id FROM indicators WHERE {VALUE_MATCHES}",
        value_params(pdq_signal(1).type.value, pdq_signal(1).value),
    ).fetchall()
    assert "indicators_value_prefix" in str(plan)
    [row] = receiver.reader.execute(
        f"SELECT id FROM indicators WHERE {VALUE_MATCHES}",
        value_params(pdq_signal(1).type.value, pdq_signal(1).value),
    ).fetchall()
    assert row[0] == origin_store.indicators_with_signal(pdq_signal(1))[0].id


def test_a_first_sync_returns_before_its_indexes_are_built_and_the_node_works_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin_store, receiver = published_to_empty(tmp_path)
    gate, build = threading.Event(), Store._build_deferred

    def build_when_let(store: Store) -> None:
        assert gate.wait(30)
        build(store)

    monkeypatch.setattr(Store, "_build_deferred", build_when_let)

    report = puller(receiver).pull(receiver.partner("ngo"), StoreSource(origin_store))  # type: ignore[arg-type]

    assert report.ok and report.indicators == 6  # returned: nothing waits for the indexes
    assert sorted(receiver.deferred_indexes()) == sorted(DEFERRED_AT_FIRST_SYNC)
    [held] = receiver.indicators_with_signal(pdq_signal(1))  # found by a scan meanwhile
    with receiver.write() as tx:  # a newer version written meanwhile replaces, never doubles
        tx.upsert_indicators(
            [replace(held, category="ncii", modified=held.modified + timedelta(1))], entry_seq=Seq(9)
        )
    gate.set()
    assert receiver.wait_for_indexes(30)
    assert set(DEFERRED_AT_FIRST_SYNC) <= indexes(receiver) and receiver.deferred_indexes() == []
    assert [i.category for i in receiver.indicators_with_signal(pdq_signal(1))] == ["ncii"]
    assert receiver.reader.execute("SELECT COUNT(*) FROM indicators").fetchone()[0] == 6
    receiver.close()


def test_a_sync_into_a_node_that_holds_indicators_keeps_every_index(tmp_path: Path) -> None:
    origin_store, receiver = Store(tmp_path / "origin.db"), Store(tmp_path / "receiver.db")
    publisher = make_publisher(origin_store)
    contribute(publisher, pdq_signal(1))
    pin(receiver, "ngo", ORIGIN)
    pull_watching_indexes(receiver, origin_store)
    assert receiver.wait_for_indexes(30)  # the first sync's, built after it returned
    contribute(publisher, pdq_signal(2))

    seen = pull_watching_indexes(receiver, origin_store)

    assert seen and all(set(DEFERRED_AT_FIRST_SYNC) <= s for s in seen)


_LOADER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from node.store import Store
    store = Store(Path(sys.argv[1]))
    loading = store.bulk_load()
    assert loading.__enter__()
    print("deferred", flush=True)
    if sys.argv[2] == "crash":
        os._exit(0)  # no cleanup: as a SIGKILL would leave it
    sys.stdin.readline()
    loading.__exit__(None, None, None)
    store.close()  # waits for the build
    """
)


@contextmanager
def loader(db: Path, mode: str) -> Iterator[subprocess.Popen[str]]:
    """A process that opens the store and defers the indexes: ``crash`` then dies at once,
    ``wait`` finishes its load (builds them) when it reads a line."""
    with subprocess.Popen(
        [sys.executable, "-c", _LOADER, str(db), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    ) as process:
        assert process.stdout is not None and process.stdout.readline().strip() == "deferred"
        yield process


def test_indexes_a_crashed_first_sync_deferred_are_built_when_the_store_opens(tmp_path: Path) -> None:
    db = tmp_path / "accord.db"
    Store(db).close()
    with loader(db, "crash") as crashed:
        assert crashed.wait(30) == 0

    with_pending = Store(db)  # the loader is gone: its lock went with it

    assert set(DEFERRED_AT_FIRST_SYNC) <= indexes(with_pending) and with_pending.deferred_indexes() == []
    with_pending.close()


def test_a_store_opened_during_another_process_first_sync_leaves_the_build_to_it(tmp_path: Path) -> None:
    db = tmp_path / "accord.db"
    Store(db).close()
    with loader(db, "wait") as running:
        beside = Store(db)
        assert not (indexes(beside) & set(DEFERRED_AT_FIRST_SYNC))
        assert sorted(beside.deferred_indexes()) == sorted(DEFERRED_AT_FIRST_SYNC)
        running.communicate("done\n", timeout=30)
        assert running.returncode == 0
    assert set(DEFERRED_AT_FIRST_SYNC) <= indexes(beside) and beside.deferred_indexes() == []
    beside.close()
