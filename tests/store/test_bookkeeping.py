"""Partners, rejection counts and sync records in the store."""

from __future__ import annotations

import sqlite3
import time

import pytest

from node.feed import NodeIdentity
from node.model import Partner, Seq
from node.store import Store
from tests.store.build import ALICE, BOB, CAROL


def partner(name: str, identity: NodeIdentity, endpoint: str | None = None) -> Partner:
    return Partner(name=name, key_id=identity.key_id, public_key=identity.public_key, endpoint=endpoint)


def test_partners_are_pinned_and_listed_by_name(store: Store) -> None:
    with store.write() as tx:
        tx.add_partner(partner("zeta", BOB, "127.0.0.1:7710"))
        tx.add_partner(partner("alpha", CAROL))
    assert [p.name for p in store.partners()] == ["alpha", "zeta"]
    assert store.partner("zeta") == partner("zeta", BOB, "127.0.0.1:7710")
    assert store.partner("nobody") is None
    assert store.pinned_keys() == {BOB.key_id: BOB.public_key, CAROL.key_id: CAROL.public_key}


@pytest.mark.parametrize(
    "duplicate", [partner("bob", CAROL), partner("other-name", BOB)], ids=["same-name", "same-key"]
)
def test_a_name_or_key_is_pinned_once(store: Store, duplicate: Partner) -> None:
    with store.write() as tx:
        tx.add_partner(partner("bob", BOB))
    with pytest.raises(sqlite3.IntegrityError), store.write() as tx:
        tx.add_partner(duplicate)
    assert store.partners() == [partner("bob", BOB)]


def test_remove_partner(store: Store) -> None:
    with store.write() as tx:
        tx.add_partner(partner("bob", BOB))
        tx.add_partner(partner("carol", CAROL))
        tx.record_sync(partner="bob", success=True, result="ok", error=None, received=1, rejected=0)
        tx.record_sync(partner="carol", success=True, result="ok", error=None, received=1, rejected=0)
    with store.write() as tx:
        assert tx.remove_partner("bob")
        assert not tx.remove_partner("bob")
        assert not tx.remove_partner("nobody")
    assert [p.name for p in store.partners()] == ["carol"]
    assert set(store.sync_records()) == {"carol"}
    assert store.pinned_keys() == {CAROL.key_id: CAROL.public_key}


def test_rejections_are_counted_by_reason(store: Store) -> None:
    with store.write() as tx:
        for reason in ["gap", "bad_signature", "gap", "gap", "too_large"]:
            tx.record_rejection(partner="bob", origin=ALICE.key_id, seq=Seq(3), reason=reason, message="x")
        tx.record_rejection(partner=None, origin=None, seq=None, reason="bad_signature", message="y")
    assert store.rejection_counts() == {"bad_signature": 2, "gap": 3, "too_large": 1}


def test_rejection_messages_are_bounded(store: Store) -> None:
    with store.write() as tx:
        tx.record_rejection(partner=None, origin=None, seq=None, reason="gap", message="m" * 10_000)
    (length,) = store.reader.execute("SELECT length(message) FROM rejections").fetchone()
    assert length == 500


def test_sync_records_accumulate_and_keep_the_last_success(store: Store) -> None:
    with store.write() as tx:
        tx.record_sync(partner="bob", success=True, result="ok", error=None, received=5, rejected=1)
    first = store.sync_records()["bob"]
    assert (first.received, first.rejected, first.last_result, first.last_error) == (5, 1, "ok", None)
    assert first.last_success is not None
    assert first.last_success == first.last_attempt

    time.sleep(0.003)  # timestamps have millisecond precision: make "now" differ from the success
    with store.write() as tx:
        tx.record_sync(
            partner="bob", success=False, result="peer_error", error="refused", received=2, rejected=3
        )
    second = store.sync_records()["bob"]
    assert (second.received, second.rejected) == (7, 4)
    assert (second.last_result, second.last_error) == ("peer_error", "refused")
    assert second.last_success == first.last_success
    assert second.last_attempt >= first.last_attempt  # type: ignore[operator]


def test_a_partner_that_never_succeeded_has_no_last_success(store: Store) -> None:
    with store.write() as tx:
        tx.record_sync(
            partner="carol", success=False, result="peer_error", error="down", received=0, rejected=0
        )
    record = store.sync_records()["carol"]
    assert record.last_success is None
    assert record.last_attempt is not None
    assert record.partner == "carol"
