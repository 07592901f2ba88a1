"""Upserts while a first sync defers the ``id`` index (node/store/bulk_ids.py).

The deferred path must store exactly what the ordinary ``ON CONFLICT (id)`` upsert stores, for
any feed a partner can send: new ids, newer and older versions, revocations and versions after
them, another origin's ids, a changed signal, the same id twice in one entry, notes. Another
process writing meanwhile builds the index first; so does a key collision; and a crash leaves
a table whose unique index builds.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from node.model import Indicator, KeyId, Seq, Signal, SignalType
from node.model.provenance import IndicatorNote
from node.store import Store, bulk_ids, upsert_batch
from node.store.bulk_ids import ID_INDEX, KeyRuns
from tests.store.build import ALICE, BOB, indicator, open_store

ROOT = Path(__file__).resolve().parents[2]


def table(store: Store) -> list[tuple[Any, ...]]:
    """Every column of every indicator row, and every note, in change-id order."""
    rows = store.reader.execute("SELECT * FROM indicators ORDER BY change_id").fetchall()
    notes = store.reader.execute("SELECT * FROM indicator_notes ORDER BY id").fetchall()
    return [tuple(r) for r in rows] + [("note", *n) for n in notes]


def has_id_index(store: Store) -> bool:
    return (
        store.reader.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (ID_INDEX,)).fetchone() is not None
    )


def random_feed(seed: int, entries: int = 12) -> list[list[Indicator]]:
    """Entries of what partners send: mostly new ids, and every kind of repeat."""
    rng = random.Random(seed)
    stored: list[Indicator] = []
    feed: list[list[Indicator]] = []
    serial = seed * 10_000
    for _ in range(entries):
        batch: list[Indicator] = []
        for _ in range(rng.randint(1, 40)):
            kind = rng.random()
            if not stored or kind < 0.55:
                serial += 1
                signal_type = rng.choice([SignalType.MD5, SignalType.PDQ])
                new = indicator(
                    serial, signal_type=signal_type, origin=rng.choice([ALICE.key_id, BOB.key_id]), minutes=10
                )
                if rng.random() < 0.15:
                    new = replace(new, note=IndicatorNote(labels=("behaviour:impersonation",)))
                batch.append(new)
                stored.append(new)
                continue
            old = rng.choice(stored)
            minutes = rng.choice([-5, 0, 3, 7, 11])
            later = replace(old, modified=old.modified + timedelta(minutes=minutes), category="ncii")
            if kind < 0.7:
                version = later  # newer, equal or older
            elif kind < 0.8:
                version = replace(later, revoked=True)
            elif kind < 0.88:
                version = replace(later, origin=BOB.key_id if old.origin == ALICE.key_id else ALICE.key_id)
            elif kind < 0.94:
                version = replace(later, signal=Signal(old.signal.type, "0" * old.signal.type.hex_length))
            else:
                version = replace(later, note=IndicatorNote(labels=("behaviour:fraud",)))
            batch.append(version)
            if rng.random() < 0.3:
                batch.append(replace(version, modified=version.modified + timedelta(minutes=1)))
        feed.append(batch)
    return feed


def apply(store: Store, feed: list[list[Indicator]], first: int = 1) -> list[tuple[int, list[str]]]:
    """Upsert each entry as ingest does (seqs from ``first``); what each wrote, and the foreign
    ids it named."""
    said = []
    for seq, batch in enumerate(feed, start=first):
        with store.write() as tx:
            written = tx.upsert_batch(upsert_batch(batch, entry_seq=Seq(seq), local=False))
            foreign = sorted(tx.foreign_indicator_ids([i.id for i in batch], batch[0].origin))
        said.append((written, foreign))
    return said


@pytest.mark.parametrize("seed", range(12))
def test_the_deferred_path_stores_exactly_what_the_ordinary_upsert_stores(tmp_path: Path, seed: int) -> None:
    feed = random_feed(seed)
    with open_store(tmp_path / "plain.db") as plain, open_store(tmp_path / "first-sync.db") as loading:
        expected = apply(plain, feed)
        with loading.bulk_load() as deferred:
            assert deferred and not has_id_index(loading)
            got = apply(loading, feed)
            assert not has_id_index(loading)  # nothing in this feed needed it early
            assert table(loading) == table(plain)
        assert got == expected
        assert loading.wait_for_indexes(30)
        assert has_id_index(loading) and loading.deferred_indexes() == []
        assert table(loading) == table(plain)


def test_a_key_collision_ends_the_deferral_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = random_feed(99)
    with open_store(tmp_path / "plain.db") as plain, open_store(tmp_path / "first-sync.db") as loading:
        expected = apply(plain, feed)
        with loading.bulk_load():
            apply(loading, feed[:4])
            monkeypatch.setattr(bulk_ids, "key_of", lambda indicator_id: 7)  # every id one key
            got = apply(loading, feed[4:], first=5)
            assert has_id_index(loading)  # built in the transaction that met the collision
        assert got == expected[4:]
        assert table(loading) == table(plain)


def test_a_write_that_renumbers_change_ids_ends_the_deferral_first(tmp_path: Path) -> None:
    with open_store(tmp_path / "first-sync.db") as loading, loading.bulk_load():
        apply(loading, [[indicator(1), indicator(2, origin=BOB.key_id)]])
        with loading.write() as tx:
            tx._withdraw_origin(BOB.key_id)
        assert has_id_index(loading)
        apply(loading, [[indicator(2, origin=BOB.key_id, minutes=1, category="ncii")]])
        rows = loading.reader.execute("SELECT id, category FROM indicators ORDER BY id").fetchall()
        assert sorted(rows) == sorted([(indicator(1).id, "csam"), (indicator(2).id, "ncii")])


_OTHER_WRITER = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from pathlib import Path
    from node.model import Seq
    from node.store import Store
    from tests.store.build import indicator
    store = Store(Path(sys.argv[1]))
    with store.write() as tx:
        tx.upsert_indicators([indicator(1, minutes=5, category="ncii"), indicator(5)], entry_seq=Seq(9))
    store.close()
    """
)


