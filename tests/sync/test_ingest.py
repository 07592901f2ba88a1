"""Ingest, the trust boundary: every refusal stores nothing, is counted, and says why."""

from __future__ import annotations

import sqlite3

import pytest

from node import errors
from node.config import LimitsSection
from node.feed.canonical import canonical_json
from node.feed.encryption import EncryptionKeyPair
from node.model import Distribution, KeyId, Tlp
from node.stix import build_bundle
from node.store import Store
from node.sync import ingest
from node.sync.ingest import Ingestor
from tests.support.feeds import (
    FeedWriter,
    flip_byte,
    identity,
    indicator,
    md5_signal,
    pdq_signal,
    with_payload,
    with_signature,
)


def held(store: Store) -> tuple[dict[KeyId, int], int]:
    """(heads by origin, number of indicator rows): the whole derived state."""
    heads = {k: h.seq for k, h in store.heads().items()}
    rows = store.reader.execute("SELECT COUNT(*) FROM indicators").fetchone()[0]
    return heads, rows


def assert_nothing_stored(store: Store) -> None:
    assert held(store) == ({}, 0)
    assert store.reader.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0


def test_entries_in_order_are_accepted_with_their_indicators(
    store, pinned, ingestor, ngo: FeedWriter
) -> None:
    first = ngo.entry([indicator(ngo.origin, pdq_signal(1)), indicator(ngo.origin, md5_signal(1))])
    second = ngo.entry([indicator(ngo.origin, pdq_signal(2))])

    assert ingestor.ingest(first, pinned=pinned, via="ngo").indicators == 2
    assert ingestor.ingest(second, pinned=pinned, via="ngo").seq == 2

    assert held(store) == ({ngo.origin: 2}, 3)
    stored = store.entries_after(ngo.origin, 0, limit=10)
    assert [(e.envelope, e.body) for e in stored] == [
        (first.header, first.body),
        (second.header, second.body),
    ]  # the exact bytes, unchanged


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_tampered_payload_byte_is_refused(store, pinned, ingestor, ngo: FeedWriter, where: str) -> None:
    envelope = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    payload = envelope.header.payload
    index = {"start": 0, "middle": len(payload) // 2, "end": len(payload) - 1}[where]

    with pytest.raises(errors.BadSignature, match="does not verify"):
        ingestor.ingest(with_payload(envelope, flip_byte(payload, index)), pinned=pinned, via="ngo")

    assert_nothing_stored(store)
    assert store.rejection_counts() == {"bad_signature": 1}


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_a_tampered_signature_byte_is_refused(store, pinned, ingestor, ngo: FeedWriter, index: int) -> None:
    envelope = ngo.entry([indicator(ngo.origin, pdq_signal(1))])

    with pytest.raises(errors.BadSignature):
        ingestor.ingest(
            with_signature(envelope, flip_byte(envelope.header.signatures[0].sig, index)),
            pinned=pinned,
            via="ngo",
        )

    assert_nothing_stored(store)


def test_an_unpinned_signer_is_refused(store, pinned, ingestor) -> None:
    stranger = FeedWriter(identity(9), name="stranger")
    envelope = stranger.entry([indicator(stranger.origin, pdq_signal(1))])

    with pytest.raises(errors.UnknownSigner, match="not signed by any pinned"):
        ingestor.ingest(envelope, pinned=pinned, via="ngo")

    assert_nothing_stored(store)
    assert store.rejection_counts() == {"unknown_signer": 1}


def test_a_pinned_key_id_with_another_keys_signature_is_refused(store, pinned, ingestor, ngo, lab) -> None:
    # The envelope claims the NGO's key id, but the signature is the lab's.
    envelope = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    forged = with_signature(envelope, lab.signer.sign(b"DSSEv1 anything"), keyid=ngo.origin)

    with pytest.raises(errors.BadSignature):
        ingestor.ingest(forged, pinned=pinned, via="lab")
    assert_nothing_stored(store)


def test_an_entry_signed_by_one_partner_claiming_anothers_origin_is_refused(
    store, pinned, ingestor, ngo, lab
) -> None:
    # The lab signs an entry that names the NGO as origin: a pinned key, but the wrong one.
    impostor = FeedWriter(lab.signer, origin=ngo.origin)
    envelope = impostor.entry([indicator(ngo.origin, pdq_signal(1))])

    with pytest.raises(errors.MalformedEntry, match="another origin than the key that signed it"):
        ingestor.ingest(envelope, pinned=pinned, via="lab")
    assert_nothing_stored(store)


def test_a_gap_is_refused_until_the_missing_entry_arrives(store, pinned, ingestor, ngo: FeedWriter) -> None:
    first = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    second = ngo.entry([indicator(ngo.origin, pdq_signal(2))])

    with pytest.raises(errors.Gap, match="seq 2"):
        ingestor.ingest(second, pinned=pinned, via="ngo")
    assert_nothing_stored(store)

    ingestor.ingest(first, pinned=pinned, via="ngo")
    ingestor.ingest(second, pinned=pinned, via="ngo")
    assert held(store) == ({ngo.origin: 2}, 2)


def test_a_replayed_entry_is_refused_and_counted(store, pinned, ingestor, ngo: FeedWriter) -> None:
    first = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    ingestor.ingest(first, pinned=pinned, via="ngo")

    with pytest.raises(errors.Replayed, match="accepted before"):
        ingestor.ingest(first, pinned=pinned, via="ngo")

    assert held(store) == ({ngo.origin: 1}, 1)
    assert store.rejection_counts() == {"replayed": 1}


def test_a_wrong_prev_digest_is_refused(store, pinned, ingestor, ngo: FeedWriter) -> None:
    ingestor.ingest(ngo.entry([indicator(ngo.origin, pdq_signal(1))]), pinned=pinned, via="ngo")
    bad = ngo.entry([indicator(ngo.origin, pdq_signal(2))], prev="sha256:" + "0" * 64)

    with pytest.raises(errors.BrokenChain):
        ingestor.ingest(bad, pinned=pinned, via="ngo")
    assert held(store) == ({ngo.origin: 1}, 1)


def test_equivocation_keeps_both_envelopes_and_quarantines_the_origin(store, pinned, ingestor, ngo) -> None:
    original = ngo.entry([indicator(ngo.origin, pdq_signal(1))], advance=False)
    fork = ngo.entry([indicator(ngo.origin, pdq_signal(2))], advance=False)
    ingestor.ingest(original, pinned=pinned, via="ngo")

    with pytest.raises(errors.Equivocation, match="both kept as evidence"):
        ingestor.ingest(fork, pinned=pinned, via="hub")

    # Both statements at seq 1 are kept: the held entry (from the entries table) and the fork.
    assert store.evidence_count() == 2
    assert {(e.seq, e.via) for e in store.evidence()} == {(1, None), (1, "hub")}
    kept = store.reader.execute("SELECT payload, signatures FROM evidence ORDER BY via IS NULL").fetchall()
    assert [bytes(p) for p, _ in kept] == [fork.header.payload, original.header.payload]
    assert held(store) == ({ngo.origin: 1}, 1)  # the fork's indicator never arrived
    ngo.entry([indicator(ngo.origin, pdq_signal(1))])  # advance the writer past seq 1
    later = ngo.entry([indicator(ngo.origin, pdq_signal(3))])
    with pytest.raises(errors.Quarantined):
        ingestor.ingest(later, pinned=pinned, via="ngo")
    assert store.rejection_counts() == {"equivocation": 1, "quarantined": 1}


def test_a_malformed_object_is_dropped_and_the_chain_moves_on(
    store, pinned, ingestor, ngo: FeedWriter
) -> None:
    # Content checks drop objects, not entries (DESIGN §5): one bad object must not stall the
    # origin's feed behind it, and the good objects beside it still apply.
    good, bad = indicator(ngo.origin, pdq_signal(1)), indicator(ngo.origin, md5_signal(1))
    bundle = build_bundle([good, bad], origin_names={ngo.origin: "ngo"})
    bundle["objects"][-1]["pattern"] = "[file:hashes.MD5 = 'not-hex']"

    accepted = ingestor.ingest(ngo.entry([], bundle=bundle), pinned=pinned, via="ngo")
    later = ingestor.ingest(ngo.entry([indicator(ngo.origin, pdq_signal(2))]), pinned=pinned, via="ngo")

    assert (accepted.indicators, accepted.dropped, later.seq) == (1, 1, 2)
    assert held(store) == ({ngo.origin: 2}, 2)
    assert store.rejection_counts() == {"object_dropped": 1}


def test_a_non_hex_hash_is_dropped_without_echoing_it(store, pinned, ingestor, ngo: FeedWriter) -> None:
    bundle = build_bundle([indicator(ngo.origin, pdq_signal(1))], origin_names={ngo.origin: "ngo"})
    secret = "zz" + "ab" * 31
    bundle["objects"][-1]["pattern"] = f"[file:hashes.x_pdq = '{secret}']"

    accepted = ingestor.ingest(ngo.entry([], bundle=bundle), pinned=pinned, via="ngo")

    assert accepted.dropped == 1
    stored_messages = [r[0] for r in store.reader.execute("SELECT message FROM rejections")]
    assert stored_messages and all(secret not in m for m in stored_messages)


def test_an_oversized_header_is_refused_before_parsing(store, pinned, ngo: FeedWriter) -> None:
    small = Ingestor(store=store, limits=LimitsSection(max_envelope_bytes=512))
    readers = [EncryptionKeyPair.generate().public for _ in range(20)]  # 32 stanzas: a large header
    envelope = ngo.entry([indicator(ngo.origin, pdq_signal(1), tlp=Tlp.AMBER)], readers=readers)

    with pytest.raises(errors.TooLarge, match="exceeds the limit of 512 bytes"):
        small.ingest(envelope, pinned=pinned, via="ngo")
    assert_nothing_stored(store)


def test_an_oversized_body_is_not_stored_and_counts_as_missing(store, pinned, ngo: FeedWriter) -> None:
    small = Ingestor(store=store, limits=LimitsSection(max_envelope_bytes=1024))
    envelope = ngo.entry([indicator(ngo.origin, pdq_signal(n)) for n in range(20)])

    accepted = small.ingest(envelope, pinned=pinned, via="ngo")

    assert (accepted.seq, accepted.indicators, accepted.readable) == (1, 0, False)
    assert store.missing_bodies(limit=10) == [(ngo.origin, 1, 0)]
    assert store.rejection_counts() == {"too_large": 1}


def test_too_many_objects_drop_the_body_not_the_chain(store, pinned, ngo: FeedWriter) -> None:
    few = Ingestor(store=store, limits=LimitsSection(max_objects_per_entry=5))
    envelope = ngo.entry([indicator(ngo.origin, md5_signal(n)) for n in range(10)])

    accepted = few.ingest(envelope, pinned=pinned, via="ngo")

    assert (accepted.indicators, accepted.dropped) == (0, 1)
    assert held(store) == ({ngo.origin: 1}, 0)
    assert store.rejection_counts() == {"object_dropped": 1}


def test_an_indicator_marked_differently_from_the_entry_is_dropped(store, pinned, ingestor, ngo) -> None:
    # A GREEN-marked object inside a CLEAR entry would widen what its origin shared: dropped.
    envelope = ngo.entry(
        [
            indicator(ngo.origin, pdq_signal(1), tlp=Tlp.GREEN),
            indicator(ngo.origin, pdq_signal(2), tlp=Tlp.CLEAR),
        ],
        distribution=Distribution(Tlp.CLEAR),
    )

    accepted = ingestor.ingest(envelope, pinned=pinned, via="ngo")

    assert (accepted.indicators, accepted.dropped) == (1, 1)
    assert held(store) == ({ngo.origin: 1}, 1)


def test_runs_of_alike_indicators_marked_otherwise_are_dropped_by_id(store, pinned, ingestor, ngo) -> None:
    # Alike but for their hashes, most are read from the text as siblings of the first of their
    # shape (node/sync/bundle_text.py): a run marked otherwise than its GREEN entry (CLEAR would
    # widen it) goes as a whole, each indicator named by id; the run marked GREEN is stored.
    wider = [indicator(ngo.origin, pdq_signal(n), tlp=Tlp.CLEAR) for n in range(5)]
    marked = [indicator(ngo.origin, pdq_signal(10 + n), tlp=Tlp.GREEN) for n in range(4)]
    other = indicator(ngo.origin, md5_signal(1), tlp=Tlp.AMBER)
    envelope = ngo.entry([*wider, *marked, other], distribution=Distribution(Tlp.GREEN))
    dropped: list[str] = []
    ingestor._count_dropped = lambda reasons, **_: dropped.extend(reasons)  # type: ignore[method-assign]

    accepted = ingestor.ingest(envelope, pinned=pinned, via="ngo")

    assert (accepted.indicators, accepted.dropped) == (4, 6)
    assert sorted(dropped) == sorted(
        f"indicator {i.id}: its TLP marking differs from the entry's" for i in [*wider, other]
    )
    stored = store.indicators_by_id([i.id for i in [*wider, *marked, other]])
    assert sorted(stored) == sorted(i.id for i in marked)
    assert all(stored[i.id] == i for i in marked)


def test_a_sealed_entry_is_read_from_its_text_without_a_whole_parse(
    store, pinned, ingestor, ngo, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[bytes] = []
    real = ingest.sealed_bundle_document
    monkeypatch.setattr(ingest, "sealed_bundle_document", lambda b: parses.append(b) or real(b))
    shared = [indicator(ngo.origin, pdq_signal(n), tlp=Tlp.AMBER) for n in range(6)]

    accepted = ingestor.ingest(ngo.entry(shared), pinned=pinned, via="ngo")

    assert (accepted.readable, accepted.indicators, accepted.dropped) == (True, 6, 0)
    assert parses == []  # the text walk read it, which proves the bundle is one JSON object
    stored = store.indicators_by_id([i.id for i in shared])
    assert [stored[i.id] for i in shared] == shared


def valid_bundle_text(ngo: FeedWriter) -> bytes:
    return canonical_json(
        build_bundle(
            [indicator(ngo.origin, pdq_signal(1), tlp=Tlp.AMBER)], origin_names={ngo.origin: ngo.name}
        )
    )


@pytest.mark.parametrize(
    "raw",
    [
        lambda ngo: b'{"a":1},"b":{"c":2}',  # two objects where one bundle belongs
        lambda ngo: valid_bundle_text(ngo) + b',"x":' + valid_bundle_text(ngo),  # a bundle, then more
        lambda ngo: valid_bundle_text(ngo)[:-1] + b',"type":"bundle"}',  # a repeated key
    ],
    ids=["two-objects", "bundle-then-more", "duplicate-key"],
)
def test_a_sealed_body_that_is_not_one_bundle_is_held_and_not_read(store, pinned, ingestor, ngo, raw) -> None:
    # A hostile origin seals bytes that are not the {"bundle":{...},"salt":...} it claims: the
    # text walk steps aside, the strict parse refuses them, the body is held (the origin signed
    # it) but nothing of it is read, and the refusal is counted.
    amber = [indicator(ngo.origin, pdq_signal(9), tlp=Tlp.AMBER)]  # the header's TLP; the body is ``raw``
    accepted = ingestor.ingest(ngo.entry(amber, raw=raw(ngo)), pinned=pinned, via="ngo")

    assert (accepted.readable, accepted.indicators) == (False, 0)
    assert held(store) == ({ngo.origin: 1}, 0)
    assert store.rejection_counts().get("sealed_body_invalid") == 1


def test_an_origin_cannot_version_another_origins_indicator(store, pinned, ingestor, ngo, lab) -> None:
    theirs = indicator(ngo.origin, pdq_signal(1))
    ingestor.ingest(ngo.entry([theirs]), pinned=pinned, via="ngo")
    hijack = indicator(lab.origin, pdq_signal(1), indicator_id=theirs.id, revoked=True)

    accepted = ingestor.ingest(lab.entry([hijack]), pinned=pinned, via="lab")

    assert store.indicators_by_id([theirs.id])[theirs.id].revoked is False
    assert accepted.seq == 1  # the object is dropped; the lab's feed goes on
    assert "another origin created it" in store.reader.execute("SELECT message FROM rejections").fetchone()[0]


def test_revocation_is_final_and_replaying_the_add_cannot_revive_it(store, pinned, ingestor, ngo) -> None:
    from dataclasses import replace
    from datetime import timedelta

    added = indicator(ngo.origin, pdq_signal(1))
    add_entry = ngo.entry([added])
    ingestor.ingest(add_entry, pinned=pinned, via="ngo")
    revoked = replace(added, revoked=True, modified=added.modified + timedelta(seconds=1))
    ingestor.ingest(ngo.entry([revoked]), pinned=pinned, via="ngo")

    with pytest.raises(errors.Replayed):
        ingestor.ingest(add_entry, pinned=pinned, via="ngo")
    assert store.indicators_by_id([added.id])[added.id].revoked is True


def test_one_entry_is_one_transaction(store, pinned, ingestor, ngo: FeedWriter) -> None:
    # A failure while writing derived rows must leave neither the entry nor the new head behind.
    store._writer.conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON indicators WHEN NEW.category = 'boom'"
        " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    envelope = ngo.entry(
        [indicator(ngo.origin, pdq_signal(1)), indicator(ngo.origin, pdq_signal(2), category="boom")]
    )

    with pytest.raises(sqlite3.IntegrityError, match="disk trouble"):
        ingestor.ingest(envelope, pinned=pinned, via="ngo")
    assert_nothing_stored(store)


def test_a_refusal_of_one_origin_leaves_others_untouched(store, pinned, ingestor, ngo, lab) -> None:
    ingestor.ingest(lab.entry([indicator(lab.origin, md5_signal(1))]), pinned=pinned, via="lab")
    bad = ngo.entry([indicator(ngo.origin, pdq_signal(1))])
    with pytest.raises(errors.BadSignature):
        ingestor.ingest(with_payload(bad, flip_byte(bad.header.payload, 5)), pinned=pinned, via="ngo")
    assert held(store) == ({lab.origin: 1}, 1)
