"""DSSE envelopes: sign exact bytes once; verify the bytes received and return only those.

Signature is Ed25519 over PAE(payloadType, payload) as the DSSE v1 spec defines it, so the
payload type is bound to the signature and cannot be swapped to change how bytes are read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from node.errors import BadSignature, TooLarge, UnknownSigner
from node.feed.keys import NodeIdentity, key_id_of, verify_signature
from node.model import Digest, Envelope, EnvelopeSignature, KeyId


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: ``DSSEv1 SP len(type) SP type SP len(body) SP body``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def payload_digest(payload: bytes) -> Digest:
    """``sha256:<hex>`` of payload bytes: what the next entry's ``prev`` names."""
    return Digest("sha256:" + hashlib.sha256(payload).hexdigest())


def sign_envelope(
    payload_type: str, payload: bytes, identity: NodeIdentity, *cosigners: NodeIdentity
) -> Envelope:
    """Sign ``payload`` as it is. The caller serialised it once; these bytes are what peers verify.

    ``cosigners`` add their signatures after the identity's (a key rotation is signed by the
    old key and the new one).
    """
    message = pae(payload_type, payload)
    signatures = tuple(EnvelopeSignature(keyid=k.key_id, sig=k.sign(message)) for k in (identity, *cosigners))
    return Envelope(payload_type=payload_type, payload=payload, signatures=signatures)


def signed_by(envelope: Envelope, public_key: bytes) -> bool:
    """True when one of ``envelope``'s signatures names ``public_key``'s key id and verifies with it."""
    key_id = key_id_of(public_key)
    message = pae(envelope.payload_type, envelope.payload)
    return any(
        s.keyid == key_id and verify_signature(public_key, message, s.sig) for s in envelope.signatures
    )


@dataclass(frozen=True, slots=True)
class VerifiedPayload:
    """Bytes whose signature verified against ``signer``'s pinned key. Parse only these."""

    signer: KeyId
    payload_type: str
    payload: bytes
    digest: Digest


def open_envelope(
    envelope: Envelope,
    *,
    pinned: Mapping[KeyId, bytes],
    expected_type: str,
    max_bytes: int,
) -> VerifiedPayload:
    """Verify ``envelope`` and return the exact payload bytes that were signed.

    The size limit is checked first, before any cryptography. A signature counts only when its
    key id hint names a pinned key and the signature verifies with that key; the key id in the
    envelope is never trusted on its own. Raises TooLarge, UnknownSigner or BadSignature.
    """
    if envelope.size > max_bytes:
        raise TooLarge(f"envelope of {envelope.size} bytes exceeds the limit of {max_bytes} bytes")
    if envelope.payload_type != expected_type:
        raise BadSignature("envelope payload type is not a feed entry")
    if not envelope.signatures:
        raise BadSignature("envelope carries no signature")
    known = [s for s in envelope.signatures if s.keyid in pinned]
    if not known:
        raise UnknownSigner("envelope is not signed by any pinned partner key")
    message = pae(envelope.payload_type, envelope.payload)
    for signature in known:
        if verify_signature(pinned[signature.keyid], message, signature.sig):
            return VerifiedPayload(
                signer=signature.keyid,
                payload_type=envelope.payload_type,
                payload=envelope.payload,
                digest=payload_digest(envelope.payload),
            )
    raise BadSignature("signature does not verify over the received bytes with the pinned key")
