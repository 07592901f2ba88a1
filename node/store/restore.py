"""Restore state as stored: a database put back from a backup, and what partners showed it since.

Read inside a write transaction (the publishing gate decides in the transaction that would
append) or through the store's reader (the CLI). The policy that reads it lives in
``node.sync.restore``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from node.model import KeyId, Seq
from node.store.database import Store
from node.store.transaction import WriteTx


@dataclass(frozen=True, slots=True)
class ShownHead:
    """A head of our own feed, signed by our own key, as one peer last showed it to us."""

    peer: str
    seq: Seq


@dataclass(frozen=True, slots=True)
class RestoreState:
    """A restored database that has not yet settled."""

    restored_at: str
    source: str
    own_seq: Seq  # how far we hold our own feed now (the backup's head plus what came back)
    partners: tuple[str, ...]  # partners with an endpoint: the ones we can ask for their heads
    confirmed: tuple[str, ...]  # partners that showed us their heads since the restore
    heads: tuple[ShownHead, ...]  # our feed's signed heads as peers showed them, highest first


def restore_state(source: Store | WriteTx, own: KeyId) -> RestoreState | None:
    """The restore state of the database behind ``source``, or None when it is not restored."""
    conn: sqlite3.Connection | WriteTx = source.reader if isinstance(source, Store) else source
    row = conn.execute("SELECT restored_at, source FROM restore_state WHERE id = 1").fetchone()
    if row is None:
        return None
    head = conn.execute("SELECT seq FROM heads WHERE origin = ?", (own,)).fetchone()
    partners = conn.execute("SELECT name FROM partners WHERE endpoint IS NOT NULL ORDER BY name")
    confirmed = conn.execute("SELECT partner FROM restore_confirmations ORDER BY partner")
    shown = conn.execute("SELECT peer, seq FROM peer_heads WHERE origin = ? ORDER BY seq DESC, peer", (own,))
    return RestoreState(
        restored_at=str(row[0]),
        source=str(row[1]),
        own_seq=Seq(0 if head is None else int(head[0])),
        partners=tuple(str(name) for (name,) in partners),
        confirmed=tuple(str(name) for (name,) in confirmed),
        heads=tuple(ShownHead(peer=str(peer), seq=Seq(int(seq))) for peer, seq in shown),
    )
