"""The node's home directory: identity key (0600), database, config (DESIGN §11).

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
from node.feed import NodeIdentity

log = logging.getLogger(__name__)

KEY_FILE = "identity.key"
DB_FILE = "accord.db"


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
    def config_path(self) -> Path:
        """The TOML configuration."""
        return self.root / CONFIG_FILE

    def exists(self) -> bool:
        """True when the home holds an identity."""
        return self.key_path.exists()


def init_home(root: Path, *, name: str) -> Home:
    """Create a home: directory (0700), identity key (0600) and a config file with defaults."""
    home = Home(root)
    if home.exists():
        raise AlreadyExists(f"{root} already holds a node identity; refusing to replace it")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    NodeIdentity.generate().save(home.key_path)
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
