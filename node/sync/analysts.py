"""Analyst accounts for the TAXII API: a token printed once, only its SHA-256 kept.

Since m020 these are accounts of the one account model (``http_accounts``, role analyst): the
same token works on the HTTP API. An account either belongs to a local analyst, who sees what
the node holds up to a maximum TLP, or stands for a pinned partner, who sees what the
Federation API would serve it. TAXII readers are accounts whose role reads indicators
(analyst, reviewer, admin); a matcher's service token reads nothing here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
from dataclasses import dataclass

from node.errors import AlreadyExists, NotFound, Unauthenticated
from node.model import Tlp
from node.model.accounts import Account, Role
from node.model.clock import format_timestamp, utc_now
from node.model.viewers import Viewer, parse_account_name
from node.store import Store
from node.store.accounts import account_by_token_hash
from node.store.bridges import AnalystRecord, add_analyst, analysts, remove_analyst

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits from the OS CSPRNG: a hash of it needs no salt or stretching
TOKEN_PREFIX = "accord_"  # noqa: S105 (a prefix that makes leaked tokens greppable)
TAXII_ROLES = frozenset({Role.ANALYST, Role.REVIEWER, Role.ADMIN})  # the roles that read indicators


@dataclass(frozen=True, slots=True)
class NewAccount:
    """A created account and its token, which is shown this once and never stored."""

    name: str
    token: str
    max_tlp: Tlp | None
    partner: str | None


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_account(store: Store, name: str, *, max_tlp: Tlp | None, partner: str | None) -> NewAccount:
    """Create an account; the returned token is the only copy."""
    parse_account_name(name)
    if partner is not None and store.partner(partner) is None:
        raise NotFound(f"no partner named {partner!r} (see 'accord partner list')")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    record = AnalystRecord(name, hash_token(token), max_tlp, partner, format_timestamp(utc_now()))
    try:
        with store.write() as tx:
            add_analyst(tx, record)
    except sqlite3.IntegrityError as exc:
        raise AlreadyExists(f"an account named {name!r} exists already") from exc
    log.info("added TAXII account %s (partner=%s max_tlp=%s)", name, partner, max_tlp and max_tlp.value)
    return NewAccount(name, token, max_tlp, partner)


def remove_account(store: Store, name: str) -> None:
    """Delete an account: its token stops working at once."""
    with store.write() as tx:
        if not remove_analyst(tx, name):
            raise NotFound(f"no account named {name!r} (see 'accord analyst list')")
    log.info("removed TAXII account %s", name)


def list_accounts(store: Store) -> list[AnalystRecord]:
    """Every account (token hashes included; callers print names only)."""
    return analysts(store)


def authenticate(store: Store, token: str, *, username: str | None, default_max_tlp: Tlp) -> Viewer:
    """The reader a token belongs to; Unauthenticated for an unknown token, a wrong user name or
    a role that does not read indicators (the same answer: nothing about the account leaks).

    With HTTP Basic the user name must be the account's name; bearer tokens carry none. The
    lookup is by the token's hash (an index) and the hashes are then compared in constant time.
    """
    wanted = hash_token(token)
    found = account_by_token_hash(store, wanted, default_max_tlp=default_max_tlp)
    if found is None or not hmac.compare_digest(found[1], wanted):
        raise Unauthenticated("unknown or revoked token")
    account = found[0]
    if username not in (None, account.name) or account.role not in TAXII_ROLES:
        raise Unauthenticated("unknown or revoked token")
    return _viewer(store, account)


def _viewer(store: Store, account: Account) -> Viewer:
    if account.partner is None:
        return Viewer(name=account.name, max_tlp=account.max_tlp)
    partner = store.partner(account.partner)
    if partner is None:  # unpinned since: the account no longer stands for anyone
        raise Unauthenticated("the partner this token stood for is no longer pinned")
    return Viewer(name=account.name, max_tlp=Tlp.RED, partner_key=partner.key_id)
