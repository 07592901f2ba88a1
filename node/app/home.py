"""The node's home directory: identity key (0600), encryption key (0600), TLS key (0600) and
certificate, database, config.

``accord serve`` with no home creates one with embedded defaults, so a node runs with one
command; ``accord init`` does the same explicitly and refuses to overwrite an existing one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from node.config import CONFIG_FILE, render_default_config
from node.errors import AlreadyExists, NotFound
from node.feed import EncryptionKeyPair, NodeIdentity, TlsCredentials

log = logging.getLogger(__name__)

KEY_FILE = "identity.key"
DB_FILE = "accord.db"
TLS_KEY_FILE = "tls.key"
TLS_CERT_FILE = "tls.crt"
ENCRYPTION_KEY_FILE = "encryption.key"
OLD_ENCRYPTION_KEYS_DIR = "encryption-old"


@dataclass(frozen=True, slots=True)
class Home:
    """Paths inside a home directory."""

    root: Path

    @property
    def key_path(self) -> Path:
        """The Ed25519 seed, mode 0600."""
        return self.root / KEY_FILE

    @property
    def db_path(self) -> Path:
        """The SQLite database."""
        return self.root / DB_FILE

    @property
    def tls_key_path(self) -> Path:
        """The ECDSA P-256 TLS key, mode 0600."""
        return self.root / TLS_KEY_FILE

    @property
    def tls_cert_path(self) -> Path:
        """The self-signed TLS certificate partners pin."""
        return self.root / TLS_CERT_FILE

    @property
    def encryption_key_path(self) -> Path:
        """The current X25519 private key (base64 of 32 bytes), mode 0600."""
        return self.root / ENCRYPTION_KEY_FILE

    @property
    def old_encryption_keys_dir(self) -> Path:
        """Rotated-out X25519 private keys, ``<key id>.key`` (0600), kept to read old bodies (0700)."""
        return self.root / OLD_ENCRYPTION_KEYS_DIR

    @property
    def config_path(self) -> Path:
        """The TOML configuration."""
        return self.root / CONFIG_FILE

    def exists(self) -> bool:
        """True when the home holds an identity."""
        return self.key_path.exists()


def init_home(root: Path, *, name: str) -> Home:
    """Create a home: directory (0700), identity and encryption keys (0600), TLS key and
    certificate, default config."""
    home = Home(root)
    if home.exists():
        raise AlreadyExists(f"{root} already holds a node identity; refusing to replace it")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    NodeIdentity.generate().save(home.key_path)
    EncryptionKeyPair.generate().save(home.encryption_key_path)
    TlsCredentials.generate(organisation=name).save(home.tls_key_path, home.tls_cert_path)
    if not home.config_path.exists():
        home.config_path.write_text(render_default_config(name), encoding="utf-8")
    log.info("created node home %s", root)
    return home


def require_home(root: Path) -> Home:
    """The home at ``root``, or NotFound telling the operator how to create one."""
    home = Home(root)
    if not home.exists():
        raise NotFound(
            f"no node at {root}: run 'accord init --home {root}' (or 'accord serve' to create one)"
        )
    return home


def tls_credentials(home: Home, *, organisation: str) -> TlsCredentials:
    """The home's TLS credentials; a home made before TLS existed gets them on first use."""
    if not home.tls_key_path.exists() and not home.tls_cert_path.exists():
        TlsCredentials.generate(organisation=organisation).save(home.tls_key_path, home.tls_cert_path)
        log.info("created a TLS key and self-signed certificate in %s", home.root)
    return TlsCredentials.load(home.tls_key_path, home.tls_cert_path)


def rotate_tls(home: Home, *, organisation: str) -> TlsCredentials:
    """Replace the TLS key and certificate; partners must pin the new fingerprint."""
    fresh = TlsCredentials.generate(organisation=organisation)
    fresh.save(home.tls_key_path, home.tls_cert_path, replace=True)
    log.warning("rotated the TLS certificate: partners must pin %s", fresh.fingerprint)
    return fresh
