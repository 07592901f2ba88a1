"""Node identities: Ed25519 key pairs on disk (mode 0600), key ids, and public-key text for partners.

A key id is the lowercase hex SHA-256 of the raw 32-byte public key (DESIGN §3). Public keys
are handed to partners as ``ed25519:<base64>`` so they cannot be confused with key ids (hex).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from node.errors import ConfigError, InvalidInput
from node.model import KeyId

PUBLIC_KEY_PREFIX = "ed25519:"
_SEED_BYTES = 32
_PRIVATE_MODE = 0o600


def key_id_of(public_key: bytes) -> KeyId:
    """The key id of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise InvalidInput("an Ed25519 public key is 32 bytes")
    return KeyId(hashlib.sha256(public_key).hexdigest())


def public_key_to_text(public_key: bytes) -> str:
    """``ed25519:<base64>``: the form operators exchange out of band."""
    return PUBLIC_KEY_PREFIX + base64.b64encode(public_key).decode("ascii")


def public_key_from_text(text: str) -> bytes:
    """Parse ``ed25519:<base64>`` (the prefix is optional) into 32 raw bytes."""
    body = text.strip().removeprefix(PUBLIC_KEY_PREFIX)
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("a public key is 'ed25519:' followed by base64 of 32 bytes") from exc
    if len(raw) != 32:
        raise InvalidInput(f"a public key is 32 bytes (this one decodes to {len(raw)})")
    return raw


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """This node's signing identity. The private part never leaves this object."""

    _signing_key: SigningKey

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return bytes(self._signing_key.verify_key)

    @property
    def key_id(self) -> KeyId:
        """This node's key id."""
        return key_id_of(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """A detached 64-byte Ed25519 signature over ``message``."""
        return bytes(self._signing_key.sign(message).signature)

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeIdentity:
        """An identity from a 32-byte seed (deterministic keys for tests)."""
        return cls(SigningKey(seed))

    @classmethod
    def generate(cls) -> NodeIdentity:
        """A fresh random identity."""
        return cls(SigningKey.generate())

    def save(self, path: Path) -> None:
        """Write the seed to ``path`` with mode 0600, refusing to overwrite an existing key."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(path, flags, _PRIVATE_MODE)
        except FileExistsError as exc:
            raise ConfigError(f"{path} exists already; refusing to overwrite a private key") from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(bytes(self._signing_key)) + b"\n")
        os.chmod(path, _PRIVATE_MODE)  # umask may have narrowed it; make it exact

    @classmethod
    def load(cls, path: Path) -> NodeIdentity:
        """Read a key written by :meth:`save`. A key readable by group or others is refused."""
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the node key {path}: {exc.strerror}") from exc
        if mode & 0o077:
            raise ConfigError(f"the node key {path} has mode {mode:04o}; it must be 0600 (chmod 600 {path})")
        try:
            seed = base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"the node key {path} is not a base64 Ed25519 seed") from exc
        if len(seed) != _SEED_BYTES:
            raise ConfigError(f"the node key {path} does not hold a 32-byte seed")
        return cls.from_seed(seed)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    from nacl.exceptions import BadSignatureError  # noqa: PLC0415 - keep nacl names local

    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
