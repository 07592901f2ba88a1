"""Indicator versions in the store: newer replaces, revocation is final, only the creator versions."""

from __future__ import annotations

import pytest

from node.model import Distribution, Indicator, Seq, Signal, SignalType, Tlp
from node.store import Store
from tests.store.build import ALICE, BOB, CAROL, append, indicator


def upsert(store: Store, *indicators: Indicator, entry_seq: int = 1) -> None:
    with store.write() as tx:
        tx.upsert_indicators(indicators, entry_seq=Seq(entry_seq))


def current(store: Store, ind: Indicator) -> Indicator:
    return store.indicators_by_id([ind.id])[ind.id]


def last_change(store: Store) -> int:
    changes = store.changes_since(0, limit=100_000)
    return changes[-1].change_id if changes else 0


def test_new_indicators_are_stored_as_given(store: Store) -> None:
    md5 = indicator(1)
    pdq = indicator(2, signal_type=SignalType.PDQ, tlp=Tlp.AMBER, category="ncii")
    upsert(store, md5, pdq)
    assert store.indicators_by_id([md5.id, pdq.id, "indicator--missing"]) == {md5.id: md5, pdq.id: pdq}


def test_a_newer_version_replaces(store: Store) -> None:
    upsert(store, indicator(1))
    newer = indicator(1, minutes=5, category="tvec")
    upsert(store, newer, entry_seq=2)
    assert current(store, newer) == newer


@pytest.mark.parametrize("minutes", [0, -1])
def test_an_older_or_equal_version_is_ignored(store: Store, minutes: int) -> None:
    original = indicator(1, minutes=10)
    upsert(store, original)
    before = last_change(store)
    upsert(store, indicator(1, minutes=10 + minutes, category="tvec"), entry_seq=2)
    assert current(store, original) == original
    assert store.changes_since(before, limit=10) == []


def test_revocation_is_final(store: Store) -> None:
    upsert(store, indicator(1))
    revoked = indicator(1, minutes=1, revoked=True)
    upsert(store, revoked, entry_seq=2)
    assert current(store, revoked).revoked
    before = last_change(store)
    upsert(store, indicator(1, minutes=60), entry_seq=3)  # a later, non-revoked version
    assert current(store, revoked) == revoked
    assert store.changes_since(before, limit=10) == []


def test_another_origin_cannot_version_an_indicator(store: Store) -> None:
    original = indicator(1)
    upsert(store, original)
    before = last_change(store)
    hijack = indicator(1, origin=BOB.key_id, minutes=5, revoked=True)
    upsert(store, hijack, entry_seq=2)
    assert current(store, original) == original
    assert store.changes_since(before, limit=10) == []


def test_a_version_cannot_change_the_signal(store: Store) -> None:
    original = indicator(1)
    upsert(store, original)
    other_value = indicator(1, minutes=5, signal=Signal(SignalType.MD5, "0" * 32))
    other_type = indicator(
        1, minutes=6, signal=Signal(SignalType.SHA1, "0" * 40), content_type=original.content_type
    )
    upsert(store, other_value, entry_seq=2)
    upsert(store, other_type, entry_seq=3)
    assert current(store, original) == original


def test_foreign_indicator_ids(store: Store) -> None:
    mine, theirs = indicator(1), indicator(2, origin=BOB.key_id)
    upsert(store, mine, theirs)
    with store.write() as tx:
        assert tx.foreign_indicator_ids([mine.id, theirs.id, "indicator--new"], ALICE.key_id) == [theirs.id]
        assert tx.foreign_indicator_ids([mine.id], BOB.key_id) == [mine.id]
        assert tx.foreign_indicator_ids([], ALICE.key_id) == []


def test_foreign_indicator_ids_beyond_one_chunk(store: Store) -> None:
    theirs = [indicator(n, origin=BOB.key_id) for n in range(1200)]
    upsert(store, *theirs)
    with store.write() as tx:
        found = tx.foreign_indicator_ids([i.id for i in theirs], ALICE.key_id)
    assert sorted(found) == sorted(i.id for i in theirs)


