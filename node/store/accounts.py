"""The ``http_accounts`` table: accounts of the HTTP API, with only the hash of each token."""

from __future__ import annotations

from node.model import Tlp
from node.model.accounts import Account, Role
from node.store.database import Store
from node.store.transaction import WriteTx

_COLUMNS = "name, role, max_tlp, added_at"


def insert_account(tx: WriteTx, account: Account, *, token_hash: str) -> None:
    """Store an account. Raises sqlite3.IntegrityError when the name (or hash) exists."""
    tx.execute(
        "INSERT INTO http_accounts (name, role, max_tlp, token_hash, added_at) VALUES (?,?,?,?,?)",
        (account.name, account.role.value, account.max_tlp.value, token_hash, account.added_at),
    )


def delete_account(tx: WriteTx, name: str) -> bool:
    """Delete an account; True when one was deleted."""
    return tx.execute("DELETE FROM http_accounts WHERE name = ?", (name,)).rowcount > 0


def accounts(store: Store) -> list[Account]:
    """Every account, by name."""
    rows = store.reader.execute(f"SELECT {_COLUMNS} FROM http_accounts ORDER BY name")  # noqa: S608
    return [_account(row) for row in rows]


def account_by_token_hash(store: Store, token_hash: str) -> tuple[Account, str] | None:
    """The account whose token hashes to ``token_hash``, with the stored hash (for the
    constant-time comparison the caller makes)."""
    row = store.reader.execute(
        f"SELECT {_COLUMNS}, token_hash FROM http_accounts WHERE token_hash = ?",  # noqa: S608
        (token_hash,),
    ).fetchone()
    return None if row is None else (_account(row[:4]), str(row[4]))


def _account(row: tuple[str, str, str, str]) -> Account:
    name, role, max_tlp, added_at = row
    return Account(name=name, role=Role(role), max_tlp=Tlp(max_tlp), added_at=added_at)
