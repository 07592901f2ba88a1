"""Accounts of the HTTP API (and TAXII): create, list, remove; verify a token; log people in.

One use-case family of :class:`node.app.node.AccordNode` (a mixin over :class:`NodeParts`).
A token is 32 random bytes from the OS CSPRNG; only its SHA-256 is stored. A fast unsalted
hash is enough for a 256-bit random secret: nobody can guess a preimage, so salting and
stretching (which protect low-entropy passwords) would add cost and nothing else. A person's
password is the low-entropy case: it is kept as an argon2id hash (node.feed.passwords). A
session id is again 256 random bits, stored as its SHA-256 with an expiry: ending a session
(logout, account removal, a password change) is deleting its row. Failed-login counts of the
HTTP API's throttle (node.http.logins) are kept here too, so a restart does not forget them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from node.app.parts import NodeParts
from node.errors import AlreadyExists, InvalidInput, NotFound, Unauthenticated
from node.feed.passwords import check_password_rules, hash_password, load_session_key, verify_password
from node.model import Tlp
from node.model.accounts import Account, LoginFailures, Role
from node.model.clock import format_timestamp, utc_now
from node.store.accounts import (
    account_by_token_hash,
    account_with_password,
    accounts,
    delete_account,
    delete_expired_sessions,
    delete_login_failures,
    delete_session,
    delete_sessions_of,
    insert_account,
    insert_session,
    login_failures,
    save_login_failures,
    session_account,
    set_password_hash,
)
from node.store.commits import UntilCommit

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits: see the module docstring for why SHA-256 of it is enough
TOKEN_PREFIX = "accord_api_"  # noqa: S105 (a prefix that makes a leaked token greppable)
SESSION_BYTES = 32  # 256 bits, like a token
SESSION_KEY_FILE = "http-session.key"  # HMAC key of session cookies and CSRF tokens (0600)
DEFAULT_MAX_TLP = Tlp.AMBER_STRICT  # RED only to an account an operator created with --max-tlp red
WRONG_LOGIN = "wrong account name or password"  # one answer for both: no account enumeration


@dataclass(frozen=True, slots=True)
class NewApiAccount:
    """A created account and its token (None for a password-only account): the only copy,
    shown once and never stored."""

    account: Account
    token: str | None


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session that just began: its id (the only copy; the cookie carries it) and its end."""

    id: str
    account: Account
    expires_at: str


