"""Signed feed heads: an origin's statement "my feed, as you may see it, ends at (seq, digest)".

An origin signs its own head (DSSE, like entries, with its own payload type so a head can never
be read as an entry or the reverse); relays pass the origin-signed head along unchanged. A peer
compares heads against the entries it holds and against other peers' heads: a validly signed
head naming another digest at a held seq is equivocation, and a head further than what a peer
served is an omission (DESIGN §4, §6).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.errors import InvalidInput, MalformedEntry
from node.feed.canonical import canonical_json
from node.feed.envelope import open_envelope, sign_envelope
from node.feed.keys import NodeIdentity
from node.model import Digest, Envelope, Head, KeyId, Seq, parse_digest, parse_key_id
from node.model.clock import format_timestamp, parse_timestamp

HEAD_PAYLOAD_TYPE = "application/vnd.accord.head+json; version=1"
MAX_HEAD_BYTES = 4096  # a head is ~300 bytes; anything much larger is not a head
_KEYS = {"accord", "origin", "seq", "digest", "signed"}


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A head whose signature verified against its origin's pinned key, with the envelope."""

    head: Head
    signed: datetime
    envelope: Envelope
    signer: KeyId  # the key that signed it (the origin's own, or one it rotated to)


def sign_head(head: Head, identity: NodeIdentity, *, now: datetime) -> Envelope:
    """Our own head, signed with the key that signs our feed now (the first key, or the one a
    rotation made current). Only an origin signs its head; the caller passes its own head."""
    payload = canonical_json(
        {
            "accord": "head/1",
            "origin": head.origin,
            "seq": head.seq,
            "digest": head.digest,
            "signed": format_timestamp(now),
        }
    )
    return sign_envelope(HEAD_PAYLOAD_TYPE, payload, identity)


def open_head(
    envelope: Envelope, *, pinned: Mapping[KeyId, bytes], signer_origin: Mapping[KeyId, KeyId] | None = None
) -> SignedHead:
    """Verify a signed head and return it; the signer must be the origin it names, or a key the
    origin rotated to (``signer_origin`` maps such a key id to its origin; ``pinned`` must then
    hold that key too).

    Raises TooLarge, UnknownSigner, BadSignature (envelope) or MalformedEntry (content).
    """
    verified = open_envelope(
        envelope, pinned=pinned, expected_type=HEAD_PAYLOAD_TYPE, max_bytes=MAX_HEAD_BYTES
    )
    data = _strict_object(verified.payload)
    try:
        origin = parse_key_id(data["origin"])
        seq = data["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise MalformedEntry("a signed head's seq is a positive integer")
        digest: Digest = parse_digest(data["digest"])
        signed = parse_timestamp(data["signed"])
    except InvalidInput as exc:
        raise MalformedEntry(f"signed head is malformed: {exc}") from exc
    signer = (signer_origin or {}).get(verified.signer, verified.signer)
    if origin != signer:
        raise MalformedEntry("signed head names another origin than the key that signed it")
    return SignedHead(
        head=Head(origin=origin, seq=Seq(seq), digest=digest),
        signed=signed,
        envelope=envelope,
        signer=verified.signer,
    )


def _strict_object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEntry("signed head is not JSON") from exc
    if not isinstance(data, dict) or set(data) != _KEYS or data["accord"] != "head/1":
        raise MalformedEntry("signed head does not have exactly the head fields")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)
