"""Backup and restore of a node's database (the identity key is never part of either).

``backup`` copies the database with SQLite's online backup API: one consistent snapshot, taken
while the node serves and syncs. ``restore`` puts a backup in place of a stopped node's
database and marks it *restored*: entries the node published after the backup may already be
held by partners, so it refuses to publish until its partners have handed its own feed back
(see ``sync.restore``). Publishing earlier would reuse a seq with a different entry — a fork that
partners would rightly treat as equivocation. ``confirm_restore`` settles a restore by hand:
when the quorum has shown its heads, or, with ``force``, without it (audited).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from node.app.audit import AuditLog
from node.app.home import require_home
from node.app.locks import serve_lock
from node.errors import AlreadyExists, InvalidInput, NodeBusy, NotFound, RestoredFeed
from node.feed import NodeIdentity
from node.model import KeyId
from node.store import Store
from node.sync.restore import FORCE_RISK, RestoreVerdict, judge_restore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore put in place."""

    own_head: int  # our own feed's head in the backup; partners may hold more
    entries: int  # entries of every origin in the backup


@dataclass(frozen=True, slots=True)
class RestoreConfirmation:
    """What ``accord restore confirm`` found and did."""

    verdict: RestoreVerdict | None  # None: not restored (nothing to do); else settled by this call
    forced: bool = False  # settled without the quorum: the operator took the risk


def confirm_restore(
    store: Store, audit: AuditLog, *, own: KeyId, rule: str, force: bool
) -> RestoreConfirmation:
    """Settle a restore by hand: when the quorum (``rule``) has shown its heads, or with
    ``force`` without it; otherwise raises :class:`RestoredFeed` saying what is missing. Never
    over a head of our feed beyond what we hold: that is not a risk but a certain fork, so that
    raises even with ``force``, until those entries are back."""
    with store.write() as tx:
        verdict = judge_restore(tx, own, rule=rule)
        if verdict is None:
            return RestoreConfirmation(verdict=None)
        if verdict.ahead:
            raise RestoredFeed(verdict.explain() + "; --force cannot override a head beyond ours")
        if not verdict.quorum_met and not force:
            raise RestoredFeed(verdict.explain())
        tx.settle_restore()
    forced = not verdict.quorum_met
    audit.record("restore-override" if forced else "restore-confirm", _audit_details(verdict, forced=forced))
    if forced:
        log.warning("restore settled by operator override without a quorum: %s", FORCE_RISK)
    return RestoreConfirmation(verdict=verdict, forced=forced)


def _audit_details(verdict: RestoreVerdict, *, forced: bool) -> dict[str, object]:
    state = verdict.state
    details: dict[str, object] = {
        "restored_at": state.restored_at,
        "own_seq": int(state.own_seq),
        "quorum": verdict.quorum,
        "confirmed": list(verdict.confirmed),
        "waiting": list(verdict.waiting),
    }
    if forced:
        details["risk"] = FORCE_RISK
    return details


def backup_database(store: Store, target: Path) -> None:
    """Write a consistent copy of ``store`` to ``target`` (mode 0600), which must not exist."""
    if target.exists():
        raise AlreadyExists(f"{target} exists; a backup never overwrites a file")
    if not target.parent.is_dir():
        raise NotFound(f"no directory {target.parent} to write the backup into")
    store.backup(target)
    log.info("database backed up to %s", target)


def restore_database(root: Path, source: Path) -> RestoreReport:
    """Replace the database of the stopped node at ``root`` with the backup ``source``."""
    home = require_home(root)
    if not source.is_file():
        raise NotFound(f"no backup file {source}")
    own = NodeIdentity.load(home.key_path).key_id
    with serve_lock(root) as held:
        if not held:
            raise NodeBusy(
                f"a node is running on {root}; stop 'accord serve' first: a restore replaces its database"
            )
        report = _check_backup(source, own)
        staged = home.db_path.with_name(home.db_path.name + ".restoring")
        _stage(source, staged)
        # The old database's -wal and -shm files belong to it: SQLite would apply them to the
        # restored file. Nothing holds them (the serve lock is ours), so they go first.
        for suffix in ("-wal", "-shm"):
            home.db_path.with_name(home.db_path.name + suffix).unlink(missing_ok=True)
        os.replace(staged, home.db_path)
    log.warning("restored %s from %s: publishing waits until partners return our own feed", root, source)
    return report


def _check_backup(source: Path, own: KeyId) -> RestoreReport:
    """The backup must be a sound Accord database whose own entries are this node's."""
    try:
        conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise InvalidInput(f"{source} fails SQLite's integrity check; not restoring it")
            authors = {
                row[0] for row in conn.execute("SELECT DISTINCT origin FROM entries WHERE via IS NULL")
            }
            head = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM entries WHERE origin = ?", (own,))
            own_head = int(head.fetchone()[0])
            entries = int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{source} is not an Accord database backup: {exc}") from exc
    if authors - {own}:
        raise InvalidInput(f"{source} is another node's backup: its own entries are not signed by this key")
    return RestoreReport(own_head=own_head, entries=entries)


def _stage(source: Path, staged: Path) -> None:
    """Copy ``source`` to ``staged`` (0600), bring its schema up to date and mark it restored."""
    staged.unlink(missing_ok=True)
    os.close(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    copy = sqlite3.connect(str(staged))
    try:
        reader.backup(copy)
    finally:
        copy.close()
        reader.close()
    store = Store(staged)  # applies any migration the backup predates
    try:
        with store.write() as tx:
            tx.mark_restored(source=str(source))
    finally:
        store.close()
    # One self-contained file: fold the WAL in before the rename.
    conn = sqlite3.connect(str(staged))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        staged.with_name(staged.name + suffix).unlink(missing_ok=True)
