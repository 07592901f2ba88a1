"""Whose encryption keys an origin seals to: only keys their owners signed, newest first.

A hub passes statements on (so an origin learns the key of a recipient it never talks to), but
cannot make one up, swap an old key back in, or make the origin seal to a partner marked
compromised. What a recipient is given must be readable by that recipient alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from node.config import LimitsSection
from node.errors import BadSignature, InvalidInput, UnknownSigner
from node.feed import decode_header
from node.feed.encryption import sign_encryption_key
from node.feed.sealing import open_content_key
from node.model import Compromise, ContentType, Distribution, Partner, Seq, Tlp
from node.model.clock import truncate_ms
from node.store import Store
from node.sync.encryption import confirm_encryption_key, confirm_passed_on
from node.sync.publish import Contribution, Publisher
from tests.support.feeds import T0, encryption_keys, identity, md5_signal

ORIGIN, HUB, RECIPIENT, STRANGER = identity(1), identity(2), identity(3), identity(4)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    db = Store(tmp_path / "origin.db")
    with db.write() as tx:
        for name, who in (("hub", HUB), ("recipient", RECIPIENT)):
            tx.add_partner(Partner(name=name, key_id=who.key_id, public_key=who.public_key))
    return db


def publisher(store: Store) -> Publisher:
    return Publisher(
        store=store,
        identity=ORIGIN,
        name="ngo",
        limits=LimitsSection(),
        clock=lambda: truncate_ms(T0 + timedelta(days=1)),
        encryption=encryption_keys(1),
    )


def share_red(store: Store) -> Seq:
    [seq] = (
        publisher(store)
        .contribute(
            [Contribution(md5_signal(1), ContentType.FILE)],
            category="csam",
            distribution=Distribution(tlp=Tlp.RED, recipients=frozenset({RECIPIENT.key_id})),
        )
        .seqs
    )
    return seq


def readers_of(store: Store, seq: Seq, *candidates: int) -> set[int]:
    """Which of the candidate encryption keys (by number) open the body at ``seq``."""
    entry = store.entry_at(ORIGIN.key_id, seq)
    assert entry is not None
    seal = decode_header(entry.envelope.payload).seal
    assert seal is not None
    return {n for n in candidates if open_content_key(seal.stanzas, [encryption_keys(n)]) is not None}


def test_a_statement_passed_on_by_a_hub_lets_the_origin_seal_to_a_recipient_it_never_met(store) -> None:
    statement = sign_encryption_key(RECIPIENT, encryption_keys(3).public, now=T0)
    assert (
        confirm_passed_on(store, [statement], peer="hub", pinned=store.pinned_keys(), self_key=ORIGIN.key_id)
        == {}
    )
    seq = share_red(store)
    assert readers_of(store, seq, 1, 2, 3, 4) == {1, 3}  # the origin itself and the recipient


def test_a_hub_cannot_make_up_a_recipients_key(store) -> None:
    # Signed by the hub, naming the recipient: refused; and the origin still has no key to seal to.
    forged = sign_encryption_key(HUB, encryption_keys(2).public, now=T0, node=RECIPIENT.key_id)
    refused = confirm_passed_on(
        store, [forged], peer="hub", pinned=store.pinned_keys(), self_key=ORIGIN.key_id
    )
    assert refused == {"malformed_entry": 1}
    with pytest.raises(InvalidInput, match="no recently confirmed encryption key for recipient"):
        share_red(store)


def test_a_statement_from_a_key_nobody_pinned_is_refused(store) -> None:
    stray = sign_encryption_key(STRANGER, encryption_keys(4).public, now=T0)
    with pytest.raises(UnknownSigner):
        confirm_encryption_key(store, stray, node=None, pinned=store.pinned_keys(), source="test")
    assert store.encryption_keys() == {}


def test_a_replayed_older_statement_cannot_bring_an_old_key_back(store) -> None:
    old = sign_encryption_key(RECIPIENT, encryption_keys(5).public, now=T0)
    new = sign_encryption_key(RECIPIENT, encryption_keys(3).public, now=T0 + timedelta(hours=1))
    for statement in (old, new, old):
        confirm_encryption_key(store, statement, node=None, pinned=store.pinned_keys(), source="test")
    seq = share_red(store)
    assert readers_of(store, seq, 3, 5) == {3}


def test_nothing_is_sealed_to_a_partner_marked_compromised(store) -> None:
    confirm_encryption_key(
        store,
        sign_encryption_key(RECIPIENT, encryption_keys(3).public, now=T0),
        node=None,
        pinned=store.pinned_keys(),
        source="test",
    )
    with store.write() as tx:
        tx.mark_compromised(Compromise(key_id=RECIPIENT.key_id, from_seq=Seq(1), marked_at=T0))
    with pytest.raises(InvalidInput, match="recipient"):
        share_red(store)
    assert store.head(ORIGIN.key_id) is None


def test_a_key_not_confirmed_for_thirty_days_is_not_sealed_to(store) -> None:
    stale = sign_encryption_key(RECIPIENT, encryption_keys(3).public, now=T0 - timedelta(days=40))
    confirm_encryption_key(store, stale, node=None, pinned=store.pinned_keys(), source="test")
    with pytest.raises(InvalidInput, match="no recently confirmed"):
        share_red(store)


def test_a_tampered_statement_is_refused_and_records_nothing(store) -> None:
    statement = sign_encryption_key(RECIPIENT, encryption_keys(3).public, now=T0)
    tampered = replace(statement, payload=statement.payload.replace(b'"created"', b'"createD"'))
    with pytest.raises(BadSignature):
        confirm_encryption_key(store, tampered, node=RECIPIENT.key_id, pinned=store.pinned_keys(), source="t")
    assert store.encryption_keys() == {}
