"""Entry bytes: canonical on the way out (RFC 8785), strict on the way in (MalformedEntry)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import InvalidInput, MalformedEntry
from node.feed import NodeIdentity, canonical_bundle, decode_entry, encode_entry
from node.model import Digest, Distribution, FeedEntry, KeyId, Seq, Tlp
from node.model.clock import format_timestamp, truncate_ms

ORIGIN = NodeIdentity.from_seed(bytes([1]) * 32).key_id
BOB = NodeIdentity.from_seed(bytes([2]) * 32).key_id
CAROL = NodeIdentity.from_seed(bytes([3]) * 32).key_id
PREV = Digest("sha256:" + "ab" * 32)
T0 = datetime(2025, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
BUNDLE = {"type": "bundle", "id": "bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "objects": []}


def make_entry(
    seq: int = 2, *, tlp: Tlp = Tlp.AMBER, recipients: frozenset[KeyId] | None = None
) -> FeedEntry:
    if recipients is None:
        recipients = frozenset({CAROL, BOB}) if tlp.names_recipients else frozenset()
    return FeedEntry(
        origin=ORIGIN,
        seq=Seq(seq),
        prev=None if seq == 1 else PREV,
        created=T0,
        distribution=Distribution(tlp, recipients),
        bundle=BUNDLE,
    )


def document(**changes: Any) -> dict[str, Any]:
    """The JSON document of a valid entry, with ``changes`` applied (``None`` values stay)."""
    doc: dict[str, Any] = json.loads(encode_entry(make_entry()))
    doc.update(changes)
    return doc


def as_bytes(doc: object) -> bytes:
    return json.dumps(doc).encode()


# --- encoding ----------------------------------------------------------------------------------


def test_encoding_is_canonical_json() -> None:
    data = encode_entry(make_entry())
    doc = json.loads(data)
    assert list(doc) == sorted(doc)  # keys in code-point order
    assert list(doc["distribution"]) == ["recipients", "tlp"]
    assert data == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert b" " not in data
    assert b"\n" not in data


def test_encoding_has_the_expected_fields() -> None:
    doc = json.loads(encode_entry(make_entry()))
    assert doc == {
        "accord": 1,
        "origin": ORIGIN,
        "seq": 2,
        "prev": PREV,
        "created": "2025-05-06T07:08:09.123Z",
        "distribution": {"tlp": "amber", "recipients": sorted([BOB, CAROL])},
        "bundle": BUNDLE,
    }


def test_first_entry_encodes_prev_as_null() -> None:
    assert json.loads(encode_entry(make_entry(1)))["prev"] is None


def test_recipients_are_sorted_whatever_the_set_order() -> None:
    doc = json.loads(encode_entry(make_entry()))
    assert doc["distribution"]["recipients"] == sorted(doc["distribution"]["recipients"])


def test_encoding_twice_gives_the_same_bytes() -> None:
    assert encode_entry(make_entry()) == encode_entry(make_entry())


def test_bundle_key_order_does_not_change_the_bytes() -> None:
    forwards = {"a": 1, "b": {"y": 2, "x": 3}}
    backwards = {"b": {"x": 3, "y": 2}, "a": 1}
    first = FeedEntry(ORIGIN, Seq(1), None, T0, Distribution(Tlp.GREEN), forwards)
    second = FeedEntry(ORIGIN, Seq(1), None, T0, Distribution(Tlp.GREEN), backwards)
    assert encode_entry(first) == encode_entry(second)


def test_non_ascii_is_written_as_utf8() -> None:
    entry = FeedEntry(ORIGIN, Seq(1), None, T0, Distribution(Tlp.CLEAR), {"name": "Zürich ✓"})
    assert "Zürich ✓".encode() in encode_entry(entry)
    assert decode_entry(encode_entry(entry)) == entry


@pytest.mark.parametrize("tlp", list(Tlp))
def test_decode_inverts_encode_at_every_level(tlp: Tlp) -> None:
    entry = make_entry(tlp=tlp)
    assert decode_entry(encode_entry(entry)) == entry


json_leaves = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
key_ids = st.sampled_from([ORIGIN, BOB, CAROL])


@st.composite
def entries(draw: st.DrawFn) -> FeedEntry:
    seq = draw(st.integers(min_value=1, max_value=2**40))
    tlp = draw(st.sampled_from(list(Tlp)))
    recipients = frozenset(draw(st.sets(key_ids, min_size=1))) if tlp.names_recipients else frozenset()
    created = draw(
        st.datetimes(
            min_value=datetime(1970, 1, 1),
            max_value=datetime(9999, 1, 1),
            timezones=st.just(UTC),
        )
    )
    prev = (
        None if seq == 1 else Digest("sha256:" + draw(st.text("0123456789abcdef", min_size=64, max_size=64)))
    )
    bundle = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
    return FeedEntry(
        draw(key_ids), Seq(seq), prev, truncate_ms(created), Distribution(tlp, recipients), bundle
    )


@settings(max_examples=150, deadline=None)
@given(entries())
def test_decode_inverts_encode(entry: FeedEntry) -> None:
    data = encode_entry(entry)
    assert decode_entry(data) == entry
    assert encode_entry(decode_entry(data)) == data


@settings(max_examples=150, deadline=None)
@given(entries())
def test_encoding_is_rfc8785_of_the_whole_document(entry: FeedEntry) -> None:
    """encode_entry joins separately serialised parts; the result is the reference's bytes."""
    document = {
        "accord": 1,
        "origin": entry.origin,
        "seq": entry.seq,
        "prev": entry.prev,
        "created": format_timestamp(entry.created),
        "distribution": {
            "tlp": entry.distribution.tlp.value,
            "recipients": sorted(entry.distribution.recipients),
        },
        "bundle": entry.bundle,
    }
    expected = rfc8785.dumps(document)
    assert encode_entry(entry) == expected
    assert encode_entry(entry, bundle=canonical_bundle(entry.bundle)) == expected


