"""Key rotation: an origin announces the key that signs its feed from the next entry on (DESIGN §3).

The announcement is part of a feed entry, so it has a feed position; the envelope carrying it
is signed by the old key and the new one. The origin's identity (its key id, the id partners
pinned) does not change: only the key that signs for it does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from node.errors import InvalidInput
from node.model.ids import KeyId


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """The new Ed25519 public key (raw 32 bytes) that signs the origin's later entries."""

    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise InvalidInput("a rotated Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> KeyId:
        """The new key's key id (lowercase hex SHA-256 of the raw key)."""
        return KeyId(hashlib.sha256(self.public_key).hexdigest())


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key that signs for ``origin`` from feed position ``from_seq`` on (until the next one)."""

    origin: KeyId
    key_id: KeyId
    public_key: bytes
    from_seq: int
