"""Identifier types that are easy to mix up, so they get their own names."""

from __future__ import annotations

import re
from typing import NewType

from node.errors import InvalidInput

KeyId = NewType("KeyId", str)
"""Lowercase hex SHA-256 of an Ed25519 raw public key (64 characters)."""

Seq = NewType("Seq", int)
"""Position of an entry in its origin's feed: 1, 2, 3, ... with no gaps."""

Digest = NewType("Digest", str)
"""``sha256:<hex>`` of an envelope's payload bytes."""

_KEY_ID = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def parse_key_id(text: str) -> KeyId:
    """Return ``text`` as a :data:`KeyId` or raise :class:`InvalidInput`."""
    if not isinstance(text, str) or not _KEY_ID.fullmatch(text):
        raise InvalidInput("a key id is 64 lowercase hex characters (SHA-256 of the public key)")
    return KeyId(text)


def parse_digest(text: str) -> Digest:
    """Return ``text`` as a :data:`Digest` or raise :class:`InvalidInput`."""
    if not isinstance(text, str) or not _DIGEST.fullmatch(text):
        raise InvalidInput("a digest is 'sha256:' followed by 64 lowercase hex characters")
    return Digest(text)


def fingerprint(key_id: KeyId) -> str:
    """A short form of a key id for humans to compare out of band: 4 groups of 4 hex digits."""
    return " ".join(key_id[i : i + 4] for i in range(0, 16, 4))
