"""Entry headers and bodies to and from the exact bytes that travel (RFC 8785 canonical JSON).

``encode_header`` serialises a header once; those bytes are signed, stored and served
unchanged. ``decode_header`` reads only bytes that verification returned, strictly: exact key
set, no duplicate keys, no NaN or Infinity, every field type-checked. A body is named by the
digest of its bytes in the header, so it may travel apart from it (DESIGN §5) and is checked
against that digest before anything reads it (``check_body``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from node.errors import BodyMismatch, InvalidInput, MalformedEntry, TooLarge
from node.feed.canonical import canonical_json
from node.feed.keys import PUBLIC_KEY_PREFIX, public_key_from_text, public_key_to_text
from node.model import Digest, KeyRotation, Seq, Tlp, parse_digest, parse_key_id
from node.model.clock import format_timestamp, parse_timestamp
from node.model.entries import ENTRY_FORMAT, EntryHeader, Grant, Seal

_KEYS = {"accord", "origin", "seq", "prev", "created", "tlp", "body"}
_OPTIONAL = {"seal", "rotation", "encryption_key", "grants"}
_X25519_PREFIX = "x25519:"
MAX_STANZAS = 1024  # recipients of one body (padded); far above any real sharing group
MAX_GRANTS = 10_000  # earlier bodies one grant entry opens to a new group member


@dataclass(frozen=True, slots=True)
class CanonicalBundle:
    """A bundle with its canonical bytes, serialised once: a publisher sizes an entry by these
    bytes before it takes a feed position, then uses the same bytes as (or inside) the body.
    Build with :func:`canonical_bundle`."""

    data: dict[str, Any]
    text: bytes


def canonical_bundle(bundle: dict[str, Any]) -> CanonicalBundle:
    """``bundle`` and its RFC 8785 bytes."""
    return CanonicalBundle(data=bundle, text=canonical_json(bundle))


def body_digest(body: bytes) -> Digest:
    """``sha256:<hex>`` of a body's bytes as they travel."""
    return Digest("sha256:" + hashlib.sha256(body).hexdigest())


def check_body(header: EntryHeader, body: bytes, *, max_bytes: int) -> bytes:
    """``body`` when it is the body ``header`` commits to; raises TooLarge or BodyMismatch.

    Whoever delivered it, a body that is not the one the origin signed for is refused: a relay
    cannot swap, strip or unseal what it forwards.
    """
    if len(body) > max_bytes:
        raise TooLarge(f"body of {len(body)} bytes exceeds the limit of {max_bytes} bytes")
    if len(body) != header.body_size or body_digest(body) != header.body_digest:
        raise BodyMismatch(
            f"origin {header.origin[:12]}… seq {header.seq}: the body is not the one its signed header names"
        )
    return body


def encode_header(header: EntryHeader) -> bytes:
    """The canonical bytes of ``header``: serialise once, sign these, never re-serialise."""
    document: dict[str, Any] = {
        "accord": ENTRY_FORMAT,
        "origin": header.origin,
        "seq": header.seq,
        "prev": header.prev,
        "created": format_timestamp(header.created),
        "tlp": header.tlp.value,
        "body": {"digest": header.body_digest, "size": header.body_size},
    }
    if header.seal is not None:
        document["seal"] = {
            "plaintext_digest": header.seal.plaintext_digest,
            "stanzas": [_b64(s) for s in header.seal.stanzas],
        }
    if header.rotation is not None:
        document["rotation"] = {"key": public_key_to_text(header.rotation.public_key)}
    if header.encryption_key is not None:
        document["encryption_key"] = _X25519_PREFIX + _b64(header.encryption_key)
    if header.grants:
        document["grants"] = [{"seq": g.seq, "stanza": _b64(g.stanza)} for g in header.grants]
    return canonical_json(document)


def decode_header(payload: bytes) -> EntryHeader:
    """Parse verified payload bytes into an :class:`EntryHeader`, or raise :class:`MalformedEntry`."""
    document = strict_json(payload, what="entry header")
    if not isinstance(document, dict) or not _KEYS <= set(document) <= _KEYS | _OPTIONAL:
        raise MalformedEntry("entry header must be a JSON object with the keys " + ", ".join(sorted(_KEYS)))
    if type(document["accord"]) is not int or document["accord"] != ENTRY_FORMAT:
        raise MalformedEntry(
            f"entry format {document['accord']!r} is not supported"
            f" (this node reads feed format {ENTRY_FORMAT})"
        )
    try:
        digest, size = _body(document["body"])
        return EntryHeader(
            origin=parse_key_id(document["origin"]),
            seq=_seq(document["seq"]),
            prev=None if document["prev"] is None else parse_digest(document["prev"]),
            created=parse_timestamp(document["created"]),
            tlp=_tlp(document["tlp"]),
            body_digest=digest,
            body_size=size,
            seal=_seal(document["seal"]) if "seal" in document else None,
            rotation=_rotation(document["rotation"]) if "rotation" in document else None,
            encryption_key=_x25519(document["encryption_key"]) if "encryption_key" in document else None,
            grants=_grants(document["grants"]) if "grants" in document else (),
        )
    except InvalidInput as exc:
        raise MalformedEntry(f"entry header field is invalid: {exc}") from exc


