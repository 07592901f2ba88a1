"""DSSE envelopes: the exact signed bytes come back, and any tampering is refused precisely."""

from __future__ import annotations

import hashlib

import pytest

from node.errors import BadSignature, TooLarge, UnknownSigner
from node.feed import (
    NodeIdentity,
    VerifiedPayload,
    open_envelope,
    pae,
    payload_digest,
    sign_envelope,
    verify_signature,
)
from node.model import ENTRY_PAYLOAD_TYPE, Envelope, EnvelopeSignature

ALICE = NodeIdentity.from_seed(bytes([1]) * 32)
BOB = NodeIdentity.from_seed(bytes([2]) * 32)
MALLORY = NodeIdentity.from_seed(bytes([3]) * 32)
PINNED = {ALICE.key_id: ALICE.public_key, BOB.key_id: BOB.public_key}
PAYLOAD = b'{"accord":1,"seq":1,"x":"small payload"}'
LIMIT = 4096


def open_(
    envelope: Envelope, *, pinned: dict[str, bytes] | None = None, max_bytes: int = LIMIT
) -> VerifiedPayload:
    return open_envelope(
        envelope,
        pinned=PINNED if pinned is None else pinned,  # type: ignore[arg-type]
        expected_type=ENTRY_PAYLOAD_TYPE,
        max_bytes=max_bytes,
    )


def signed(payload: bytes = PAYLOAD, identity: NodeIdentity = ALICE) -> Envelope:
    return sign_envelope(ENTRY_PAYLOAD_TYPE, payload, identity)


def with_sig(envelope: Envelope, sig: bytes, keyid: str | None = None) -> Envelope:
    old = envelope.signatures[0]
    return Envelope(
        payload_type=envelope.payload_type,
        payload=envelope.payload,
        signatures=(EnvelopeSignature(keyid=old.keyid if keyid is None else keyid, sig=sig),),  # type: ignore[arg-type]
    )


def test_pae_matches_the_dsse_spec_example() -> None:
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t\u00e9", b"\x00\xff") == b"DSSEv1 3 t\xc3\xa9 2 \x00\xff"
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_the_signature_is_over_pae_not_the_bare_payload() -> None:
    envelope = signed()
    sig = envelope.signatures[0].sig
    assert verify_signature(ALICE.public_key, pae(ENTRY_PAYLOAD_TYPE, PAYLOAD), sig)
    assert not verify_signature(ALICE.public_key, PAYLOAD, sig)


def test_sign_keeps_the_payload_bytes_and_names_the_signer() -> None:
    envelope = signed()
    assert envelope.payload == PAYLOAD
    assert envelope.payload_type == ENTRY_PAYLOAD_TYPE
    assert [s.keyid for s in envelope.signatures] == [ALICE.key_id]


def test_open_returns_exactly_the_signed_bytes_and_the_signer() -> None:
    verified = open_(signed())
    assert verified.payload == PAYLOAD
    assert verified.signer == ALICE.key_id
    assert verified.payload_type == ENTRY_PAYLOAD_TYPE
    assert verified.digest == "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
    assert open_(signed(identity=BOB)).signer == BOB.key_id


