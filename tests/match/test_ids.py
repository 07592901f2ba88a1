"""Indicator ids as 128-bit keys: canonical ids parse to their uuid, others get side keys."""

from __future__ import annotations

import numpy as np

from node.match.ids import IdCodec, merge_sorted, sort_by_key
from tests.match.pdq_data import uuid_ids


def test_canonical_ids_round_trip_through_their_uuid() -> None:
    codec = IdCodec()
    ids = uuid_ids(100, np.random.default_rng(1))
    keys = codec.encode_many(ids)
    assert codec.decode_many(keys) == ids
    assert codec.key_of(ids[0]) == tuple(keys[0].tolist())
    assert codec.others() == []  # nothing to remember for them


def test_key_order_is_id_order_for_canonical_ids() -> None:
    ids = uuid_ids(500, np.random.default_rng(2))
    keys = IdCodec().encode_many(ids)
    assert [ids[i] for i in sort_by_key(keys)] == sorted(ids)


def test_other_ids_get_remembered_keys() -> None:
    codec = IdCodec()
    odd = ["a", "id-0001", "indicator--NOT-A-UUID", "indicator--00000000-0000-1000-8000-000000000000", "ü"]
    keys = codec.encode_many(odd + odd[:1])
    assert codec.decode_many(keys) == [*odd, "a"]
    assert codec.others() == odd
    assert codec.key_of("never-seen") is None
    restored = IdCodec(codec.others())
    assert restored.decode_many(keys) == [*odd, "a"]


def test_sort_and_merge_keys_with_ties_on_the_high_word() -> None:
    keys = np.array([[0, 5], [1, 2], [0, 3], [1, 1], [0, 9]], dtype=np.uint64)
    order = sort_by_key(keys)
    assert keys[order].tolist() == [[0, 3], [0, 5], [0, 9], [1, 1], [1, 2]]
    first, second = keys[order][:3], np.array([[0, 4], [2, 0]], dtype=np.uint64)
    merged = np.concatenate([first, second])[merge_sorted(first, second)]
    assert merged.tolist() == [[0, 3], [0, 4], [0, 5], [0, 9], [2, 0]]