def hash_api_token(token: str) -> str:
    """The stored form of a token (and of a session id)."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccountsMixin(NodeParts):
    """Accounts of the HTTP API."""

    def add_api_account(
        self,
        name: str,
        *,
        role: Role,
        max_tlp: Tlp = DEFAULT_MAX_TLP,
        password: str | None = None,
    ) -> NewApiAccount:
        """Create an account: with ``password``, a person's (no token); else a token (audited,
        without the token or password)."""
        account = Account(name=name, role=role, max_tlp=max_tlp, added_at=format_timestamp(utc_now()))
        token = None if password is not None else TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        secret = None if password is None else hash_password(password)
        try:
            with self.store.write() as tx:
                token_hash = None if token is None else hash_api_token(token)
                insert_account(tx, account, token_hash=token_hash, password_hash=secret)
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"an account named {name!r} exists already") from exc
        details = {"account": name, "role": role.value, "max_tlp": max_tlp.value}
        self.audit.record("account-add", {**details, "login": "password" if password else "token"})
        log.info("added API account %s (role %s, max TLP %s)", name, role.value, max_tlp.value)
        return NewApiAccount(account=account, token=token)

    def api_accounts(self) -> list[Account]:
        """Every account, by name (never a token, a password or their hashes)."""
        return accounts(self.store, default_max_tlp=self._analyst_ceiling())

    def remove_api_account(self, name: str) -> None:
        """Delete an account: its token and sessions stop working with the next request (audited)."""
        with self.store.write() as tx:
            if not delete_account(tx, name):
                raise NotFound(f"no account named {name!r} (see 'accord account list')")
        self.audit.record("account-remove", {"account": name})
        log.info("removed API account %s", name)

    @cached_property
    def _token_accounts(self) -> UntilCommit[tuple[str, Tlp], tuple[Account, str] | None]:
        """Accounts by token hash, read once per commit to the database: a removed account or
        a new token commits, so it applies to the next request (every request carries one)."""
        return UntilCommit(self.store.commits)

    def authenticate_api_token(self, token: str) -> Account:
        """The account ``token`` belongs to; Unauthenticated for an unknown or removed token.

        The lookup is by the hash (an index), and the stored hash is then compared with the
        computed one in constant time: timing reveals nothing about a token's bytes.
        """
        wanted = hash_api_token(token)
        ceiling = self._analyst_ceiling()
        found = self._token_accounts.get(
            (wanted, ceiling), lambda: account_by_token_hash(self.store, wanted, default_max_tlp=ceiling)
        )
        if found is None or not hmac.compare_digest(found[1], wanted):
            raise Unauthenticated("unknown or revoked API token")
        return found[0]

    def log_in(self, name: str, password: str) -> NewSession:
        """Begin a session for ``name`` if ``password`` is its password; else Unauthenticated
        with one message (and the same argon2 work) whether the name exists or not."""
        found = account_with_password(self.store, name, default_max_tlp=self._analyst_ceiling())
        stored = None if found is None else found[1]
        if not verify_password(stored, password) or found is None:
            raise Unauthenticated(WRONG_LOGIN)
        session_id = secrets.token_urlsafe(SESSION_BYTES)
        now = utc_now()
        ends = format_timestamp(now + timedelta(seconds=self.config.http.session_seconds))
        with self.store.write() as tx:
            delete_expired_sessions(tx, now=format_timestamp(now))
            insert_session(
                tx,
                id_hash=hash_api_token(session_id),
                account=name,
                created_at=format_timestamp(now),
                expires_at=ends,
            )
        return NewSession(id=session_id, account=found[0], expires_at=ends)

    def session_account(self, session_id: str) -> Account:
        """The account of a live session; Unauthenticated when it ended (logout, expiry, removal)."""
        found = session_account(
            self.store,
            hash_api_token(session_id),
            now=format_timestamp(utc_now()),
            default_max_tlp=self._analyst_ceiling(),
        )
        if found is None:
            raise Unauthenticated("the session ended (logged out, expired or account removed); log in again")
        return found

    def log_out(self, session_id: str) -> None:
        """End a session at once (its cookie is refused from the next request)."""
        with self.store.write() as tx:
            delete_session(tx, hash_api_token(session_id))

    def change_password(self, name: str, current: str, new: str, *, keep_session: str | None) -> int:
        """A person changes their own password: ``current`` must be it (else Unauthenticated, the
        login's message, after the same work); every session but ``keep_session`` ends. Audited
        (never a password). How many sessions ended."""
        check_password_rules(new)  # before the check of ``current``: a 400 reveals nothing about it
        found = account_with_password(self.store, name, default_max_tlp=self._analyst_ceiling())
        stored = None if found is None else found[1]
        if not verify_password(stored, current) or stored is None:
            raise Unauthenticated(WRONG_LOGIN)
        keep = None if keep_session is None else hash_api_token(keep_session)
        return self._set_password(name, old=stored, new=new, keep=keep, by="self")

    def reset_password(self, name: str, new: str) -> int:
        """An operator sets a person's password (one who forgot theirs): every session of the
        account ends. NotFound for an unknown name; InvalidInput for a token account. Audited."""
        found = account_with_password(self.store, name, default_max_tlp=self._analyst_ceiling())
        if found is None:
            raise NotFound(f"no account named {name!r} (see 'accord account list')")
        if found[1] is None:
            raise InvalidInput(
                f"account {name!r} signs in with an API token and has no password to reset"
                " (a token is replaced by removing and re-adding the account)"
            )
        return self._set_password(name, old=found[1], new=new, keep=None, by="operator")

    def _set_password(self, name: str, *, old: str, new: str, keep: str | None, by: str) -> int:
        secret = hash_password(new)
        with self.store.write() as tx:
            if not set_password_hash(tx, name, old=old, new=secret):
                raise Unauthenticated(
                    f"the password of account {name!r} changed or the account was removed meanwhile;"
                    " nothing was changed"
                )
            ended = delete_sessions_of(tx, name, keep=keep)
        self.audit.record("account-password", {"account": name, "by": by, "sessions_ended": ended})
        log.info("password of API account %s changed (%d other sessions ended)", name, ended)
        return ended

    def end_sessions(self, name: str) -> int:
        """End every session of account ``name`` ("log out everywhere"); how many. NotFound for
        an unknown name. Audited."""
        if account_with_password(self.store, name, default_max_tlp=self._analyst_ceiling()) is None:
            raise NotFound(f"no account named {name!r} (see 'accord account list')")
        with self.store.write() as tx:
            ended = delete_sessions_of(tx, name)
        self.audit.record("account-logout", {"account": name, "sessions_ended": ended})
        log.info("ended %d sessions of API account %s", ended, name)
        return ended

    def login_failures(self) -> list[LoginFailures]:
        """The saved failed-login counts (read when the HTTP API starts)."""
        return login_failures(self.store)

    def save_login_failures(self, rows: Sequence[LoginFailures]) -> None:
        """Save the counts of some names and addresses (after each failed login)."""
        with self.store.write() as tx:
            save_login_failures(tx, rows)

    def forget_login_failures(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete the counts of some ``(kind, key)`` pairs (a name's success, forgotten entries)."""
        with self.store.write() as tx:
            delete_login_failures(tx, keys)

    def http_session_key(self) -> bytes:
        """The HMAC key of session cookies and CSRF tokens (``http-session.key``, mode 0600)."""
        return load_session_key(self.home.root / SESSION_KEY_FILE)

    def _analyst_ceiling(self) -> Tlp:
        """What an account created without a maximum TLP sees (``taxii.analyst_max_tlp``)."""
        return Tlp.parse(self.config.taxii.analyst_max_tlp)
