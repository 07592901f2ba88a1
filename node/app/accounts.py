"""Accounts of the HTTP API: create (token shown once), list, remove, and verify a token.

One use-case family of :class:`node.app.node.AccordNode` (a mixin over :class:`NodeParts`).
A token is 32 random bytes from the OS CSPRNG; only its SHA-256 is stored. A fast unsalted
hash is enough for a 256-bit random secret: nobody can guess a preimage, so salting and
stretching (which protect low-entropy passwords) would add cost and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
from dataclasses import dataclass

from node.app.parts import NodeParts
from node.errors import AlreadyExists, NotFound, Unauthenticated
from node.model import Tlp
from node.model.accounts import Account, Role
from node.model.clock import format_timestamp, utc_now
from node.store.accounts import account_by_token_hash, accounts, delete_account, insert_account

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits: see the module docstring for why SHA-256 of it is enough
TOKEN_PREFIX = "accord_api_"  # noqa: S105 (a prefix that makes a leaked token greppable)
DEFAULT_MAX_TLP = Tlp.AMBER_STRICT  # RED only to an account an operator created with --max-tlp red


@dataclass(frozen=True, slots=True)
class NewApiAccount:
    """A created account and its token: the only copy, shown once and never stored."""

    account: Account
    token: str


def hash_api_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccountsMixin(NodeParts):
    """Accounts of the HTTP API."""

    def add_api_account(self, name: str, *, role: Role, max_tlp: Tlp = DEFAULT_MAX_TLP) -> NewApiAccount:
        """Create an account and its token (audited, without the token)."""
        account = Account(name=name, role=role, max_tlp=max_tlp, added_at=format_timestamp(utc_now()))
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        try:
            with self.store.write() as tx:
                insert_account(tx, account, token_hash=hash_api_token(token))
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"an account named {name!r} exists already") from exc
        details = {"account": name, "role": role.value, "max_tlp": max_tlp.value}
        self.audit.record("account-add", details)
        log.info("added API account %s (role %s, max TLP %s)", name, role.value, max_tlp.value)
        return NewApiAccount(account=account, token=token)

    def api_accounts(self) -> list[Account]:
        """Every account, by name (never a token or its hash)."""
        return accounts(self.store)

    def remove_api_account(self, name: str) -> None:
        """Delete an account: its token stops working with the next request (audited)."""
        with self.store.write() as tx:
            if not delete_account(tx, name):
                raise NotFound(f"no account named {name!r} (see 'accord account list')")
        self.audit.record("account-remove", {"account": name})
        log.info("removed API account %s", name)

    def authenticate_api_token(self, token: str) -> Account:
        """The account ``token`` belongs to; Unauthenticated for an unknown or removed token.

        The lookup is by the hash (an index), and the stored hash is then compared with the
        computed one in constant time: timing reveals nothing about a token's bytes.
        """
        wanted = hash_api_token(token)
        found = account_by_token_hash(self.store, wanted)
        if found is None or not hmac.compare_digest(found[1], wanted):
            raise Unauthenticated("unknown or revoked API token")
        return found[0]
