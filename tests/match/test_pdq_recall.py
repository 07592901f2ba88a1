"""The PDQ index finds every hash within T, in every part (segment, small segment, tail)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.match import PdqIndex
from node.match.segment import CHUNK_WIDTHS, MAX_FLIPS, SearchMethod, plan_radii
from tests.match.pdq_data import (
    Hashes,
    adversarial,
    brute_force,
    clustered_hashes,
    near,
    random_hashes,
    uuid_ids,
)

THRESHOLDS = [0, 8, 16, 31, 40, 63]


def three_part_index(ids: list[str], hashes: Hashes, method: SearchMethod) -> PdqIndex:
    """A base segment, a small segment and a tail, so that every part is searched."""
    index = PdqIndex(method=method, background_merge=False)
    index.bulk_load(ids[:2000], hashes[:2000])
    index.add_many(ids[2000:2600], hashes[2000:2600])
    index.merge()
    index.add_many(ids[2600:], hashes[2600:])
    stats = index.stats()
    assert (stats["segments"], stats["tail_rows"]) == (2, len(ids) - 2600)
    return index


@pytest.fixture(scope="module", params=["random", "clustered"])
def listed(request: pytest.FixtureRequest) -> tuple[list[str], Hashes]:
    rng = np.random.default_rng(4)
    make = random_hashes if request.param == "random" else clustered_hashes
    hashes = make(3000, rng)
    return uuid_ids(len(hashes), rng), hashes


@pytest.mark.parametrize("method", ["probe", "auto"])
@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_recall_is_exact_against_brute_force(
    listed: tuple[list[str], Hashes], threshold: int, method: SearchMethod
) -> None:
    ids, hashes = listed
    index = three_part_index(ids, hashes, method)
    rng = np.random.default_rng(threshold)
    alive = [True] * len(ids)
    queries = [near(hashes[int(rng.integers(len(ids)))], k, rng) for k in (threshold, threshold + 1, 3, 20)]
    queries += [random_hashes(1, rng)[0]]
    if plan_radii(threshold) is not None:
        queries += [adversarial(hashes[int(rng.integers(len(ids)))], threshold, rng) for _ in range(3)]
    for query in queries:
        assert index.query(query.tobytes(), threshold) == brute_force(ids, hashes, alive, query, threshold)


def test_a_hash_exactly_t_away_is_found_and_t_plus_one_is_not() -> None:
    rng = np.random.default_rng(5)
    stored = random_hashes(1, rng)[0]
    index = PdqIndex(method="probe")
    index.bulk_load(["a"], stored[None, :])
    for threshold in range(0, 55):
        at = adversarial(stored, threshold, rng)
        assert [h.distance for h in index.query(at.tobytes(), threshold)] == [threshold]
        beyond = near(at, 1, rng)
        while np.unpackbits(beyond ^ stored).sum() != threshold + 1:
            beyond = near(at, 1, rng)
        assert index.query(beyond.tobytes(), threshold) == []


def test_radii_plan_is_the_pigeonhole_bound() -> None:
    for threshold in range(0, 64):
        radii = plan_radii(threshold)
        if radii is None:
            assert threshold + 1 > len(CHUNK_WIDTHS) * (MAX_FLIPS + 1)
            continue
        assert int((radii + 1).sum()) == threshold + 1
        assert int(radii.max() - radii.min()) <= 1
    assert plan_radii(31) is not None and sorted(plan_radii(31).tolist()) == [1] + [2] * 10  # type: ignore[union-attr]


def test_query_batch_equals_single_queries() -> None:
    rng = np.random.default_rng(6)
    hashes = clustered_hashes(1500, rng)
    ids = uuid_ids(1500, rng)
    index = PdqIndex(method="probe")
    index.bulk_load(ids[:1000], hashes[:1000])
    index.add_many(ids[1000:], hashes[1000:])
    queries = np.stack(
        [near(hashes[int(rng.integers(1500))], int(rng.integers(0, 33)), rng) for _ in range(200)]
    )
    batch = index.query_batch(queries, 31)  # large enough to be split over the worker threads
    assert batch == [index.query(q.tobytes(), 31) for q in queries]
    assert index.query_batch([q.tobytes() for q in queries[:5]], 31) == batch[:5]
    assert index.query_batch(np.zeros((0, 32), dtype=np.uint8), 31) == []


def test_many_hits_overflow_the_buffers_and_still_all_come_back() -> None:
    index = PdqIndex(method="probe")
    ids = [f"copy-{n:05d}" for n in range(3000)]
    index.bulk_load(ids, np.zeros((3000, 32), dtype=np.uint8))  # 3,000 identical hashes
    index.add_many([f"tail-{n:05d}" for n in range(3000)], np.zeros((3000, 32), dtype=np.uint8))
    hits = index.query_batch(np.zeros((3, 32), dtype=np.uint8), 0)
    assert [len(h) for h in hits] == [6000, 6000, 6000]
    assert [h.indicator_id for h in hits[0][:2]] == ["copy-00000", "copy-00001"]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    ops=st.lists(st.tuples(st.sampled_from(["add", "remove", "merge"]), st.integers(0, 30)), max_size=60),
    threshold=st.integers(min_value=0, max_value=70),
)
def test_updates_match_a_model_property(seed: int, ops: list[tuple[str, int]], threshold: int) -> None:
    rng = np.random.default_rng(seed)
    centre = random_hashes(1, rng)[0]
    index = PdqIndex(method="probe", background_merge=False)
    model: dict[str, Hashes] = {}
    for op, n in ops:
        indicator_id = f"i{n:02d}" if n % 3 else uuid_ids(1, np.random.default_rng(n))[0]
        if op == "add":
            model[indicator_id] = near(centre, int(rng.integers(0, 40)), rng)
            index.add(indicator_id, model[indicator_id].tobytes())
        elif op == "remove":
            model.pop(indicator_id, None)
            index.remove(indicator_id)
        else:
            index.merge(full=n % 2 == 0)
    assert len(index) == len(model)
    query = near(centre, int(rng.integers(0, 40)), rng)
    ids = list(model)
    stored = np.stack(list(model.values())) if model else np.zeros((0, 32), dtype=np.uint8)
    assert index.query(query.tobytes(), threshold) == brute_force(
        ids, stored, [True] * len(ids), query, threshold
    )
