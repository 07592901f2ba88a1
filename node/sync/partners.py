"""Pinning and unpinning partners (DESIGN §3): there is no trust on first use."""

from __future__ import annotations

import logging
import sqlite3

from node.errors import AlreadyExists, InvalidInput, NotFound
from node.feed import key_id_of, public_key_from_text
from node.model import KeyId, Partner, parse_endpoint, parse_partner_name
from node.store import Store

log = logging.getLogger(__name__)


def add_partner(
    store: Store, *, name: str, public_key: str, endpoint: str | None, self_key: KeyId
) -> Partner:
    """Pin ``name`` with its public key (``ed25519:<base64>``) and optional ``HOST:PORT``."""
    raw = public_key_from_text(public_key)
    partner = Partner(
        name=parse_partner_name(name),
        key_id=key_id_of(raw),
        public_key=raw,
        endpoint=None if endpoint is None else parse_endpoint(endpoint),
    )
    if partner.key_id == self_key:
        raise InvalidInput("that is this node's own public key; pin your partners' keys")
    try:
        with store.write() as tx:
            tx.add_partner(partner)
    except sqlite3.IntegrityError as exc:
        raise AlreadyExists(f"a partner named {name!r} or with that key is pinned already") from exc
    log.info("pinned partner %s key=%s endpoint=%s", partner.name, partner.key_id[:12], partner.endpoint)
    return partner


def remove_partner(store: Store, name: str) -> None:
    """Unpin ``name``: its entries stay as history, but nothing more is accepted from it."""
    with store.write() as tx:
        removed = tx.remove_partner(name)
    if not removed:
        raise NotFound(f"no partner named {name!r} (see 'accord partner list')")
    log.info("unpinned partner %s", name)