def test_changes_are_streamed_in_commit_order_with_an_active_flag(store: Store) -> None:
    a, b, c = indicator(1), indicator(2, signal_type=SignalType.PDQ), indicator(3)
    upsert(store, a, b)
    upsert(store, c, entry_seq=2)
    upsert(store, indicator(1, minutes=1, revoked=True), entry_seq=3)
    changes = store.changes_since(0, limit=100)
    ids = [ch.change_id for ch in changes]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # a's row now carries its revocation, the newest change
    assert [(ch.indicator_id, ch.active) for ch in changes] == [(b.id, True), (c.id, True), (a.id, False)]
    assert (changes[0].signal_type, changes[0].value) == ("pdq", b.signal.value)
    assert store.changes_since(changes[0].change_id, limit=1) == [changes[1]]
    assert store.changes_since(changes[-1].change_id, limit=100) == []


def test_change_ids_increase_with_every_applied_write(store: Store) -> None:
    seen: list[int] = []
    for minutes in range(5):
        upsert(store, indicator(1, minutes=minutes), entry_seq=minutes + 1)
        seen.append(last_change(store))
    assert seen == sorted(seen)
    assert len(set(seen)) == 5


def test_lookups_by_signal(store: Store) -> None:
    a = indicator(1)
    same_value_bob = indicator(2, origin=BOB.key_id, signal=a.signal)
    upsert(store, a, same_value_bob, indicator(3))
    assert {i.id for i in store.indicators_with_signal(a.signal)} == {a.id, same_value_bob.id}
    assert [i.id for i in store.indicators_with_signal(a.signal, origin=BOB.key_id)] == [same_value_bob.id]
    assert store.indicators_with_signal(a.signal, origin=CAROL.key_id) == []


def test_iter_indicators_with_and_without_revoked(store: Store) -> None:
    a, b = indicator(1), indicator(2)
    upsert(store, a, b)
    upsert(store, indicator(2, minutes=1, revoked=True), entry_seq=2)
    assert [i.id for i in store.iter_indicators(include_revoked=False)] == [a.id]
    assert [i.id for i in store.iter_indicators(include_revoked=True)] == [a.id, b.id]


def test_counts_exclude_revoked(store: Store) -> None:
    upsert(
        store,
        indicator(1),
        indicator(2),
        indicator(3, category="ncii"),
        indicator(4, signal_type=SignalType.PDQ),
        indicator(5, origin=BOB.key_id),
    )
    upsert(store, indicator(2, minutes=1, revoked=True), entry_seq=2)
    rows = {(r.origin, r.category, r.signal_type): r.count for r in store.counts()}
    assert rows == {
        (ALICE.key_id, "csam", "md5"): 1,
        (ALICE.key_id, "ncii", "md5"): 1,
        (ALICE.key_id, "csam", "pdq"): 1,
        (BOB.key_id, "csam", "md5"): 1,
    }


def test_distributions_follow_the_entry_of_the_current_version(store: Store) -> None:
    amber = Distribution(Tlp.AMBER, frozenset({BOB.key_id}))
    with store.write() as tx:
        append(tx, ALICE)  # seq 1: green
        append(tx, ALICE, distribution=amber)  # seq 2
        tx.upsert_indicators([indicator(1), indicator(2)], entry_seq=Seq(1))
        tx.upsert_indicators([indicator(2, minutes=1)], entry_seq=Seq(2))
    found = store.distributions_of([indicator(1).id, indicator(2).id, "indicator--unknown"])
    assert found == {indicator(1).id: Distribution(Tlp.GREEN), indicator(2).id: amber}


def test_lookups_by_id_beyond_one_chunk(store: Store) -> None:
    many = [indicator(n) for n in range(1100)]
    upsert(store, *many)
    found = store.indicators_by_id([i.id for i in many])
    assert len(found) == 1100
    assert found[many[-1].id] == many[-1]
