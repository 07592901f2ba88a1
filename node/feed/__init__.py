"""Feeds and envelopes: keys, canonical entry bytes, DSSE signing and verification.

Home of PyNaCl (Ed25519) and of cryptography (the TLS key and certificate).
"""

from node.feed.canonical import canonical_json
from node.feed.entries import (
    CanonicalBundle,
    body_digest,
    canonical_bundle,
    check_body,
    decode_bundle,
    decode_header,
    encode_header,
)
from node.feed.envelope import VerifiedPayload, open_envelope, pae, payload_digest, sign_envelope, signed_by
from node.feed.heads import HEAD_PAYLOAD_TYPE, SignedHead, open_head, sign_head
from node.feed.keys import (
    NodeIdentity,
    key_id_of,
    public_key_from_text,
    public_key_to_text,
    verify_signature,
)
from node.feed.tls import TLS_SERVER_NAME, TlsCredentials

__all__ = [
    "HEAD_PAYLOAD_TYPE",
    "TLS_SERVER_NAME",
    "CanonicalBundle",
    "NodeIdentity",
    "SignedHead",
    "TlsCredentials",
    "VerifiedPayload",
    "canonical_bundle",
    "canonical_json",
    "body_digest",
    "check_body",
    "decode_bundle",
    "decode_header",
    "encode_header",
    "key_id_of",
    "open_envelope",
    "open_head",
    "pae",
    "payload_digest",
    "public_key_from_text",
    "public_key_to_text",
    "sign_envelope",
    "sign_head",
    "signed_by",
    "verify_signature",
]
