"""Feed entries to and from the exact bytes that are signed (RFC 8785 canonical JSON).

``encode_entry`` serialises an entry once; those bytes are signed and stored and served
unchanged. ``decode_entry`` reads only bytes that verification returned, strictly: exact key
set, no duplicate keys, no NaN or Infinity, every field type-checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from node.errors import InvalidInput, MalformedEntry
from node.feed.canonical import canonical_json
from node.feed.keys import PUBLIC_KEY_PREFIX, public_key_from_text, public_key_to_text
from node.model import Distribution, FeedEntry, KeyId, KeyRotation, Seq, Tlp, parse_digest, parse_key_id
from node.model.clock import format_timestamp, parse_timestamp

ENTRY_FORMAT = 1
_KEYS = {"accord", "origin", "seq", "prev", "created", "distribution", "bundle"}
_ROTATION_KEYS = _KEYS | {"rotation"}  # an entry that also rotates the origin's signing key


@dataclass(frozen=True, slots=True)
class CanonicalBundle:
    """A bundle with its canonical bytes, serialised once: a publisher sizes an entry by these
    bytes before it takes a feed position, then signs the same bytes. Build with
    :func:`canonical_bundle`."""

    data: dict[str, Any]
    text: bytes


def canonical_bundle(bundle: dict[str, Any]) -> CanonicalBundle:
    """``bundle`` and its RFC 8785 bytes."""
    return CanonicalBundle(data=bundle, text=canonical_json(bundle))


def encode_entry(entry: FeedEntry, *, bundle: CanonicalBundle | None = None) -> bytes:
    """The canonical bytes of ``entry``: serialise once, sign these, never re-serialise.

    ``bundle``, when given, must have been made from ``entry.bundle`` (the very object); its
    bytes are used instead of serialising the bundle again.
    """
    if bundle is None:
        bundle = canonical_bundle(entry.bundle)
    elif bundle.data is not entry.bundle:
        raise InvalidInput("the canonical bundle was made from another bundle than the entry's")
    others: dict[str, Any] = {
        "origin": entry.origin,
        "seq": entry.seq,
        "prev": entry.prev,
        "created": format_timestamp(entry.created),
        "distribution": {
            "tlp": entry.distribution.tlp.value,
            "recipients": sorted(entry.distribution.recipients),
        },
    }
    if entry.rotation is not None:
        others["rotation"] = {"key": public_key_to_text(entry.rotation.public_key)}
    # RFC 8785 serialises a member's value the same wherever it stands, and orders members by
    # key: "accord" < "bundle" < every other key. So the document is these three parts joined
    # (tests/feed/test_entries.py checks the result against rfc8785 on whole documents).
    return b'{"accord":%d,"bundle":%b,%b' % (ENTRY_FORMAT, bundle.text, canonical_json(others)[1:])


def decode_entry(payload: bytes) -> FeedEntry:
    """Parse verified payload bytes into a :class:`FeedEntry`, or raise :class:`MalformedEntry`."""
    document = _strict_json(payload)
    if not isinstance(document, dict) or set(document) not in (_KEYS, _ROTATION_KEYS):
        raise MalformedEntry("entry must be a JSON object with exactly the keys " + ", ".join(sorted(_KEYS)))
    if type(document["accord"]) is not int or document["accord"] != ENTRY_FORMAT:
        raise MalformedEntry(f"entry format {document['accord']!r} is not supported (expected 1)")
    try:
        return FeedEntry(
            origin=parse_key_id(document["origin"]),
            seq=_seq(document["seq"]),
            prev=None if document["prev"] is None else parse_digest(document["prev"]),
            created=parse_timestamp(document["created"]),
            distribution=_distribution(document["distribution"]),
            bundle=_bundle(document["bundle"]),
            rotation=_rotation(document["rotation"]) if "rotation" in document else None,
        )
    except InvalidInput as exc:
        raise MalformedEntry(f"entry field is invalid: {exc}") from exc


def _strict_json(payload: bytes) -> Any:
    try:
        # Decode as UTF-8 ourselves: json.loads(bytes) would guess UTF-16/32 and skip a BOM.
        text = payload.decode("utf-8")
        return _STRICT_DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON, and integers beyond Python's digit limit.
        raise MalformedEntry("entry payload is not valid UTF-8 JSON") from exc


def _reject_constant(name: str) -> Any:
    raise MalformedEntry(f"entry contains {name}, which JSON does not allow")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Called once per JSON object (three per indicator): dict() and two len() stay in C.
    document = dict(pairs)
    if len(document) != len(pairs):
        raise MalformedEntry("entry contains a duplicated JSON key")
    return document


_STRICT_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates
)


def _seq(value: object) -> Seq:
    if type(value) is not int or value < 1:
        raise InvalidInput("seq must be a positive integer")
    return Seq(value)


def _distribution(value: object) -> Distribution:
    if not isinstance(value, dict) or set(value) != {"tlp", "recipients"}:
        raise InvalidInput("distribution must have exactly 'tlp' and 'recipients'")
    recipients = value["recipients"]
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise InvalidInput("distribution recipients must be a list of key ids")
    keys: frozenset[KeyId] = frozenset(parse_key_id(r) for r in recipients)
    if len(keys) != len(recipients):
        raise InvalidInput("distribution names a recipient twice")
    try:
        tlp = Tlp(value["tlp"])  # the exact lowercase name: signed data takes no aliases
    except ValueError as exc:
        raise InvalidInput("distribution tlp must be clear, green, amber, amber+strict or red") from exc
    return Distribution(tlp=tlp, recipients=keys)


def _bundle(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("bundle must be a JSON object")
    return value


def _rotation(value: object) -> KeyRotation:
    if not isinstance(value, dict) or set(value) != {"key"} or not isinstance(value["key"], str):
        raise InvalidInput("rotation must have exactly 'key' (ed25519:<base64>)")
    if not value["key"].startswith(PUBLIC_KEY_PREFIX):
        raise InvalidInput("rotation key must be written ed25519:<base64>")
    return KeyRotation(public_key=public_key_from_text(value["key"]))
