"""Key ids and digests for model tests (the model never sees keys, only their ids)."""

from __future__ import annotations

import hashlib

from node.model import Digest, KeyId


def key(name: str) -> KeyId:
    """A well-formed key id standing for the node called ``name``."""
    return KeyId(hashlib.sha256(name.encode()).hexdigest())


def digest(name: str) -> Digest:
    """A well-formed entry digest standing for the payload called ``name``."""
    return Digest("sha256:" + hashlib.sha256(name.encode()).hexdigest())
