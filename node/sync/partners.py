"""Pinning and unpinning partners (DESIGN §3): there is no trust on first use."""

from __future__ import annotations

import logging
import sqlite3

from node.errors import AlreadyExists, InvalidInput, NotFound
from node.feed import key_id_of, public_key_from_text
from node.model import (
    KeyId,
    Partner,
    SharingGroup,
    parse_cert_fingerprint,
    parse_endpoint,
    parse_partner_name,
)
from node.store import Store

log = logging.getLogger(__name__)


def add_partner(
    store: Store,
    *,
    name: str,
    public_key: str,
    endpoint: str | None,
    self_key: KeyId,
    cert_fingerprint: str | None = None,
) -> Partner:
    """Pin ``name`` with its public key (``ed25519:<base64>``), optional ``HOST:PORT`` and TLS pin."""
    raw = public_key_from_text(public_key)
    partner = Partner(
        name=parse_partner_name(name),
        key_id=key_id_of(raw),
        public_key=raw,
        endpoint=None if endpoint is None else parse_endpoint(endpoint),
        cert_fingerprint=None if cert_fingerprint is None else parse_cert_fingerprint(cert_fingerprint),
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


def set_endpoint(store: Store, name: str, endpoint: str) -> Partner:
    """Pull ``name`` from ``endpoint`` from now on (HOST:PORT; empty: never pull it)."""
    address = parse_endpoint(endpoint) if endpoint else None
    with store.write() as tx:
        found = tx.set_partner_endpoint(name, address)
    partner = store.partner(name)
    if not found or partner is None:
        raise NotFound(f"no partner named {name!r} (see 'accord partner list')")
    log.info("partner %s: endpoint %s", name, partner.endpoint or "none (not pulled)")
    return partner


def pin_certificate(store: Store, name: str, cert_fingerprint: str) -> Partner:
    """Pin a new TLS certificate fingerprint for ``name`` (after it rotated its certificate)."""
    fingerprint = parse_cert_fingerprint(cert_fingerprint)
    with store.write() as tx:
        found = tx.pin_certificate(name, fingerprint)
    partner = store.partner(name)
    if not found or partner is None:
        raise NotFound(f"no partner named {name!r} (see 'accord partner list')")
    log.info("pinned TLS certificate %s for partner %s", fingerprint, name)
    return partner


def add_to_group(store: Store, group: str, members: list[str]) -> SharingGroup:
    """Create sharing group ``group`` if needed and add the partners named ``members``."""
    parse_partner_name(group)
    if not members:
        raise InvalidInput("name at least one partner to put in the group")
    known = {p.name for p in store.partners()}
    unknown = sorted(set(members) - known)
    if unknown:
        raise NotFound(f"no partner named {', '.join(map(repr, unknown))} (see 'accord partner list')")
    with store.write() as tx:
        tx.add_group_members(group, members)
    log.info("sharing group %s: added %d partner(s)", group, len(set(members)))
    return sharing_group(store, group)


def remove_from_group(store: Store, group: str, members: list[str]) -> SharingGroup | None:
    """Remove partners from ``group``, or the whole group when ``members`` is empty.

    Every named partner must be a member; otherwise nothing changes.
    """
    outside = sorted(set(members) - set(sharing_group(store, group).members))
    if outside:
        raise NotFound(f"{', '.join(map(repr, outside))} not in sharing group {group!r}; nothing removed")
    with store.write() as tx:
        if not members:
            tx.remove_group(group)
            log.info("removed sharing group %s", group)
            return None
        tx.remove_group_members(group, members)
    log.info("sharing group %s: removed %d partner(s)", group, len(set(members)))
    return sharing_group(store, group)


def sharing_group(store: Store, name: str) -> SharingGroup:
    """The sharing group ``name``, or NotFound."""
    for group in store.sharing_groups():
        if group.name == name:
            return group
    raise NotFound(f"no sharing group named {name!r} (see 'accord group list')")


def resolve_recipients(store: Store, *, partners: list[str], groups: list[str]) -> frozenset[KeyId]:
    """Key ids of the named partners and of every member of the named groups.

    The result goes into the signed entry: recipients are fixed at publishing time, so a
    partner added to a group later does not gain access to what was addressed before.
    """
    keys = {p.name: p.key_id for p in store.partners()}
    unknown = [name for name in partners if name not in keys]
    if unknown:
        raise NotFound(f"no partner named {unknown[0]!r} to address (see 'accord partner list')")
    names = set(partners)
    for group in groups:
        names.update(sharing_group(store, group).members)
    return frozenset(keys[name] for name in names)
