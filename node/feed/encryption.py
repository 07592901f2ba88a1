"""Node encryption keys (X25519) and the signed statements that announce them (DESIGN §5).

A node's encryption key is separate from its Ed25519 signing key and rotates on its own; sealed
bodies are sealed to it. Its key id is the lowercase hex SHA-256 of the raw public key, like a
signing key's. The public key travels as ``x25519:<base64>`` inside a DSSE envelope of its own
payload type, signed by the node's signing key, so a partner learns it only from a pinned key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.exceptions import RuntimeError as NaclRuntimeError
from nacl.utils import random as random_bytes

from node.errors import ConfigError, InvalidInput, MalformedEntry
from node.feed.canonical import canonical_json
from node.feed.envelope import open_envelope, sign_envelope
from node.feed.keys import NodeIdentity
from node.feed.private_files import read_private_file, write_private_file
from node.model import Envelope, KeyId, parse_key_id
from node.model.clock import format_timestamp, parse_timestamp

ENCRYPTION_KEY_PREFIX: Final = "x25519:"
ENCRYPTION_KEY_PAYLOAD_TYPE: Final = "application/vnd.accord.encryption-key+json; version=1"
MAX_ENCRYPTION_KEY_BYTES: Final = 4096  # a statement is ~350 bytes; anything much larger is not one
KEY_BYTES: Final = 32  # X25519 public and private keys are both 32 raw bytes
_STATEMENT_KEYS: Final = frozenset({"node", "key", "created"})


def encryption_key_to_text(public: bytes) -> str:
    """``x25519:<base64>``: how an encryption public key is written in statements and NodeInfo."""
    _check_length(public, "an X25519 public key")
    return ENCRYPTION_KEY_PREFIX + base64.b64encode(public).decode("ascii")


def encryption_key_from_text(text: str) -> bytes:
    """Parse ``x25519:<base64>`` into 32 raw bytes; the prefix is required (not a signing key)."""
    if not isinstance(text, str) or not text.startswith(ENCRYPTION_KEY_PREFIX):
        raise InvalidInput("an encryption key is 'x25519:' followed by base64 of 32 bytes")
    try:
        raw = base64.b64decode(text.removeprefix(ENCRYPTION_KEY_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("an encryption key is 'x25519:' followed by valid base64") from exc
    _check_length(raw, "an X25519 public key")
    return raw


def encryption_key_id(public: bytes) -> KeyId:
    """The key id of a raw X25519 public key: lowercase hex SHA-256, like a signing key id."""
    _check_length(public, "an X25519 public key")
    return KeyId(hashlib.sha256(public).hexdigest())


def is_usable_key(public: bytes) -> bool:
    """False for a low-order point: sealing to it yields a shared secret anyone can compute.

    Every clamped scalar is a multiple of the cofactor 8, so the product with a low-order point
    is the identity, which libsodium refuses; with any other point it is not.
    """
    try:
        crypto_scalarmult(b"\x01" * KEY_BYTES, public)
    except (NaclRuntimeError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class EncryptionKeyPair:
    """An X25519 key pair. ``private`` never leaves the node (not even in ``repr``)."""

    private: bytes = field(repr=False)
    public: bytes

    def __post_init__(self) -> None:
        _check_length(self.private, "an X25519 private key")
        if crypto_scalarmult_base(self.private) != self.public:
            raise InvalidInput("the X25519 public key does not belong to the private key")

    @classmethod
    def generate(cls) -> EncryptionKeyPair:
        """A fresh random key pair."""
        return cls.from_private(random_bytes(KEY_BYTES))

    @classmethod
    def from_private(cls, private: bytes) -> EncryptionKeyPair:
        """The key pair of a 32-byte private key (deterministic keys for tests)."""
        _check_length(private, "an X25519 private key")
        return cls(private=private, public=crypto_scalarmult_base(private))

    @property
    def key_id(self) -> KeyId:
        """Lowercase hex SHA-256 of the raw public key."""
        return encryption_key_id(self.public)

    def save(self, path: Path, *, replace: bool = False) -> None:
        """Write the private key as base64 to ``path`` (0600), atomically: temp file, fsync, rename.

        Without ``replace`` an existing file is never overwritten (ConfigError), so ``accord init``
        cannot clobber a key that old bodies still need.
        """
        write_private_file(path, base64.b64encode(self.private) + b"\n", replace=replace)

    @classmethod
    def load(cls, path: Path) -> EncryptionKeyPair:
        """Read a key written by :meth:`save`; refuses a file readable by group or others."""
        data = read_private_file(path, what="encryption key")
        try:
            private = base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"the encryption key {path} is not a base64 X25519 private key") from exc
        if len(private) != KEY_BYTES:
            raise ConfigError(f"the encryption key {path} does not hold a 32-byte private key")
        return cls.from_private(private)


# --- statements: "the node whose signing key signed this has encryption key K" -------------


@dataclass(frozen=True, slots=True)
class EncryptionKeyStatement:
    """A verified encryption key announcement.

    ``node`` is the origin key id (the node's stable identity) of the signer: the ``node`` field
    of the payload, which named the signer or, for a rotated signing key, its origin.
    """

    node: KeyId
    key: bytes
    created: datetime


def sign_encryption_key(
    identity: NodeIdentity, key: bytes, *, now: datetime, node: KeyId | None = None
) -> Envelope:
    """Announce ``key`` (raw X25519 public key) as ``identity``'s encryption key.

    ``node`` defaults to the signing key's id; a node whose signing key was rotated passes its
    origin key id so the statement names the identity partners pinned.
    """
    if not is_usable_key(key):
        raise InvalidInput(
            "refusing to announce a low-order X25519 key: anyone could open what is sealed to it"
        )
    payload = canonical_json(
        {
            "node": identity.key_id if node is None else node,
            "key": encryption_key_to_text(key),
            "created": format_timestamp(now),
        }
    )
    return sign_envelope(ENCRYPTION_KEY_PAYLOAD_TYPE, payload, identity)


def open_encryption_key(
    envelope: Envelope,
    *,
    pinned: Mapping[KeyId, bytes],
    max_bytes: int = MAX_ENCRYPTION_KEY_BYTES,
    signer_origin: Mapping[KeyId, KeyId] | None = None,
) -> EncryptionKeyStatement:
    """Verify an encryption key statement and return what it states.

    ``pinned`` maps signing key ids (origins and their rotated keys) to public keys;
    ``signer_origin`` maps a rotated signing key id to its origin. The payload's ``node`` must be
    the signer or the signer's origin. Raises TooLarge, UnknownSigner, BadSignature (envelope)
    or MalformedEntry (content, including a low-order key nobody can seal to safely).
    """
    verified = open_envelope(
        envelope, pinned=pinned, expected_type=ENCRYPTION_KEY_PAYLOAD_TYPE, max_bytes=max_bytes
    )
    statement = _decode_statement(verified.payload)
    origin = (signer_origin or {}).get(verified.signer, verified.signer)
    if statement.node not in (verified.signer, origin):
        raise MalformedEntry("encryption key statement names another node than the key that signed it")
    return EncryptionKeyStatement(node=origin, key=statement.key, created=statement.created)


def _decode_statement(payload: bytes) -> EncryptionKeyStatement:
    try:
        data = json.loads(payload, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEntry("encryption key statement is not JSON") from exc
    if not isinstance(data, dict) or set(data) != _STATEMENT_KEYS:
        raise MalformedEntry("encryption key statement must have exactly the keys created, key, node")
    try:
        statement = EncryptionKeyStatement(
            node=parse_key_id(data["node"]),
            key=encryption_key_from_text(data["key"]),
            created=parse_timestamp(data["created"]),
        )
    except InvalidInput as exc:
        raise MalformedEntry(f"encryption key statement is malformed: {exc}") from exc
    if not is_usable_key(statement.key):
        raise MalformedEntry("encryption key statement announces a low-order X25519 key")
    return statement


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def _check_length(raw: bytes, what: str) -> None:
    if not isinstance(raw, bytes) or len(raw) != KEY_BYTES:
        raise InvalidInput(f"{what} is {KEY_BYTES} bytes")
