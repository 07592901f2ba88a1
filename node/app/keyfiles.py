"""The files behind a key rotation in the node's home (DESIGN §3 identity).

The node's identity is the key id partners pinned: the id of the first key. ``origin.pub``
keeps that key's public half once a rotation has happened, so the identity survives the key.
A rotation writes the new key to ``identity.key.next`` (mode 0600) before its feed entry is
committed, and swaps the files after; a node that stopped in between finishes the swap when it
opens, because the committed entry names the new key.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from node.app.home import Home
from node.feed import NodeIdentity, key_id_of, public_key_from_text, public_key_to_text
from node.model import KeyId
from node.store import Store

log = logging.getLogger(__name__)

ORIGIN_FILE = "origin.pub"
NEXT_KEY_FILE = "identity.key.next"


def origin_public_key(home: Home, identity: NodeIdentity) -> bytes:
    """The public key whose key id is this node's identity: the first key it ever had."""
    path = home.root / ORIGIN_FILE
    if not path.exists():
        return identity.public_key
    return public_key_from_text(path.read_text(encoding="utf-8"))


def finish_rotation(home: Home, store: Store, origin: KeyId) -> None:
    """Complete a rotation whose entry committed before its key files were swapped."""
    pending = home.root / NEXT_KEY_FILE
    if not pending.exists():
        return
    new = NodeIdentity.load(pending)
    held = store.signing_keys().get(new.key_id)
    if held is None or held.origin != origin:
        return  # the entry never committed: the next rotation refuses to start until removed
    retired = home.root / f"identity.key.retired-{held.from_seq - 1}"
    os.replace(home.key_path, retired)
    os.replace(pending, home.key_path)
    log.warning("finished the key rotation of seq %d; old key kept in %s", held.from_seq - 1, retired.name)


def stage_new_key(home: Home, current: NodeIdentity) -> tuple[NodeIdentity, Path]:
    """A fresh key saved to ``identity.key.next`` (0600); records the origin key first."""
    origin_path = home.root / ORIGIN_FILE
    if not origin_path.exists():
        origin_path.write_text(public_key_to_text(current.public_key) + "\n", encoding="utf-8")
    new = NodeIdentity.generate()
    new.save(home.root / NEXT_KEY_FILE)  # refuses to overwrite a pending key of an unfinished rotation
    return new, home.root / NEXT_KEY_FILE


def origin_id(home: Home, identity: NodeIdentity) -> KeyId:
    """This node's identity key id (stable across rotations)."""
    return key_id_of(origin_public_key(home, identity))
