"""Sealed bodies: readers open them, nobody else learns more than the buckets, and any change,
move or key substitution is refused."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

from node.errors import InvalidInput, SealedBodyInvalid
from node.feed import (
    EncryptionKeyPair,
    SealedBody,
    canonical_json,
    decode_bundle,
    open_body,
    open_body_with_key,
    open_content_key,
    payload_digest,
    seal_body,
    seal_content_key,
    size_class,
)
from node.feed.sealing import (
    MAX_STANZAS,
    NONCE_BYTES,
    STANZA_BYTES,
    TAG_BYTES,
    associated_data,
    open_sealed,
    seal_stanzas,
    sealed_size,
    stanza_bucket,
)
from node.model import Digest, KeyId, Seq
from tests.support.feeds import flip_byte

ORIGIN = KeyId("a1" * 32)
ELSEWHERE = KeyId("b2" * 32)
SEQ = Seq(7)
SELF = EncryptionKeyPair.from_private(bytes([1]) * 32)
READERS = [EncryptionKeyPair.from_private(bytes([n]) * 32) for n in range(2, 12)]
OUTSIDER = EncryptionKeyPair.from_private(bytes([99]) * 32)
BUNDLE = canonical_json({"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator", "x": "é"}]})
LOW_ORDER = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def seal(bundle: bytes = BUNDLE, readers: list[EncryptionKeyPair] | None = None) -> SealedBody:
    chosen = READERS[:1] if readers is None else readers
    return seal_body(
        bundle, origin=ORIGIN, seq=SEQ, recipients=[r.public for r in chosen], self_key=SELF.public
    )


def opened(
    body: SealedBody,
    keys: list[EncryptionKeyPair],
    *,
    origin: KeyId = ORIGIN,
    seq: Seq = SEQ,
    ciphertext: bytes | None = None,
    digest: Digest | None = None,
) -> bytes | None:
    return open_body(
        body.ciphertext if ciphertext is None else ciphertext,
        origin=origin,
        seq=seq,
        stanzas=body.stanzas,
        plaintext_digest=body.plaintext_digest if digest is None else digest,
        keys=keys,
    )


@pytest.mark.parametrize("count", [1, 2, 3, 4, 10])
def test_every_recipient_opens_the_exact_bundle_bytes(count: int) -> None:
    body = seal(readers=READERS[:count])
    for reader in READERS[:count]:
        assert opened(body, [reader]) == BUNDLE


def test_a_node_that_is_not_a_recipient_gets_none_not_an_error() -> None:
    body = seal(readers=READERS[:3])
    assert opened(body, [OUTSIDER]) is None
    assert opened(body, [READERS[5], OUTSIDER]) is None
    assert opened(body, []) is None


def test_the_origin_opens_its_own_body_with_no_recipients() -> None:
    assert opened(seal(readers=[]), [SELF]) == BUNDLE
    assert opened(seal(readers=READERS[:3]), [OUTSIDER, SELF]) == BUNDLE


def test_an_old_key_still_opens_the_bodies_sealed_to_it() -> None:
    old, new = READERS[0], READERS[1]
    before = seal(readers=[old])
    after = seal(readers=[new])
    assert opened(before, [new, old]) == BUNDLE  # current key first, old kept
    assert opened(after, [new, old]) == BUNDLE
    assert opened(before, [new]) is None


def test_a_changed_ciphertext_byte_is_refused() -> None:
    body = seal()
    for index in (0, NONCE_BYTES, len(body.ciphertext) // 2, len(body.ciphertext) - 1):
        with pytest.raises(SealedBodyInvalid, match="does not decrypt"):
            opened(body, [READERS[0]], ciphertext=flip_byte(body.ciphertext, index))
    with pytest.raises(SealedBodyInvalid):
        opened(body, [READERS[0]], ciphertext=body.ciphertext[:-1])
    with pytest.raises(SealedBodyInvalid):
        opened(body, [READERS[0]], ciphertext=body.ciphertext[:NONCE_BYTES])


def test_a_body_moved_to_another_seq_or_origin_is_refused() -> None:
    body = seal()
    with pytest.raises(SealedBodyInvalid, match="origin and seq"):
        opened(body, [READERS[0]], seq=Seq(SEQ + 1))
    with pytest.raises(SealedBodyInvalid, match="origin and seq"):
        opened(body, [READERS[0]], origin=ELSEWHERE)


def test_a_digest_the_body_does_not_match_is_refused() -> None:
    # Key commitment: the header's plaintext digest pins the content; another one is refused
    # even though the AEAD itself verifies.
    body = seal()
    other = seal()
    with pytest.raises(SealedBodyInvalid, match="plaintext digest"):
        opened(body, [READERS[0]], digest=other.plaintext_digest)


def test_an_origin_cannot_show_different_recipients_different_content() -> None:
    # Two bodies, each with a stanza for one reader; the origin signs one digest. A reader
    # handed the other body's key and ciphertext under this header is refused.
    shown_to_a = seal(readers=[READERS[0]])
    shown_to_b = seal(bundle=canonical_json({"type": "bundle", "other": True}), readers=[READERS[1]])
    mixed = SealedBody(
        shown_to_b.ciphertext, shown_to_a.plaintext_digest, shown_to_a.stanzas + shown_to_b.stanzas
    )
    assert opened(mixed, [READERS[0]], ciphertext=shown_to_a.ciphertext) == BUNDLE
    with pytest.raises(SealedBodyInvalid):
        opened(mixed, [READERS[1]])


@pytest.mark.parametrize(("readers", "bucket"), [(0, 4), (2, 4), (3, 4), (4, 8), (7, 8), (10, 16)])
def test_stanzas_are_padded_to_a_bucket_and_all_look_alike(readers: int, bucket: int) -> None:
    body = seal(readers=READERS[:readers])  # readers + the origin's own stanza
    assert len(body.stanzas) == bucket
    assert {len(s) for s in body.stanzas} == {STANZA_BYTES} == {80}


def test_dummy_stanzas_are_real_sealed_boxes_to_throwaway_keys() -> None:
    # A sealed box starts with an X25519 public key, whose top bit is always clear; random bytes
    # would set it half the time and show which stanzas are dummies (63 of these 128).
    stanzas = seal_stanzas(bytes(32), [READERS[0].public] * 65)
    assert len(stanzas) == 128
    assert all(s[31] & 0x80 == 0 for s in stanzas)


def test_the_same_reader_twice_gets_one_stanza() -> None:
    body = seal_body(
        BUNDLE,
        origin=ORIGIN,
        seq=SEQ,
        recipients=[SELF.public, READERS[0].public, READERS[0].public],
        self_key=SELF.public,
    )
    assert len(body.stanzas) == 4
    opening = [s for s in body.stanzas if open_content_key([s], [READERS[0], SELF]) is not None]
    assert len(opening) == 2


def test_two_seals_of_one_bundle_share_nothing() -> None:
    first, second = seal(), seal()
    assert first.plaintext_digest != second.plaintext_digest  # the salt
    assert first.ciphertext[:NONCE_BYTES] != second.ciphertext[:NONCE_BYTES]  # the nonce
    assert first.ciphertext != second.ciphertext
    key_1 = open_content_key(first.stanzas, [READERS[0]])
    key_2 = open_content_key(second.stanzas, [READERS[0]])
    assert key_1 is not None and key_2 is not None and key_1 != key_2  # the content key
    assert not set(first.stanzas) & set(second.stanzas)


def test_bodies_of_1000_and_1020_bytes_travel_at_the_same_size() -> None:
    def bundle_of(size: int) -> bytes:
        filler = canonical_json({"type": "bundle", "pad": ""})
        return canonical_json({"type": "bundle", "pad": "x" * (size - len(filler))})

    small, large = bundle_of(1000), bundle_of(1020)
    assert (len(small), len(large)) == (1000, 1020)
    assert len(seal(small).ciphertext) == len(seal(large).ciphertext) == NONCE_BYTES + 2048 + TAG_BYTES
    assert len(seal(b"{}").ciphertext) == NONCE_BYTES + 1024 + TAG_BYTES
    assert opened(seal(large), [READERS[0]]) == large


@pytest.mark.parametrize(
    ("n", "padded"),
    [(0, 1024), (1, 1024), (1024, 1024), (1025, 2048), (2048, 2048), (5000, 8192), (2**20 + 1, 2**21)],
)
def test_size_classes_are_powers_of_two_from_1024(n: int, padded: int) -> None:
    assert size_class(n) == padded


def test_stanza_buckets_and_their_limit() -> None:
    assert [stanza_bucket(n) for n in (1, 4, 5, 9, 17, 33, 65, 129, 256)] == [
        4,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        256,
    ]
    with pytest.raises(InvalidInput, match="at most 256"):
        stanza_bucket(MAX_STANZAS + 1)
    with pytest.raises(InvalidInput, match="at most 256"):
        seal_stanzas(bytes(32), [EncryptionKeyPair.generate().public for _ in range(MAX_STANZAS + 1)])


def test_a_grant_stanza_gives_the_content_key_to_a_late_reader() -> None:
    body = seal(readers=[READERS[0]])
    content_key = open_content_key(body.stanzas, [SELF])
    assert content_key is not None
    grant = seal_content_key(content_key, READERS[5].public)
    assert len(grant) == STANZA_BYTES
    granted = open_content_key([grant], [READERS[5]])
    assert granted == content_key
    assert (
        open_body_with_key(
            body.ciphertext,
            origin=ORIGIN,
            seq=SEQ,
            content_key=granted,
            plaintext_digest=body.plaintext_digest,
        )
        == BUNDLE
    )


def test_a_wrong_content_key_is_refused() -> None:
    body = seal()
    with pytest.raises(SealedBodyInvalid, match="does not decrypt"):
        open_body_with_key(
            body.ciphertext,
            origin=ORIGIN,
            seq=SEQ,
            content_key=bytes(32),
            plaintext_digest=body.plaintext_digest,
        )
    with pytest.raises(SealedBodyInvalid, match="32 bytes"):
        open_body_with_key(
            body.ciphertext,
            origin=ORIGIN,
            seq=SEQ,
            content_key=bytes(16),
            plaintext_digest=body.plaintext_digest,
        )


def test_hostile_stanza_lists_are_refused_before_any_work() -> None:
    body = seal()
    with pytest.raises(SealedBodyInvalid, match="at most 256"):
        open_content_key(body.stanzas * 65, [READERS[0]])
    with pytest.raises(SealedBodyInvalid, match="80 bytes"):
        open_content_key([*body.stanzas, b"\x00" * 79], [READERS[0]])


def test_a_low_order_or_short_recipient_key_is_refused_when_sealing() -> None:
    with pytest.raises(InvalidInput, match="low-order"):
        seal_body(BUNDLE, origin=ORIGIN, seq=SEQ, recipients=[LOW_ORDER], self_key=SELF.public)
    with pytest.raises(InvalidInput, match="32 bytes"):
        seal_body(BUNDLE, origin=ORIGIN, seq=SEQ, recipients=[bytes(31)], self_key=SELF.public)


def test_sealing_refuses_a_bundle_that_is_not_an_object_or_a_bad_position() -> None:
    with pytest.raises(InvalidInput, match="object"):
        seal(b"[1,2]")
    with pytest.raises(InvalidInput, match="seq"):
        seal_body(BUNDLE, origin=ORIGIN, seq=Seq(0), recipients=[], self_key=SELF.public)
    with pytest.raises(InvalidInput, match="key id"):
        seal_body(BUNDLE, origin=KeyId("nope"), seq=SEQ, recipients=[], self_key=SELF.public)


def test_associated_data_binds_label_origin_and_seq() -> None:
    assert associated_data(ORIGIN, Seq(12)) == b"accord-body-v2\x00" + ORIGIN.encode() + b"\x0012"


def _forged(plaintext: bytes, *, padded_to: int | None = None) -> tuple[bytes, Digest, bytes]:
    """A body an origin could sign with a plaintext of its choosing (shape tests)."""
    key, nonce = bytes([5]) * 32, bytes([6]) * NONCE_BYTES
    padded = plaintext.ljust(padded_to or size_class(len(plaintext)), b"\x00")
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(padded, associated_data(ORIGIN, SEQ), nonce, key)
    return nonce + sealed, payload_digest(plaintext), key


SALT = b'"0123456789abcdef0123456789abcdef"'


@pytest.mark.parametrize(
    "plaintext",
    [
        b'{"salt":' + SALT + b',"bundle":{}}',  # other order
        b'{"bundle":{},"salt":' + SALT + b',"extra":1}',
        b'{"bundle":{},"salt":"short"}',
        b'{"bundle":{},"salt":"0123456789ABCDEF0123456789ABCDEF"}',
        b'{"bundle":[1],"salt":' + SALT + b"}",  # not an object
        b'{"bundle":{},"salt":"x","salt":' + SALT + b"}",  # the middle is not one value
        b'{"bundle":{"a":1,"a":2},"salt":' + SALT + b"}",  # duplicate key
        b'{"bundle":{"a":NaN},"salt":' + SALT + b"}",
        b'{"bundle":{"a":"\xff"},"salt":' + SALT + b"}",  # not UTF-8
        b'{"bundle":\xef\xbb\xbf{},"salt":' + SALT + b"}",  # a byte-order mark json.loads(bytes) skips
        b'{"bundle":,"salt":' + SALT + b"}",
    ],
)
def test_a_plaintext_of_another_shape_is_refused(plaintext: bytes) -> None:
    ciphertext, digest, key = _forged(plaintext)
    with pytest.raises(SealedBodyInvalid, match="sealed body"):
        open_body_with_key(ciphertext, origin=ORIGIN, seq=SEQ, content_key=key, plaintext_digest=digest)


def test_a_well_formed_forged_plaintext_opens_and_bad_padding_is_refused() -> None:
    plaintext = b'{"bundle":{"a":1},"salt":' + SALT + b"}"
    ciphertext, digest, key = _forged(plaintext)
    assert open_body_with_key(
        ciphertext, origin=ORIGIN, seq=SEQ, content_key=key, plaintext_digest=digest
    ) == (b'{"a":1}')
    ciphertext, digest, key = _forged(plaintext, padded_to=4096)  # a size class too large
    with pytest.raises(SealedBodyInvalid, match="size class"):
        open_body_with_key(ciphertext, origin=ORIGIN, seq=SEQ, content_key=key, plaintext_digest=digest)


def test_an_opened_body_carries_its_bundle_parsed_once_as_strictly_as_decode_bundle() -> None:
    plaintext = b'{"bundle":{"type":"bundle","objects":[{"a":[1,"x"]}]},"salt":' + SALT + b"}"
    ciphertext, digest, key = _forged(plaintext)
    opened = open_sealed(
        ciphertext, origin=ORIGIN, seq=SEQ, stanzas=[], plaintext_digest=digest, keys=[], content_key=key
    )
    assert opened is not None and opened.document == decode_bundle(opened.bundle)
    assert opened.document == {"type": "bundle", "objects": [{"a": [1, "x"]}]}


_json_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=40, deadline=None)
@given(
    members=st.dictionaries(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8),
        st.one_of(_json_text, st.integers(-(2**53) + 1, 2**53 - 1), st.booleans(), st.none()),
        max_size=8,
    ),
    readers=st.integers(min_value=0, max_value=5),
    seq=st.integers(min_value=1, max_value=2**40),
)
def test_any_canonical_bundle_round_trips_byte_for_byte(
    members: dict[str, object], readers: int, seq: int
) -> None:
    bundle = canonical_json(members)
    chosen = READERS[:readers]
    body = seal_body(
        bundle, origin=ORIGIN, seq=Seq(seq), recipients=[r.public for r in chosen], self_key=SELF.public
    )
    for key in [SELF, *chosen]:
        assert opened(body, [key], seq=Seq(seq)) == bundle
    assert opened(body, [OUTSIDER], seq=Seq(seq)) is None
    assert (
        len(body.ciphertext)
        == sealed_size(len(bundle))
        == NONCE_BYTES + size_class(len(bundle) + 53) + TAG_BYTES
    )
    assert base64.b64encode(body.ciphertext)  # plain bytes, ready for the wire
