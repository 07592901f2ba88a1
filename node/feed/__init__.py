"""Feeds and envelopes: keys, canonical entry bytes, DSSE signing and verification.

Home of PyNaCl (Ed25519) and of cryptography (the TLS key and certificate).
"""

from node.feed.canonical import canonical_json
from node.feed.encryption import (
    ENCRYPTION_KEY_PAYLOAD_TYPE,
    ENCRYPTION_KEY_PREFIX,
    EncryptionKeyPair,
    EncryptionKeyStatement,
    encryption_key_from_text,
    encryption_key_id,
    encryption_key_to_text,
    open_encryption_key,
    sign_encryption_key,
)
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
from node.feed.sealing import (
    SealedBody,
    open_body,
    open_body_with_key,
    open_content_key,
    seal_body,
    seal_content_key,
    size_class,
)
from node.feed.tls import TLS_SERVER_NAME, TlsCredentials

__all__ = [
    "ENCRYPTION_KEY_PAYLOAD_TYPE",
    "ENCRYPTION_KEY_PREFIX",
    "HEAD_PAYLOAD_TYPE",
    "TLS_SERVER_NAME",
    "CanonicalBundle",
    "EncryptionKeyPair",
    "EncryptionKeyStatement",
    "NodeIdentity",
    "SealedBody",
    "SignedHead",
    "TlsCredentials",
    "VerifiedPayload",
    "body_digest",
    "canonical_bundle",
    "canonical_json",
    "check_body",
    "decode_bundle",
    "decode_header",
    "encode_header",
    "encryption_key_from_text",
    "encryption_key_id",
    "encryption_key_to_text",
    "key_id_of",
    "open_body",
    "open_body_with_key",
    "open_content_key",
    "open_encryption_key",
    "open_envelope",
    "open_head",
    "pae",
    "payload_digest",
    "public_key_from_text",
    "public_key_to_text",
    "seal_body",
    "seal_content_key",
    "sign_encryption_key",
    "sign_envelope",
    "sign_head",
    "signed_by",
    "size_class",
    "verify_signature",
]
