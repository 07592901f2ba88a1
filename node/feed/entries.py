"""Feed entries to and from the exact bytes that are signed (RFC 8785 canonical JSON).

``encode_entry`` serialises an entry once; those bytes are signed and stored and served
unchanged. ``decode_entry`` reads only bytes that verification returned, strictly: exact key
set, no duplicate keys, no NaN or Infinity, every field type-checked.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from node.errors import InvalidInput, MalformedEntry
from node.model import Distribution, FeedEntry, KeyId, Seq, Tlp, parse_digest, parse_key_id
from node.model.clock import format_timestamp, parse_timestamp

ENTRY_FORMAT = 1
_KEYS = {"accord", "origin", "seq", "prev", "created", "distribution", "bundle"}


def encode_entry(entry: FeedEntry) -> bytes:
    """The canonical bytes of ``entry``: serialise once, sign these, never re-serialise."""
    document: dict[str, Any] = {
        "accord": ENTRY_FORMAT,
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
    return bytes(rfc8785.dumps(document))


def decode_entry(payload: bytes) -> FeedEntry:
    """Parse verified payload bytes into a :class:`FeedEntry`, or raise :class:`MalformedEntry`."""
    document = _strict_json(payload)
    if not isinstance(document, dict) or set(document) != _KEYS:
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
        )
    except InvalidInput as exc:
        raise MalformedEntry(f"entry field is invalid: {exc}") from exc


def _strict_json(payload: bytes) -> Any:
    def reject_constant(name: str) -> Any:
        raise MalformedEntry(f"entry contains {name}, which JSON does not allow")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise MalformedEntry("entry contains a duplicated JSON key")
        return dict(pairs)

    try:
        # Decode as UTF-8 ourselves: json.loads(bytes) would guess UTF-16/32 and skip a BOM.
        text = payload.decode("utf-8")
        return json.loads(text, parse_constant=reject_constant, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON, and integers beyond Python's digit limit.
        raise MalformedEntry("entry payload is not valid UTF-8 JSON") from exc


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
