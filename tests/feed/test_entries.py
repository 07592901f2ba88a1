"""Entry headers: canonical on the way out (RFC 8785), strict on the way in (MalformedEntry).

A header commits to its body by digest; a body travels apart from it and is checked against
that digest by whoever receives it (``check_body``).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import BodyMismatch, InvalidInput, MalformedEntry, TooLarge
from node.feed import NodeIdentity, body_digest, check_body, decode_bundle, decode_header, encode_header
from node.model import Digest, EntryHeader, Grant, KeyRotation, Seal, Seq, Tlp
from node.model.clock import truncate_ms

ORIGIN = NodeIdentity.from_seed(bytes([1]) * 32).key_id
PREV = Digest("sha256:" + "ab" * 32)
T0 = datetime(2025, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
BODY = b'{"id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[],"type":"bundle"}'
STANZA = bytes(range(80))


def make_header(seq: int = 2, *, tlp: Tlp = Tlp.GREEN, **changes: Any) -> EntryHeader:
    fields: dict[str, Any] = {
        "origin": ORIGIN,
        "seq": Seq(seq),
        "prev": None if seq == 1 else PREV,
        "created": T0,
        "tlp": tlp,
        "body_digest": body_digest(BODY),
        "body_size": len(BODY),
        "seal": Seal(plaintext_digest=PREV, stanzas=(STANZA,) * 4) if tlp.names_recipients else None,
    }
    fields.update(changes)
    return EntryHeader(**fields)


def document(**changes: Any) -> dict[str, Any]:
    """The JSON document of a valid header, with ``changes`` applied (``None`` values stay)."""
    doc: dict[str, Any] = json.loads(encode_header(make_header(tlp=Tlp.RED)))
    doc.update(changes)
    return doc


def as_bytes(doc: object) -> bytes:
    return json.dumps(doc).encode()


# --- encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tlp", list(Tlp))
def test_decode_inverts_encode_at_every_level(tlp: Tlp) -> None:
    header = make_header(tlp=tlp)
    assert decode_header(encode_header(header)) == header


def test_header_level_fields_round_trip() -> None:
    header = make_header(
        rotation=KeyRotation(public_key=bytes(range(32))),
        encryption_key=bytes(range(1, 33)),
        grants=(Grant(seq=Seq(1), stanza=STANZA),),
    )
    assert decode_header(encode_header(header)) == header


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    tlp=st.sampled_from(list(Tlp)),
    created=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2999, 1, 1), timezones=st.just(UTC)
    ),
    size=st.integers(min_value=0, max_value=2**53 - 1),
)
def test_encoding_is_rfc8785_and_decodes_back(seq: int, tlp: Tlp, created: datetime, size: int) -> None:
    header = make_header(seq, tlp=tlp, created=truncate_ms(created), body_size=size)
    payload = encode_header(header)
    assert payload == rfc8785.dumps(json.loads(payload))
    assert decode_header(payload) == header


def test_a_header_names_no_recipient() -> None:
    # Who a restricted body is for is inside the sealed body, for readers only; a header shows a
    # non-recipient that the entry exists, its TLP, time and size, and nothing more.
    doc = json.loads(encode_header(make_header(tlp=Tlp.RED)))
    assert set(doc) == {"accord", "origin", "seq", "prev", "created", "tlp", "body", "seal"}
    assert set(doc["seal"]) == {"plaintext_digest", "stanzas"}


# --- the body travels apart and is checked against the header --------------------------------


def test_the_body_the_header_names_passes() -> None:
    assert check_body(make_header(), BODY, max_bytes=1024) == BODY


@pytest.mark.parametrize("body", [BODY[:-1], BODY + b" ", BODY.replace(b"bundle", b"bundlE", 1), b""])
def test_any_other_body_is_refused(body: bytes) -> None:
    with pytest.raises(BodyMismatch, match="not the one its signed header names"):
        check_body(make_header(), body, max_bytes=1024)


def test_an_oversized_body_is_refused_before_hashing() -> None:
    with pytest.raises(TooLarge):
        check_body(make_header(), BODY, max_bytes=10)


def test_a_body_that_is_not_a_json_object_is_malformed() -> None:
    for body in (b"[]", b"nul", b'{"a":1,"a":2}', b'{"x": NaN}', "é".encode("utf-16")):
        with pytest.raises(MalformedEntry):
            decode_bundle(body)


# --- strict decoding ---------------------------------------------------------------------------


def test_a_valid_document_decodes() -> None:
    assert decode_header(as_bytes(document())).tlp is Tlp.RED


@pytest.mark.parametrize("payload", [b"", b"[]", b"null", b"{}", b"\xff\xfe", b'{"accord": 2'])
def test_non_headers_are_refused(payload: bytes) -> None:
    with pytest.raises(MalformedEntry):
        decode_header(payload)


def test_deep_nesting_is_refused_not_crashing() -> None:
    with pytest.raises(MalformedEntry):
        decode_header(b"[" * 100_000 + b"]" * 100_000)


def test_duplicate_keys_are_refused() -> None:
    text = as_bytes(document()).decode()
    with pytest.raises(MalformedEntry, match="duplicated"):
        decode_header(text.replace('{"accord": 2', '{"accord": 2, "accord": 2', 1).encode())


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(constant: str) -> None:
    text = as_bytes(document()).decode().replace('"seq": 2', f'"seq": {constant}', 1)
    with pytest.raises(MalformedEntry):
        decode_header(text.encode())


def test_an_extra_key_is_refused() -> None:
    with pytest.raises(MalformedEntry, match="keys"):
        decode_header(as_bytes(document(bundle={})))


@pytest.mark.parametrize("key", ["accord", "origin", "seq", "prev", "created", "tlp", "body"])
def test_a_missing_key_is_refused(key: str) -> None:
    doc = document()
    del doc[key]
    with pytest.raises(MalformedEntry):
        decode_header(as_bytes(doc))


@pytest.mark.parametrize("version", [0, 1, 3, "2", None, [2], True, 2.0])
def test_other_format_versions_are_refused(version: object) -> None:
    # Feed format 1 (the bundle inside the signed payload) is refused with the reason.
    with pytest.raises(MalformedEntry, match=r"format|keys"):
        decode_header(as_bytes(document(accord=version)))


def test_a_restricted_header_without_a_seal_is_refused() -> None:
    # A restricted body always travels sealed: a header saying RED with a body in the clear
    # would let any relay hand the plaintext to anyone.
    doc = document()
    del doc["seal"]
    with pytest.raises(MalformedEntry, match="always sealed"):
        decode_header(as_bytes(doc))


def test_a_green_header_with_a_seal_is_refused() -> None:
    with pytest.raises(MalformedEntry, match="never"):
        decode_header(as_bytes(document(tlp="green")))


@pytest.mark.parametrize(
    "seal",
    [
        {"plaintext_digest": PREV, "stanzas": []},
        {"plaintext_digest": PREV, "stanzas": ["not base64!"]},
        {"plaintext_digest": PREV, "stanzas": [base64.b64encode(STANZA).decode()] * 2000},
        {"plaintext_digest": "sha1:" + "ab" * 20, "stanzas": [base64.b64encode(STANZA).decode()]},
        {"plaintext_digest": PREV},
        [],
    ],
)
def test_bad_seals_are_refused(seal: object) -> None:
    with pytest.raises(MalformedEntry):
        decode_header(as_bytes(document(seal=seal)))


@pytest.mark.parametrize(
    "body",
    [
        {"digest": PREV},
        {"digest": PREV, "size": -1},
        {"digest": PREV, "size": 1.5},
        {"digest": "x", "size": 1},
    ],
)
def test_bad_body_references_are_refused(body: object) -> None:
    with pytest.raises(MalformedEntry):
        decode_header(as_bytes(document(body=body)))


@pytest.mark.parametrize("tlp", ["GREEN", "white", "amber strict", None, 1])
def test_bad_tlps_are_refused(tlp: object) -> None:
    with pytest.raises(MalformedEntry):
        decode_header(as_bytes(document(tlp=tlp)))


@pytest.mark.parametrize("seq", [0, -1, True, 1.0, "2", None])
def test_bad_seqs_are_refused(seq: object) -> None:
    with pytest.raises(MalformedEntry):
        decode_header(as_bytes(document(seq=seq)))


def test_prev_on_the_first_entry_is_refused() -> None:
    with pytest.raises(MalformedEntry):
        decode_header(as_bytes(document(seq=1)))


@pytest.mark.parametrize(
    "key", ["ed25519:abc", "x25519:" + base64.b64encode(b"short").decode(), "x25519:!!", 5, None]
)
def test_bad_encryption_keys_are_refused(key: object) -> None:
    with pytest.raises(MalformedEntry):
        decode_header(as_bytes(document(encryption_key=key)))


@pytest.mark.parametrize(
    "grants",
    [
        [],
        [{"seq": 2, "stanza": base64.b64encode(STANZA).decode()}],
        [{"seq": 1}],
        "grant",
        [{"seq": 1, "stanza": 1}],
    ],
)
def test_bad_grants_are_refused(grants: object) -> None:
    # A grant names earlier entries only (seq 2 is this header's own position).
    with pytest.raises(MalformedEntry):
        decode_header(as_bytes(document(grants=grants)))


def test_a_header_model_refuses_a_seal_on_green_and_its_absence_on_red() -> None:
    with pytest.raises(InvalidInput):
        make_header(tlp=Tlp.GREEN, seal=Seal(plaintext_digest=PREV, stanzas=(STANZA,)))
    with pytest.raises(InvalidInput):
        make_header(tlp=Tlp.RED, seal=None)
