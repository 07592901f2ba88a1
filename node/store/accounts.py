"""The ``http_accounts``, ``http_sessions`` and ``http_login_failures`` tables: accounts with only
the hash of each token, the argon2 hash of each password, only the SHA-256 of each session id,
and the failed-login counts that outlive a restart.

``max_tlp`` NULL means the account follows ``taxii.analyst_max_tlp`` (TAXII analysts created
without ``--max-tlp``): every read resolves it with the ``default_max_tlp`` the caller passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from node.model import Tlp
from node.model.accounts import Account, LoginFailures, Role
from node.store.database import Store
from node.store.transaction import WriteTx

_COLUMNS = "name, role, max_tlp, added_at, partner"


def insert_account(
    tx: WriteTx,
    account: Account,
    *,
    token_hash: str | None,
    password_hash: str | None = None,
    follows_default: bool = False,
) -> None:
    """Store an account. Raises sqlite3.IntegrityError when the name (or hash) exists.

    ``follows_default``: store no maximum TLP, so the account follows taxii.analyst_max_tlp.
    """
    tx.execute(
        "INSERT INTO http_accounts (name, role, max_tlp, token_hash, password_hash, partner, added_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            account.name,
            account.role.value,
            None if follows_default else account.max_tlp.value,
            token_hash,
            password_hash,
            account.partner,
            account.added_at,
        ),
    )


def delete_account(tx: WriteTx, name: str) -> bool:
    """Delete an account and every session of it; True when one was deleted."""
    tx.execute("DELETE FROM http_sessions WHERE account = ?", (name,))
    return tx.execute("DELETE FROM http_accounts WHERE name = ?", (name,)).rowcount > 0


def accounts(store: Store, *, default_max_tlp: Tlp) -> list[Account]:
    """Every account, by name."""
    rows = store.reader.execute(f"SELECT {_COLUMNS} FROM http_accounts ORDER BY name")  # noqa: S608
    return [_account(row, default_max_tlp) for row in rows]


def account_by_token_hash(
    store: Store, token_hash: str, *, default_max_tlp: Tlp
) -> tuple[Account, str] | None:
    """The account whose token hashes to ``token_hash``, with the stored hash (for the
    constant-time comparison the caller makes)."""
    row = store.reader.execute(
        f"SELECT {_COLUMNS}, token_hash FROM http_accounts WHERE token_hash = ?",  # noqa: S608
        (token_hash,),
    ).fetchone()
    return None if row is None else (_account(row[:5], default_max_tlp), str(row[5]))


def account_with_password(
    store: Store, name: str, *, default_max_tlp: Tlp
) -> tuple[Account, str | None] | None:
    """The account named ``name`` and its password hash (None: it has no password)."""
    row = store.reader.execute(
        f"SELECT {_COLUMNS}, password_hash FROM http_accounts WHERE name = ?",  # noqa: S608
        (name,),
    ).fetchone()
    return None if row is None else (_account(row[:5], default_max_tlp), row[5])


def insert_session(tx: WriteTx, *, id_hash: str, account: str, created_at: str, expires_at: str) -> None:
    """Store a session (only the hash of its id)."""
    tx.execute(
        "INSERT INTO http_sessions (id_hash, account, created_at, expires_at) VALUES (?,?,?,?)",
        (id_hash, account, created_at, expires_at),
    )


def session_account(store: Store, id_hash: str, *, now: str, default_max_tlp: Tlp) -> Account | None:
    """The account of the unexpired session ``id_hash`` (None: no such session, or it ended)."""
    row = store.reader.execute(
        "SELECT a.name, a.role, a.max_tlp, a.added_at, a.partner FROM http_sessions s"
        " JOIN http_accounts a ON a.name = s.account WHERE s.id_hash = ? AND s.expires_at > ?",
        (id_hash, now),
    ).fetchone()
    return None if row is None else _account(row, default_max_tlp)


def delete_session(tx: WriteTx, id_hash: str) -> bool:
    """End one session; True when it existed."""
    return tx.execute("DELETE FROM http_sessions WHERE id_hash = ?", (id_hash,)).rowcount > 0


def delete_expired_sessions(tx: WriteTx, *, now: str) -> int:
    """Forget sessions that ended by time; how many."""
    return tx.execute("DELETE FROM http_sessions WHERE expires_at <= ?", (now,)).rowcount


def set_password_hash(tx: WriteTx, name: str, *, old: str, new: str) -> bool:
    """Replace the password hash of ``name`` if it is still ``old`` (a change that raced another
    one, or the account's removal, changes nothing); True when it was replaced."""
    return (
        tx.execute(
            "UPDATE http_accounts SET password_hash = ? WHERE name = ? AND password_hash = ?",
            (new, name, old),
        ).rowcount
        > 0
    )


def delete_sessions_of(tx: WriteTx, account: str, *, keep: str | None = None) -> int:
    """End every session of ``account`` but the one whose id hashes to ``keep``; how many."""
    return tx.execute(
        "DELETE FROM http_sessions WHERE account = ? AND id_hash IS NOT ?", (account, keep)
    ).rowcount


def login_failures(store: Store) -> list[LoginFailures]:
    """Every remembered count of failed logins."""
    rows = store.reader.execute(
        "SELECT kind, key, count, lockouts, locked_until, last FROM http_login_failures"
    )
    return [LoginFailures(*row) for row in rows]


def save_login_failures(tx: WriteTx, rows: Iterable[LoginFailures]) -> None:
    """Store (or replace) the counts of some names and addresses."""
    for r in rows:
        tx.execute(
            "INSERT OR REPLACE INTO http_login_failures (kind, key, count, lockouts, locked_until, last)"
            " VALUES (?,?,?,?,?,?)",
            (r.kind, r.key, r.count, r.lockouts, r.locked_until, r.last),
        )


def delete_login_failures(tx: WriteTx, keys: Sequence[tuple[str, str]]) -> None:
    """Forget the counts of some ``(kind, key)`` pairs."""
    for kind, key in keys:
        tx.execute("DELETE FROM http_login_failures WHERE kind = ? AND key = ?", (kind, key))


def _account(row: tuple[str, str, str | None, str, str | None], default_max_tlp: Tlp) -> Account:
    name, role, max_tlp, added_at, partner = row
    level = default_max_tlp if max_tlp is None else Tlp(max_tlp)
    return Account(name=name, role=Role(role), max_tlp=level, added_at=added_at, partner=partner)