def test_a_canonical_bundle_of_another_bundle_is_refused() -> None:
    entry = make_entry()
    with pytest.raises(InvalidInput, match="another bundle"):
        encode_entry(entry, bundle=canonical_bundle(dict(entry.bundle)))


# --- decoding: what is refused ----------------------------------------------------------------


def test_a_valid_document_decodes() -> None:
    assert decode_entry(as_bytes(document())) == make_entry()


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b"{", b'{"accord": 1', b"[]", b"null", b"1", b'"entry"', b"{}"],
    ids=["empty", "text", "open-brace", "truncated", "array", "null", "number", "string", "empty-object"],
)
def test_non_entries_are_refused(payload: bytes) -> None:
    with pytest.raises(MalformedEntry):
        decode_entry(payload)


def test_invalid_utf8_is_refused() -> None:
    valid = as_bytes(document(bundle={"name": "x"}))
    broken = valid.replace(b'"x"', b'"\xff\xfe"')
    assert broken != valid
    with pytest.raises(MalformedEntry, match="UTF-8"):
        decode_entry(broken)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_other_encodings_are_refused(encoding: str) -> None:
    with pytest.raises(MalformedEntry):
        decode_entry(json.dumps(document()).encode(encoding))


def test_deep_nesting_is_refused_not_crashing() -> None:
    payload = b'{"bundle":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(MalformedEntry):
        decode_entry(payload)


def test_duplicate_keys_are_refused() -> None:
    text = as_bytes(document()).decode()
    duplicated = text.replace('"seq":', '"seq": 3, "seq":', 1)
    assert json.loads(duplicated)["seq"] == 2  # plain json would silently keep the last
    with pytest.raises(MalformedEntry, match="duplicated"):
        decode_entry(duplicated.encode())


def test_duplicate_keys_inside_the_bundle_are_refused() -> None:
    text = as_bytes(document(bundle={"type": "bundle"})).decode()
    duplicated = text.replace('{"type": "bundle"}', '{"type": "bundle", "type": "other"}')
    assert duplicated != text
    with pytest.raises(MalformedEntry, match="duplicated"):
        decode_entry(duplicated.encode())


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(constant: str) -> None:
    text = as_bytes(document(bundle={"score": 0})).decode().replace('"score": 0', f'"score": {constant}')
    assert constant in text
    with pytest.raises(MalformedEntry, match="JSON does not allow"):
        decode_entry(text.encode())


def test_an_extra_key_is_refused() -> None:
    with pytest.raises(MalformedEntry, match="exactly the keys"):
        decode_entry(as_bytes(document(extra=1)))


@pytest.mark.parametrize("key", ["accord", "origin", "seq", "prev", "created", "distribution", "bundle"])
def test_a_missing_key_is_refused(key: str) -> None:
    doc = document()
    del doc[key]
    with pytest.raises(MalformedEntry, match="exactly the keys"):
        decode_entry(as_bytes(doc))


