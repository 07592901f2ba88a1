"""The node's X25519 encryption keys on disk: the current one and every rotated-out one (DESIGN §5).

``encryption.key`` (0600) holds the current private key as base64 of its 32 raw bytes, the
form ``identity.key`` uses. A rotation keeps the old key as ``encryption-old/<key id>.key``
(0600, directory 0700): old bodies stay sealed to it, so it is needed to read them, never to seal.
Every write is atomic (temp file, fsync, rename), so a crash leaves a key, never half of one.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from node.app.home import Home
from node.errors import ConfigError
from node.feed import EncryptionKeyPair

log = logging.getLogger(__name__)

_PRIVATE_DIR_MODE = 0o700


@dataclass(frozen=True, slots=True)
class EncryptionKeys:
    """The current key pair (sealed to from now on) and the old ones (only to open old bodies)."""

    current: EncryptionKeyPair
    old: tuple[EncryptionKeyPair, ...]

    @property
    def all(self) -> tuple[EncryptionKeyPair, ...]:
        """Every key pair that may open a stanza, the current one first."""
        return (self.current, *self.old)


def load_encryption_keys(home: Home) -> EncryptionKeys:
    """The home's encryption keys; a home made before encryption keys existed gets one now."""
    current = current_encryption_key(home)
    old = tuple(k for k in _old_keys(home.old_encryption_keys_dir) if k.key_id != current.key_id)
    return EncryptionKeys(current=current, old=old)


def current_encryption_key(home: Home) -> EncryptionKeyPair:
    """The current key pair, created (0600) when the home has none yet."""
    path = home.encryption_key_path
    if not path.exists():
        try:
            EncryptionKeyPair.generate().save(path)
        except ConfigError:
            pass  # another process created it between our check and our write: use theirs
        else:
            log.warning("created an encryption key in %s (this home predates encryption keys)", home.root)
    return EncryptionKeyPair.load(path)


def rotate_encryption_key(home: Home) -> EncryptionKeyPair:
    """Keep the current key in ``encryption-old/`` and make a new current key; returns the new one.

    The old key is written to ``encryption-old/`` before the current file is replaced, so a crash
    at any point loses no key (a key in both places is loaded once). Partners must then be told
    the new key (a signed statement); until they are, they seal to the old one, which still opens.
    """
    old = current_encryption_key(home)
    directory = _old_keys_directory(home)
    kept = directory / f"{old.key_id}.key"
    if not kept.exists():
        old.save(kept)
    new = EncryptionKeyPair.generate()
    new.save(home.encryption_key_path, replace=True)
    log.warning(
        "rotated the encryption key %s to %s; the old key is kept to read old bodies", old.key_id, new.key_id
    )
    return new


def _old_keys_directory(home: Home) -> Path:
    directory = home.old_encryption_keys_dir
    directory.mkdir(mode=_PRIVATE_DIR_MODE, exist_ok=True)
    os.chmod(directory, _PRIVATE_DIR_MODE)  # umask may have narrowed it; an old one may be wider
    return directory


def _old_keys(directory: Path) -> list[EncryptionKeyPair]:
    if not directory.exists():
        return []
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the old encryption keys directory {directory} has mode {mode:04o}; "
            f"it must be 0700 (chmod 700 {directory})"
        )
    return [_old_key(path) for path in sorted(directory.glob("*.key"))]


def _old_key(path: Path) -> EncryptionKeyPair:
    pair = EncryptionKeyPair.load(path)
    if path.stem != pair.key_id:
        raise ConfigError(
            f"the old encryption key {path} holds the key {pair.key_id}, not the one its name says"
        )
    return pair