def test_payload_digest() -> None:
    assert payload_digest(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("position", range(len(PAYLOAD)))
def test_any_changed_payload_byte_is_refused(position: int) -> None:
    envelope = signed()
    for mask in (0x01, 0x80, 0xFF):
        tampered = bytearray(PAYLOAD)
        tampered[position] ^= mask
        forged = Envelope(envelope.payload_type, bytes(tampered), envelope.signatures)
        with pytest.raises(BadSignature):
            open_(forged)


@pytest.mark.parametrize("position", range(64))
def test_any_changed_signature_byte_is_refused(position: int) -> None:
    envelope = signed()
    for mask in (0x01, 0x80, 0xFF):
        sig = bytearray(envelope.signatures[0].sig)
        sig[position] ^= mask
        with pytest.raises(BadSignature):
            open_(with_sig(envelope, bytes(sig)))


def test_truncated_or_extended_payload_is_refused() -> None:
    envelope = signed()
    for payload in (PAYLOAD[:-1], PAYLOAD + b" ", b"", PAYLOAD[1:]):
        with pytest.raises(BadSignature):
            open_(Envelope(envelope.payload_type, payload, envelope.signatures))


@pytest.mark.parametrize("sig", [b"", bytes(63), bytes(64), bytes(65)])
def test_malformed_signatures_are_refused(sig: bytes) -> None:
    with pytest.raises(BadSignature):
        open_(with_sig(signed(), sig))


def test_a_signature_by_an_unpinned_key_is_an_unknown_signer() -> None:
    with pytest.raises(UnknownSigner):
        open_(signed(identity=MALLORY))


def test_pinning_is_what_counts() -> None:
    envelope = signed()
    with pytest.raises(UnknownSigner):
        open_(envelope, pinned={BOB.key_id: BOB.public_key})
    with pytest.raises(UnknownSigner):
        open_(envelope, pinned={})


def test_a_pinned_key_id_hint_with_another_keys_signature_is_a_bad_signature() -> None:
    # Mallory signs and claims to be Alice: the hint names a pinned key, the signature does not verify.
    forged = signed(identity=MALLORY)
    with pytest.raises(BadSignature):
        open_(with_sig(forged, forged.signatures[0].sig, keyid=ALICE.key_id))


def test_bobs_valid_signature_under_alices_hint_is_refused() -> None:
    by_bob = signed(identity=BOB)
    with pytest.raises(BadSignature):
        open_(with_sig(by_bob, by_bob.signatures[0].sig, keyid=ALICE.key_id))


def test_no_signature_is_refused() -> None:
    with pytest.raises(BadSignature, match="no signature"):
        open_(Envelope(ENTRY_PAYLOAD_TYPE, PAYLOAD, ()))


def test_wrong_payload_type_is_refused() -> None:
    other = sign_envelope("application/json", PAYLOAD, ALICE)
    with pytest.raises(BadSignature, match="payload type"):
        open_(other)


def test_payload_type_is_bound_by_the_signature() -> None:
    # Signed under another type, relabelled as a feed entry afterwards.
    other = sign_envelope("application/vnd.accord.other+json", PAYLOAD, ALICE)
    relabelled = Envelope(ENTRY_PAYLOAD_TYPE, other.payload, other.signatures)
    with pytest.raises(BadSignature):
        open_(relabelled)


def test_one_valid_pinned_signature_among_others_is_enough() -> None:
    good = signed()
    by_mallory = signed(identity=MALLORY).signatures[0]
    garbage_bob = EnvelopeSignature(keyid=BOB.key_id, sig=bytes(64))
    envelope = Envelope(ENTRY_PAYLOAD_TYPE, PAYLOAD, (by_mallory, garbage_bob, good.signatures[0]))
    assert open_(envelope).signer == ALICE.key_id


def test_size_is_payload_type_and_signatures() -> None:
    envelope = signed()
    assert envelope.size == len(PAYLOAD) + len(ENTRY_PAYLOAD_TYPE) + 64 + 64


def test_an_envelope_at_the_limit_is_accepted() -> None:
    envelope = signed()
    assert open_(envelope, max_bytes=envelope.size).payload == PAYLOAD


def test_an_oversized_envelope_is_too_large() -> None:
    envelope = signed()
    with pytest.raises(TooLarge):
        open_(envelope, max_bytes=envelope.size - 1)


def test_size_is_checked_before_anything_else() -> None:
    # An oversized envelope is refused as TooLarge even when it would also fail every other check.
    big = b"x" * 10_000
    for envelope in (
        signed(big, MALLORY),
        Envelope(ENTRY_PAYLOAD_TYPE, big, ()),
        Envelope("other/type", big, signed().signatures),
        with_sig(signed(big), bytes(64)),
    ):
        with pytest.raises(TooLarge):
            open_(envelope)
