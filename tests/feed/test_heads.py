"""Signed feed heads: only the origin's own key makes one, and any change to it is refused."""

from __future__ import annotations

import pytest

from node.errors import BadSignature, MalformedEntry, TooLarge, UnknownSigner
from node.feed import HEAD_PAYLOAD_TYPE, open_head, sign_envelope, sign_head
from node.model import Digest, Head, Seq
from tests.support.feeds import T0, FeedWriter, flip_byte, identity, indicator, md5_signal, with_payload

ORIGIN = identity(1)
OTHER = identity(2)
PINNED = {ORIGIN.key_id: ORIGIN.public_key, OTHER.key_id: OTHER.public_key}
DIGEST = Digest("sha256:" + "ab" * 32)


def head(seq: int = 3) -> Head:
    return Head(origin=ORIGIN.key_id, seq=Seq(seq), digest=DIGEST)


def test_a_signed_head_opens_to_what_the_origin_signed() -> None:
    opened = open_head(sign_head(head(), ORIGIN, now=T0), pinned=PINNED)
    assert opened.head == head()
    assert opened.signed == T0


def test_a_head_signed_by_another_key_than_the_origins_is_refused() -> None:
    # sign_head signs with the key it is given (a rotated key signs for its origin); a verifier
    # that was not told the key belongs to the origin refuses it.
    forged = sign_head(head(), OTHER, now=T0)
    with pytest.raises((UnknownSigner, MalformedEntry)):
        open_head(forged, pinned={**PINNED, OTHER.key_id: OTHER.public_key})


def test_a_rotated_key_signs_its_origins_head() -> None:
    signed = sign_head(head(), OTHER, now=T0)
    opened = open_head(
        signed, pinned={OTHER.key_id: OTHER.public_key}, signer_origin={OTHER.key_id: ORIGIN.key_id}
    )
    assert (opened.head, opened.signer) == (head(), OTHER.key_id)


def test_a_tampered_head_is_refused() -> None:
    envelope = sign_head(head(), ORIGIN, now=T0)
    tampered = with_payload(envelope, envelope.payload.replace(b'"seq":3', b'"seq":4'))
    with pytest.raises(BadSignature):
        open_head(tampered, pinned=PINNED)
    with pytest.raises(BadSignature):
        open_head(with_payload(envelope, flip_byte(envelope.payload, 20)), pinned=PINNED)


def test_a_head_signed_by_another_key_than_its_origin_is_refused() -> None:
    envelope = sign_head(head(), ORIGIN, now=T0)
    forged = sign_envelope(HEAD_PAYLOAD_TYPE, envelope.payload, OTHER)  # OTHER vouches for ORIGIN's head
    with pytest.raises(MalformedEntry, match="another origin"):
        open_head(forged, pinned=PINNED)


def test_a_head_from_an_unpinned_origin_is_refused() -> None:
    with pytest.raises(UnknownSigner):
        open_head(sign_head(head(), ORIGIN, now=T0), pinned={OTHER.key_id: OTHER.public_key})


def test_an_entry_is_never_read_as_a_head() -> None:
    entry = FeedWriter(ORIGIN).entry([indicator(ORIGIN.key_id, md5_signal(1))])
    with pytest.raises(BadSignature, match="payload type"):
        open_head(entry.header, pinned=PINNED)


def test_an_oversized_head_is_refused_before_verifying() -> None:
    big = sign_envelope(HEAD_PAYLOAD_TYPE, b"{" + b" " * 10_000 + b"}", ORIGIN)
    with pytest.raises(TooLarge):
        open_head(big, pinned=PINNED)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"accord":"head/1"}',
        b'{"accord":"head/1","digest":"sha256:00","origin":"x","seq":1,"signed":"2026-11-01T12:00:00.000Z"}',
    ],
)
def test_a_malformed_head_is_refused_by_name(payload: bytes) -> None:
    with pytest.raises(MalformedEntry, match="head"):
        open_head(sign_envelope(HEAD_PAYLOAD_TYPE, payload, ORIGIN), pinned=PINNED)