def test_another_process_writing_during_the_deferral_builds_the_index_and_nothing_doubles(
    tmp_path: Path,
) -> None:
    db = tmp_path / "accord.db"
    with open_store(db) as loading, loading.bulk_load():
        apply(loading, [[indicator(1), indicator(2)]])
        subprocess.run(
            [sys.executable, "-c", _OTHER_WRITER, str(db)],
            check=True,
            env={"PYTHONPATH": str(ROOT)},
            timeout=60,
        )
        assert has_id_index(loading)
        # The deferring process notices and uses the index: an update, not a second row.
        # it moved one of the rows this process stored, and stored one this process sends next
        apply(loading, [[indicator(5, minutes=1, category="ncii")]])
        apply(loading, [[indicator(2, minutes=5, category="ncii"), indicator(3)]])
        apply(loading, [[indicator(1, minutes=7, category="terrorism")]])
        rows = loading.reader.execute("SELECT id, category FROM indicators").fetchall()
    assert sorted(rows) == sorted(
        [
            (indicator(1).id, "terrorism"),
            (indicator(2).id, "ncii"),
            (indicator(3).id, "csam"),
            (indicator(5).id, "ncii"),
        ]
    )


_CRASHER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from node.model import Seq
    from node.store import Store, upsert_batch
    from tests.store.build import indicator
    store = Store(Path(sys.argv[1]))
    store.bulk_load().__enter__()
    for seq in range(1, 4):
        with store.write() as tx:
            batch = [indicator(seq * 100 + n) for n in range(50)]
            tx.upsert_batch(upsert_batch(batch, entry_seq=Seq(seq), local=False))
    os._exit(0)  # as a SIGKILL would leave it: the id index never built
    """
)


def test_a_crash_during_the_deferral_leaves_rows_whose_unique_index_builds(tmp_path: Path) -> None:
    db = tmp_path / "accord.db"
    Store(db).close()
    subprocess.run(
        [sys.executable, "-c", _CRASHER, str(db)], check=True, env={"PYTHONPATH": str(ROOT)}, timeout=60
    )
    with open_store(db) as reopened:
        assert has_id_index(reopened) and reopened.deferred_indexes() == []
        with reopened.write() as tx:
            tx.upsert_indicators([indicator(101, minutes=1, category="ncii")], entry_seq=Seq(4))
        count, distinct = reopened.reader.execute(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM indicators"
        ).fetchone()
        assert count == distinct == 150


def test_key_runs_agree_with_a_dict() -> None:
    rng = np.random.default_rng(5)
    runs, model = KeyRuns(), {}
    for _ in range(200):
        keys = np.unique(rng.integers(-(2**63), 2**63 - 1, size=int(rng.integers(0, 300)), dtype=np.int64))
        fresh = keys[[int(k) not in model for k in keys]]
        values = rng.integers(0, 2**40, size=len(fresh), dtype=np.int64)
        runs.add(fresh, values)
        model.update(zip(fresh.tolist(), values.tolist(), strict=True))
        if model and rng.random() < 0.5:
            key = rng.choice(list(model))
            model[key] = int(rng.integers(0, 2**40))
            runs.set(key, model[key])
    probe = np.concatenate((np.array(list(model), dtype=np.int64), rng.integers(-(2**63), 2**63 - 1, 500)))
    assert runs.find(probe).tolist() == [model.get(int(k), -1) for k in probe]
    assert len(runs) == len(model)
    with pytest.raises(KeyError):
        runs.set(12345, 1) if 12345 not in model else runs.set(-12345, 1)


def test_the_origin_of_a_foreign_id_is_read_by_change_id_during_the_deferral(tmp_path: Path) -> None:
    with open_store(tmp_path / "first-sync.db") as loading, loading.bulk_load():
        apply(loading, [[indicator(1, origin=BOB.key_id)]])
        with loading.write() as tx:
            assert tx.foreign_indicator_ids([indicator(1).id, indicator(2).id], KeyId(ALICE.key_id)) == [
                indicator(1).id
            ]
            assert tx.foreign_indicator_ids([indicator(1).id], KeyId(BOB.key_id)) == []
        assert not has_id_index(loading)


def test_a_transaction_that_rolls_back_leaves_the_deferral_exact(tmp_path: Path) -> None:
    """A rolled-back write leaves keys naming rows that are gone (or change ids reused by
    others): each is checked against its row, so nothing is lost or doubled."""
    feed = random_feed(7)
    with open_store(tmp_path / "plain.db") as plain, open_store(tmp_path / "first-sync.db") as loading:
        expected = apply(plain, feed)
        with loading.bulk_load():
            apply(loading, feed[:3])

            def failing_entry() -> None:
                with loading.write() as tx:
                    tx.upsert_batch(upsert_batch(feed[3] + feed[4], entry_seq=Seq(4), local=False))
                    raise RuntimeError("the entry failed after its rows were written")

            with pytest.raises(RuntimeError):
                failing_entry()
            got = apply(loading, feed[3:], first=4)
        assert got == expected[3:]
        assert table(loading) == table(plain)


def test_lookups_by_id_during_the_deferral_find_rows_by_change_id_and_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serving node matches while its first sync runs: its lookups by id must not scan the
    table for rows it wrote, and must return what the indexed lookup returns."""
    feed = random_feed(3)
    ids = [i.id for batch in feed for i in batch]
    with open_store(tmp_path / "plain.db") as plain, open_store(tmp_path / "first-sync.db") as loading:
        apply(plain, feed)
        with loading.bulk_load():
            apply(loading, feed)
            scanned: list[list[str]] = []
            where = loading._indicators_where

            def watched(column: str, values: Any) -> Any:
                if column == "id":
                    scanned.append(list(values))
                return where(column, values)

            monkeypatch.setattr(loading, "_indicators_where", watched)
            assert loading.indicators_by_id(ids) == plain.indicators_by_id(ids)
            assert scanned == [[]]  # every row found by its change id
            unknown = indicator(999_999).id
            assert loading.indicators_by_id([unknown, ids[0]]).keys() == {ids[0]}
            assert scanned[-1] == [unknown]  # only what this process never wrote is scanned for
            # A key that names another id's row (a collision) is told apart by the row's id.
            monkeypatch.setattr(bulk_ids, "key_of", lambda indicator_id: hash(ids[0]))
            assert loading.indicators_by_id([ids[1]]) == plain.indicators_by_id([ids[1]])
