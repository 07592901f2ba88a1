"""Ingest in two steps: prepare (no side effects, may run ahead) and commit (in feed order).

A pull prepares the next entry in a helper thread while it commits this one; what it may
trust, what it records and what it stops must be exactly what one-by-one ingest gives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import pytest

from node import errors
from node.config import LimitsSection
from node.model import KeyId, Partner, Seq, SignedEntry
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.pull import Puller
from tests.support.feeds import FeedWriter, flip_byte, identity, indicator, pdq_signal, with_payload


def state(store: Store) -> tuple[int, int, int]:
    """(entries, indicator rows, rejections): everything an ingest may write."""
    count = store.reader.execute
    return (
        count("SELECT COUNT(*) FROM entries").fetchone()[0],
        count("SELECT COUNT(*) FROM indicators").fetchone()[0],
        count("SELECT COUNT(*) FROM rejections").fetchone()[0],
    )


def test_prepare_writes_nothing_and_commit_records_its_refusal(store, pinned, ingestor, ngo) -> None:
    good = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    bad = with_payload(good, flip_byte(good.header.payload, 5))
    prepared_good = ingestor.prepare(good, pinned=pinned)
    prepared_bad = ingestor.prepare(bad, pinned=pinned)
    assert state(store) == (0, 0, 0)
    assert prepared_good.refusal is None and prepared_good.contents is not None
    assert len(prepared_good.contents.indicators) == 1
    assert isinstance(prepared_bad.refusal, errors.BadSignature)

    with pytest.raises(errors.BadSignature):
        ingestor.commit(prepared_bad, via="ngo")
    assert state(store) == (0, 0, 1)
    assert ingestor.commit(prepared_good, via="ngo").indicators == 1
    assert state(store) == (1, 1, 1)


class ListSource:
    """Serves fixed envelopes once; optionally raises after them."""

    def __init__(self, envelopes: list[SignedEntry], error: BaseException | None = None) -> None:
        self.envelopes, self.error, self.calls = envelopes, error, 0

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
        self.calls += 1
        if self.calls == 1:
            yield from self.envelopes
            if self.error is not None:
                raise self.error


def make_puller(store: Store) -> Puller:
    ingestor = Ingestor(store=store, limits=LimitsSection())
    return Puller(store=store, ingestor=ingestor, self_key=identity(9).key_id)


def test_a_forged_origin_stops_its_signer_not_the_origin_it_names(store, pinned, ngo, lab) -> None:
    """lab signs an entry naming ngo as origin: refused, and only lab's stream stops."""
    forger = FeedWriter(lab.signer, name="lab", origin=ngo.origin)
    forged = forger.entry([indicator(ngo.origin, pdq_signal(9))])
    first = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    second = ngo.entry([indicator(ngo.origin, pdq_signal(2))])
    partner = Partner(name="hub", key_id=identity(5).key_id, public_key=identity(5).public_key)

    report = make_puller(store).pull(partner, ListSource([forged, first, second]))
    assert dict(report.rejected) == {"malformed_entry": 1}
    assert report.accepted == 2 and store.head(ngo.origin).seq == 2  # type: ignore[union-attr]


def test_entries_prepared_ahead_of_a_refusal_are_neither_stored_nor_counted(store, pinned, ngo) -> None:
    entries = [ngo.entry([indicator(ngo.origin, pdq_signal(n))]) for n in range(5)]
    entries[1] = with_payload(entries[1], flip_byte(entries[1].header.payload, 3))
    partner = Partner(name="ngo", key_id=ngo.origin, public_key=ngo.signer.public_key)

    report = make_puller(store).pull(partner, ListSource(entries))
    assert report.accepted == 1 and dict(report.rejected) == {"bad_signature": 1}
    assert state(store) == (1, 1, 1)


def test_an_unexpected_error_in_the_stream_reaches_the_caller_after_the_commits(store, pinned, ngo) -> None:
    entries = [ngo.entry([indicator(ngo.origin, pdq_signal(n))]) for n in range(3)]
    partner = Partner(name="ngo", key_id=ngo.origin, public_key=ngo.signer.public_key)
    with pytest.raises(RuntimeError, match="bug"):
        make_puller(store).pull(partner, ListSource(entries, RuntimeError("a bug in the transport")))
    assert store.head(ngo.origin).seq == 3  # type: ignore[union-attr]
    assert not [t for t in threading.enumerate() if t.name == "accord-pull-prepare"]


def test_a_peer_error_mid_stream_fails_the_pull_and_keeps_what_was_committed(store, pinned, ngo) -> None:
    entries = [ngo.entry([indicator(ngo.origin, pdq_signal(n))]) for n in range(2)]
    partner = Partner(name="ngo", key_id=ngo.origin, public_key=ngo.signer.public_key)
    report = make_puller(store).pull(partner, ListSource(entries, errors.PeerError("reset")))
    assert report.error == "reset" and report.accepted == 2