@pytest.mark.parametrize("version", [0, 2, "1", None, [1]])
def test_other_format_versions_are_refused(version: object) -> None:
    with pytest.raises(MalformedEntry, match="format"):
        decode_entry(as_bytes(document(accord=version)))


@pytest.mark.parametrize("version", [True, 1.0])
def test_format_version_must_be_the_integer_1(version: object) -> None:
    with pytest.raises(MalformedEntry):
        decode_entry(as_bytes(document(accord=version)))


@pytest.mark.parametrize("origin", ["", "ab" * 31, ORIGIN.upper(), ORIGIN + "0", 5, None])
def test_bad_origin_key_ids_are_refused(origin: object) -> None:
    with pytest.raises(MalformedEntry, match="key id"):
        decode_entry(as_bytes(document(origin=origin)))


@pytest.mark.parametrize("seq", [0, -1, True, False, 1.0, 2.0, 1.5, "2", "1", None])
@pytest.mark.parametrize("prev", [None, PREV], ids=["no-prev", "prev"])
def test_bad_seqs_are_refused(seq: object, prev: str | None) -> None:
    # With and without prev, so that no value slips through as a valid seq 1 or seq 2.
    with pytest.raises(MalformedEntry, match="seq must be a positive integer"):
        decode_entry(as_bytes(document(seq=seq, prev=prev)))


def test_an_enormous_integer_is_refused_as_malformed() -> None:
    payload = as_bytes(document()).replace(b'"seq": 2', b'"seq": ' + b"9" * 5000)
    assert b"9" * 5000 in payload
    with pytest.raises(MalformedEntry):
        decode_entry(payload)


def test_prev_on_the_first_entry_is_refused() -> None:
    with pytest.raises(MalformedEntry, match="prev"):
        decode_entry(as_bytes(document(seq=1, prev=PREV)))


def test_a_later_entry_without_prev_is_refused() -> None:
    with pytest.raises(MalformedEntry, match="prev"):
        decode_entry(as_bytes(document(seq=2, prev=None)))


@pytest.mark.parametrize("prev", ["", "ab" * 32, "sha256:" + "AB" * 32, "sha1:" + "ab" * 20, 7])
def test_bad_prev_digests_are_refused(prev: object) -> None:
    with pytest.raises(MalformedEntry, match="digest"):
        decode_entry(as_bytes(document(prev=prev)))


@pytest.mark.parametrize(
    "created", ["2025-05-06", "2025-05-06T07:08:09+00:00", 1746515289, None, "2025-02-30T00:00:00Z"]
)
def test_bad_created_timestamps_are_refused(created: object) -> None:
    with pytest.raises(MalformedEntry, match="timestamp"):
        decode_entry(as_bytes(document(created=created)))


@pytest.mark.parametrize(
    "distribution",
    [
        {"tlp": "amber", "recipients": []},
        {"tlp": "red", "recipients": []},
        {"tlp": "amber+strict", "recipients": []},
        {"tlp": "green", "recipients": [BOB]},
        {"tlp": "clear", "recipients": [BOB]},
        {"tlp": "amber", "recipients": [BOB, BOB]},
        {"tlp": "amber", "recipients": [BOB.upper()]},
        {"tlp": "amber", "recipients": [5]},
        {"tlp": "amber", "recipients": BOB},
        {"tlp": "amber"},
        {"tlp": "amber", "recipients": [BOB], "groups": []},
        {"tlp": "purple", "recipients": [BOB]},
        {"tlp": None, "recipients": []},
        [],
        "green",
    ],
    ids=lambda d: json.dumps(d)[:40],
)
def test_bad_distributions_are_refused(distribution: object) -> None:
    with pytest.raises(MalformedEntry):
        decode_entry(as_bytes(document(distribution=distribution)))


@pytest.mark.parametrize("bundle", [[], "bundle", None, 1])
def test_a_bundle_that_is_not_an_object_is_refused(bundle: object) -> None:
    with pytest.raises(MalformedEntry, match="bundle"):
        decode_entry(as_bytes(document(bundle=bundle)))


def test_decode_does_not_require_canonical_form() -> None:
    # Verification is over the bytes received; decoding reads them as they are.
    pretty = json.dumps(document(), indent=2).encode()
    assert decode_entry(pretty) == make_entry()