def decode_bundle(body: bytes) -> dict[str, Any]:
    """A readable body's STIX bundle as JSON data (strictly parsed), or raise MalformedEntry."""
    bundle = strict_json(body, what="entry body")
    if not isinstance(bundle, dict):
        raise MalformedEntry("an entry body must be a JSON object (a STIX bundle)")
    return bundle


def strict_json(payload: bytes, *, what: str) -> Any:
    """``payload`` as strict JSON: UTF-8, no duplicate keys, no NaN/Infinity."""
    try:
        # Decode as UTF-8 ourselves: json.loads(bytes) would guess UTF-16/32 and skip a BOM.
        text = payload.decode("utf-8")
        return _STRICT_DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON, and integers beyond Python's digit limit.
        raise MalformedEntry(f"{what} is not valid UTF-8 JSON") from exc


def strict_json_at(text: str, position: int) -> tuple[Any, int]:
    """The JSON value that starts exactly at ``position`` of ``text``, parsed as strictly as
    :func:`strict_json` (no duplicate keys, no NaN/Infinity), and where it ends. Raises
    ValueError (bad JSON) or MalformedEntry (a strictness rule)."""
    return _STRICT_DECODER.raw_decode(text, position)


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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, *, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{what} is not valid base64") from exc


def _seq(value: object) -> Seq:
    if type(value) is not int or value < 1:
        raise InvalidInput("seq must be a positive integer")
    return Seq(value)


def _tlp(value: object) -> Tlp:
    try:
        return Tlp(value)  # the exact lowercase name: signed data takes no aliases
    except ValueError as exc:
        raise InvalidInput("tlp must be clear, green, amber, amber+strict or red") from exc


def _body(value: object) -> tuple[Digest, int]:
    if not isinstance(value, dict) or set(value) != {"digest", "size"}:
        raise InvalidInput("body must have exactly 'digest' and 'size'")
    size = value["size"]
    if type(size) is not int or size < 0:
        raise InvalidInput("body size must be a non-negative integer")
    return parse_digest(value["digest"]), size


def _seal(value: object) -> Seal:
    if not isinstance(value, dict) or set(value) != {"plaintext_digest", "stanzas"}:
        raise InvalidInput("seal must have exactly 'plaintext_digest' and 'stanzas'")
    stanzas = value["stanzas"]
    if not isinstance(stanzas, list) or not 0 < len(stanzas) <= MAX_STANZAS:
        raise InvalidInput(f"seal stanzas must be a list of 1 to {MAX_STANZAS} items")
    return Seal(
        plaintext_digest=parse_digest(value["plaintext_digest"]),
        stanzas=tuple(_unb64(s, what="a key stanza") for s in stanzas),
    )


def _rotation(value: object) -> KeyRotation:
    if not isinstance(value, dict) or set(value) != {"key"} or not isinstance(value["key"], str):
        raise InvalidInput("rotation must have exactly 'key' (ed25519:<base64>)")
    if not value["key"].startswith(PUBLIC_KEY_PREFIX):
        raise InvalidInput("rotation key must be written ed25519:<base64>")
    return KeyRotation(public_key=public_key_from_text(value["key"]))


def _x25519(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith(_X25519_PREFIX):
        raise InvalidInput("encryption_key must be written x25519:<base64>")
    key = _unb64(value[len(_X25519_PREFIX) :], what="encryption_key")
    if len(key) != 32:
        raise InvalidInput("an X25519 public key is 32 bytes")
    return key


def _grants(value: object) -> tuple[Grant, ...]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_GRANTS:
        raise InvalidInput(f"grants must be a list of 1 to {MAX_GRANTS} items")
    grants: list[Grant] = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"seq", "stanza"}:
            raise InvalidInput("a grant has exactly 'seq' and 'stanza'")
        grants.append(Grant(seq=_seq(item["seq"]), stanza=_unb64(item["stanza"], what="a grant stanza")))
    return tuple(grants)


__all__ = [
    "MAX_GRANTS",
    "MAX_STANZAS",
    "CanonicalBundle",
    "body_digest",
    "canonical_bundle",
    "check_body",
    "decode_bundle",
    "decode_header",
    "encode_header",
    "strict_json",
]
