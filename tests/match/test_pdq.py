"""PDQ index: exact Hamming search (checked against brute force), ordering, tombstones, growth."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.match import PdqIndex
from node.model import IndexHit

THRESHOLD = 31


def random_hash(rng: random.Random) -> bytes:
    return rng.getrandbits(256).to_bytes(32, "big")


def flip(pdq: bytes, bits: list[int]) -> bytes:
    value = int.from_bytes(pdq, "big")
    for bit in bits:
        value ^= 1 << bit
    return value.to_bytes(32, "big")


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def brute_force(stored: dict[str, bytes], query: bytes, threshold: int) -> list[IndexHit]:
    hits = [IndexHit(i, distance(h, query)) for i, h in stored.items()]
    return sorted((h for h in hits if h.distance <= threshold), key=lambda h: (h.distance, h.indicator_id))


def test_empty_index() -> None:
    index = PdqIndex()
    assert len(index) == 0
    assert index.query(bytes(32), 256) == []


def test_exact_against_brute_force() -> None:
    rng = random.Random(20250506)
    index = PdqIndex()
    stored: dict[str, bytes] = {}
    # Clusters of near-duplicates, so queries find several hashes at assorted distances.
    for n in range(400):
        base = random_hash(rng) if n % 4 == 0 else stored[f"id-{n - n % 4:04d}"]
        pdq = flip(base, rng.sample(range(256), rng.randint(0, 20))) if n % 4 else base
        stored[f"id-{n:04d}"] = pdq
        index.add(f"id-{n:04d}", pdq)
    assert len(index) == 400
    for n, pdq in enumerate(list(stored.values())[:200]):
        for k in (0, 1, 15, 30, 31, 32, 40, n % 41):
            query = flip(pdq, rng.sample(range(256), k))
            assert index.query(query, THRESHOLD) == brute_force(stored, query, THRESHOLD)


@settings(max_examples=100, deadline=None)
@given(
    hashes=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True),
    pick=st.integers(min_value=0),
    flips=st.lists(st.integers(min_value=0, max_value=255), max_size=40),
    threshold=st.integers(min_value=0, max_value=64),
)
def test_exact_against_brute_force_property(
    hashes: list[bytes], pick: int, flips: list[int], threshold: int
) -> None:
    index = PdqIndex()
    stored = {f"i{n:03d}": h for n, h in enumerate(hashes)}
    for indicator_id, pdq in stored.items():
        index.add(indicator_id, pdq)
    query = flip(hashes[pick % len(hashes)], flips)
    assert index.query(query, threshold) == brute_force(stored, query, threshold)


def test_threshold_is_inclusive() -> None:
    index = PdqIndex()
    index.add("a", bytes(32))
    at = flip(bytes(32), list(range(31)))
    beyond = flip(bytes(32), list(range(32)))
    assert index.query(at, 31) == [IndexHit("a", 31)]
    assert index.query(beyond, 31) == []


def test_distance_counts_bits_in_every_word() -> None:
    index = PdqIndex()
    index.add("a", bytes(32))
    for bit in (0, 63, 64, 127, 128, 191, 192, 255):
        assert index.query(flip(bytes(32), [bit]), 0) == []
        assert index.query(flip(bytes(32), [bit]), 1) == [IndexHit("a", 1)]
    assert index.query(b"\xff" * 32, 256) == [IndexHit("a", 256)]


def test_results_are_nearest_first_then_by_id() -> None:
    index = PdqIndex()
    base = bytes(32)
    index.add("far", flip(base, list(range(20))))
    index.add("b-near", flip(base, [3]))
    index.add("a-near", flip(base, [200]))
    index.add("exact", base)
    hits = index.query(base, THRESHOLD)
    assert hits == [IndexHit("exact", 0), IndexHit("a-near", 1), IndexHit("b-near", 1), IndexHit("far", 20)]


def test_remove_stops_matching_and_the_row_stays_a_tombstone_until_a_merge() -> None:
    index = PdqIndex()
    a, b = bytes(32), b"\xff" * 32
    index.add("a", a)
    index.add("b", b)
    index.remove("a")
    assert len(index) == 1
    assert index.query(a, THRESHOLD) == []
    index.remove("a")  # a second remove is a no-op
    index.remove("never-added")
    assert len(index) == 1
    index.add("c", flip(a, [1]))
    assert index.stats()["tail_rows"] == 3  # nothing rebuilt: the removed row is masked
    assert index.query(a, THRESHOLD) == [IndexHit("c", 1)]
    assert index.query(b, 0) == [IndexHit("b", 0)]
    index.merge()
    assert (index.stats()["segment_rows"], index.stats()["tail_rows"]) == (2, 0)  # compacted
    assert index.query(a, THRESHOLD) == [IndexHit("c", 1)]


def test_adding_an_id_again_replaces_its_hash() -> None:
    index = PdqIndex()
    old, new = bytes(32), b"\xff" * 32
    index.add("a", old)
    index.add("a", new)
    assert len(index) == 1
    assert index.query(old, THRESHOLD) == []
    assert index.query(new, 0) == [IndexHit("a", 0)]


def test_two_ids_may_share_a_hash() -> None:
    index = PdqIndex()
    index.add("a", bytes(32))
    index.add("b", bytes(32))
    assert index.query(bytes(32), 0) == [IndexHit("a", 0), IndexHit("b", 0)]
    index.remove("a")
    assert index.query(bytes(32), 0) == [IndexHit("b", 0)]


def test_growth_beyond_the_initial_capacity_keeps_every_hash() -> None:
    rng = random.Random(7)
    index = PdqIndex()
    stored = {f"id-{n}": random_hash(rng) for n in range(2500)}
    for indicator_id, pdq in stored.items():
        index.add(indicator_id, pdq)
    assert len(index) == 2500
    for indicator_id in ("id-0", "id-1023", "id-1024", "id-2047", "id-2048", "id-2499"):
        assert IndexHit(indicator_id, 0) in index.query(stored[indicator_id], 0)
    probe = flip(stored["id-1500"], [1, 2, 3])
    assert index.query(probe, THRESHOLD) == brute_force(stored, probe, THRESHOLD)


def test_removals_and_growth_together() -> None:
    rng = random.Random(11)
    index = PdqIndex()
    stored: dict[str, bytes] = {}
    for n in range(3000):
        pdq = random_hash(rng)
        index.add(f"id-{n}", pdq)
        stored[f"id-{n}"] = pdq
        if n % 3 == 0:
            victim = f"id-{rng.randrange(n + 1)}"
            index.remove(victim)
            stored.pop(victim, None)
    assert len(index) == len(stored)
    for indicator_id in rng.sample(sorted(stored), 50):
        assert index.query(stored[indicator_id], 0) == [IndexHit(indicator_id, 0)]
    probe = flip(next(iter(stored.values())), list(range(10)))
    assert index.query(probe, 128) == brute_force(stored, probe, 128)


@pytest.mark.parametrize("threshold", [0, 31, 256])
def test_removed_hashes_never_match_at_any_threshold(threshold: int) -> None:
    index = PdqIndex()
    index.add("gone", bytes(32))
    index.add("kept", b"\x0f" * 32)
    index.remove("gone")
    assert all(h.indicator_id == "kept" for h in index.query(bytes(32), threshold))
