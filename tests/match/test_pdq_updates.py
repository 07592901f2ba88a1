"""PDQ index updates: visible at once, tombstones never return, merges keep every answer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from node.errors import InvalidSignal
from node.match import PdqIndex
from node.model import IndexHit
from tests.match.pdq_data import Hashes, brute_force, near, random_hashes, uuid_ids


def loaded(n: int, seed: int, **options: bool) -> tuple[PdqIndex, list[str], Hashes]:
    rng = np.random.default_rng(seed)
    hashes = random_hashes(n, rng)
    ids = uuid_ids(n, rng)
    index = PdqIndex(method="probe", **options)  # type: ignore[arg-type]
    index.bulk_load(ids, hashes)
    return index, ids, hashes


def test_add_remove_and_re_add_are_visible_to_the_next_query() -> None:
    index, ids, hashes = loaded(2000, 1)
    fresh = random_hashes(1, np.random.default_rng(2))[0].tobytes()
    index.add("new", fresh)
    assert index.query(fresh, 0) == [IndexHit("new", 0)]
    index.remove("new")
    assert index.query(fresh, 31) == []
    index.add("new", fresh)
    assert index.query(fresh, 0) == [IndexHit("new", 0)]
    base_hash = hashes[7].tobytes()
    index.remove(ids[7])  # a row of the base segment
    assert index.query(base_hash, 31) == []
    index.add(ids[7], base_hash)  # back, now in the tail
    assert index.query(base_hash, 0) == [IndexHit(ids[7], 0)]
    assert len(index) == 2001


def test_re_adding_a_base_id_with_a_new_hash_replaces_it() -> None:
    index, ids, hashes = loaded(500, 3)
    moved = random_hashes(1, np.random.default_rng(4))[0].tobytes()
    index.add(ids[0], moved)
    assert index.query(hashes[0].tobytes(), 31) == []
    assert index.query(moved, 0) == [IndexHit(ids[0], 0)]
    assert len(index) == 500


@pytest.mark.parametrize("threshold", [0, 31, 63, 256])
def test_tombstoned_rows_never_come_back(threshold: int) -> None:
    index, ids, hashes = loaded(1000, 5)
    index.add_many(["t1", "t2"], [hashes[0].tobytes(), hashes[1].tobytes()])
    index.remove_many([ids[0], ids[1], "t1", "never-listed"])
    found = {h.indicator_id for h in index.query(hashes[0].tobytes(), threshold)}
    assert not found & {ids[0], ids[1], "t1"}
    assert ("t2" in found) == (
        threshold >= 0 and bool(np.unpackbits(hashes[0] ^ hashes[1]).sum() <= threshold)
    )
    index.merge(full=True)
    assert not {h.indicator_id for h in index.query(hashes[0].tobytes(), threshold)} & {ids[0], ids[1], "t1"}
    assert len(index) == 999


def test_repeated_ids_in_one_batch_keep_the_last_hash() -> None:
    index = PdqIndex()
    a, b = bytes(32), b"\xff" * 32
    index.add_many(["x", "y", "x"], [a, a, b])
    assert index.query(a, 0) == [IndexHit("y", 0)]
    assert index.query(b, 0) == [IndexHit("x", 0)]
    fresh = PdqIndex()
    fresh.bulk_load(["x", "y", "x"], np.frombuffer(a + a + b, dtype=np.uint8).reshape(3, 32))
    assert fresh.query(b, 0) == [IndexHit("x", 0)] and len(fresh) == 2


def test_merges_keep_every_answer() -> None:
    index = PdqIndex(method="probe", background_merge=False)
    index.seal_rows = 100  # merge the tail into a small segment every 100 adds
    rng = np.random.default_rng(6)
    hashes = random_hashes(1200, rng)
    ids = uuid_ids(1200, rng)
    alive = [True] * 1200
    for start in range(0, 1200, 50):
        index.add_many(ids[start : start + 50], hashes[start : start + 50])
        index.remove(ids[start])
        alive[start] = False
    assert index.stats()["segments"] >= 1
    queries = [near(hashes[int(rng.integers(1200))], int(rng.integers(0, 33)), rng) for _ in range(40)]
    expected = [brute_force(ids, hashes, alive, q, 31) for q in queries]
    assert [index.query(q.tobytes(), 31) for q in queries] == expected
    index.merge(full=True)
    assert index.stats()["segments"] == 1 and index.stats()["tail_rows"] == 0
    assert [index.query(q.tobytes(), 31) for q in queries] == expected
    assert len(index) == sum(alive)


def test_queries_during_background_merges_stay_correct() -> None:
    index, ids, hashes = loaded(3000, 7, background_merge=True)
    index.seal_rows = 300
    stable = [(ids[n], hashes[n].tobytes()) for n in range(0, 3000, 150)]
    errors: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for indicator_id, pdq in stable:
                hits = index.query(pdq, 8)
                if IndexHit(indicator_id, 0) not in hits:
                    errors.append(f"{indicator_id} missing")

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    rng = np.random.default_rng(8)
    churn = uuid_ids(4000, rng)
    churn_hashes = random_hashes(4000, rng)
    for start in range(0, 4000, 100):
        index.add_many(churn[start : start + 100], churn_hashes[start : start + 100])
        index.remove_many(churn[start : start + 50])  # removals while merges are being built
    index.wait_for_merge()
    stop.set()
    for reader in readers:
        reader.join(timeout=30)
    assert errors == []
    all_ids = ids + churn
    all_hashes = np.concatenate([hashes, churn_hashes])
    alive = [True] * 3000 + [n % 100 >= 50 for n in range(4000)]
    assert len(index) == sum(alive)
    for n in range(0, 7000, 350):
        query = all_hashes[n]
        assert index.query(query.tobytes(), 31) == brute_force(all_ids, all_hashes, alive, query, 31)


def test_hashes_must_be_32_bytes() -> None:
    index = PdqIndex()
    with pytest.raises(InvalidSignal):
        index.add("a", bytes(31))
    with pytest.raises(InvalidSignal):
        index.query_batch(np.zeros((2, 16), dtype=np.uint8), 31)
    with pytest.raises(ValueError, match="ids for"):
        index.add_many(["a", "b"], [bytes(32)])
