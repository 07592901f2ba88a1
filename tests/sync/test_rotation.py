"""Key rotation at ingest: accepted only when the old and the new key both sign; afterwards only
the new key signs for the origin, whose identity (key id) stays the same."""

from __future__ import annotations

import pytest

from node import errors
from node.store import Store
from node.sync.ingest import Ingestor
from tests.support.feeds import FeedWriter, identity, indicator, md5_signal


def entries(store: Store) -> int:
    return int(store.reader.execute("SELECT COUNT(*) FROM entries").fetchone()[0])


def test_a_rotation_signed_by_both_keys_moves_the_feed_to_the_new_key(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    origin, old = ngo.origin, ngo.signer
    ingestor.ingest(ngo.entry([indicator(origin, md5_signal(1))]), pinned=pinned, via="ngo")
    ingestor.ingest(ngo.rotation(identity(9)), pinned=pinned, via="ngo")
    assert ngo.origin == origin and ngo.signer.key_id != origin

    accepted = ingestor.ingest(ngo.entry([indicator(origin, md5_signal(2))]), pinned=pinned, via="ngo")
    assert (accepted.origin, accepted.seq) == (origin, 3)
    assert store.signing_keys()[identity(9).key_id].from_seq == 3

    # The old key still verifies cryptographically, but it no longer signs for the origin.
    forged = FeedWriter(old, origin=origin)
    forged.seq, forged.head = ngo.seq, ngo.head
    with pytest.raises(errors.RetiredKey, match="rotated away from"):
        ingestor.ingest(forged.entry([indicator(origin, md5_signal(3))]), pinned=pinned, via="ngo")
    assert entries(store) == 3 and store.rejection_counts() == {"retired_key": 1}


def test_a_rotation_without_the_new_keys_signature_is_refused(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    ingestor.ingest(ngo.entry([indicator(ngo.origin, md5_signal(1))]), pinned=pinned, via="ngo")
    old = ngo.signer
    only_old = ngo.rotation(identity(9), signers=[old])
    with pytest.raises(errors.BadSignature, match="also signed by the new key"):
        ingestor.ingest(only_old, pinned=pinned, via="ngo")
    assert entries(store) == 1 and store.signing_keys() == {}


def test_a_rotation_signed_by_the_new_key_alone_is_refused(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    new = identity(9)
    with pytest.raises(errors.UnknownSigner):
        ingestor.ingest(ngo.rotation(new, signers=[new]), pinned=pinned, via="ngo")
    assert entries(store) == 0


def test_a_rotation_to_another_partners_key_is_refused(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter
) -> None:
    # The lab's cooperation (its signature) cannot make the lab's key sign for the NGO.
    with pytest.raises(errors.MalformedEntry, match="never used before"):
        ingestor.ingest(ngo.rotation(lab.signer), pinned=pinned, via="ngo")
    assert entries(store) == 0 and store.signing_keys() == {}


def test_an_entry_prepared_before_the_rotation_committed_is_verified_again(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    rotation = ngo.rotation(identity(9))
    after = ngo.entry([indicator(ngo.origin, md5_signal(2))])
    # A pull prepares ahead: the second entry is prepared while the rotation is not yet stored.
    first, second = ingestor.prepare(rotation, pinned=pinned), ingestor.prepare(after, pinned=pinned)
    assert isinstance(second.refusal, errors.UnknownSigner)
    ingestor.commit(first, via="ngo")
    assert ingestor.commit(second, via="ngo").seq == 2


def test_entries_from_before_a_rotation_replay_as_duplicates(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    first = ngo.entry([indicator(ngo.origin, md5_signal(1))])
    ingestor.ingest(first, pinned=pinned, via="ngo")
    ingestor.ingest(ngo.rotation(identity(9)), pinned=pinned, via="ngo")
    with pytest.raises(errors.Replayed):
        ingestor.ingest(first, pinned=pinned, via="ngo")
