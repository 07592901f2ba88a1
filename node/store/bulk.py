"""A first sync into an empty node writes its rows first and builds the secondary indexes after.

Every ingested indicator inserts a key into each index on the table, and an entry's commit
writes every index page it touched to the WAL. Two of those indexes take random keys (the
``id`` that upserts resolve conflicts on, and the value prefix exact lookups use), so at a
million rows each entry rewrites thousands of scattered pages; the four time-ordered analyst
indexes add a key comparison chain each. Measured on 1M rows (SQL alone, same run): 39.7 s
with every index maintained per row, 16.1 s without the deferrable ones plus 4.9 s to build
them afterwards by sorting.

The unique ``id`` index, which upserts resolve conflicts on, is deferred as well: while it is,
the deferring process resolves them from the ids it stored (node/store/bulk_ids.py), and any
other writer builds it before it writes.

So a pull into a node whose ``indicators`` table is empty drops the deferrable indexes,
recording their definitions in ``ingest_deferred_indexes`` in the same transaction, and builds
them again when it ends. Nothing else changes: every entry is verified and committed in its own
transaction as before, and every query stays correct meanwhile (it scans instead of seeking).
A crash in between leaves the definitions recorded: the next :class:`~node.store.Store` open
builds them (a lock file held by the loading process tells a crash from a load still running).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from pathlib import Path

from node.store.bulk_ids import ID_INDEX

log = logging.getLogger(__name__)

DEFERRABLE_INDEXES = (
    "indicators_value_prefix",
    "indicators_created",
    "indicators_category_created",
    "indicators_tlp_created",
    "indicators_origin_created",
)
"""Secondary indexes on ``indicators`` that no write path reads (only analyst queries do)."""

DEFERRED_AT_FIRST_SYNC = (ID_INDEX, *DEFERRABLE_INDEXES)
"""Everything a first sync drops and builds after: the ``id`` index first (writes need it)."""


def claim(db: Path) -> int | None:
    """The lock that says a live process owns the deferral (released when it ends or dies);
    None when another process holds it. Returns the open file descriptor."""
    fd = os.open(db.with_name(db.name + "-bulk.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release(fd: int) -> None:
    """Give up what :func:`claim` took."""
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def defer_indexes(conn: sqlite3.Connection) -> frozenset[str]:
    """In the open write transaction: drop the deferrable indexes when ``indicators`` is empty,
    recording their definitions. Returns the names of those it dropped."""
    if conn.execute("SELECT 1 FROM indicators LIMIT 1").fetchone() is not None:
        return frozenset()
    if conn.execute("SELECT 1 FROM ingest_deferred_indexes LIMIT 1").fetchone() is not None:
        return frozenset()  # deferred already (another pull of this process, or a crashed one)
    marks = ",".join("?" * len(DEFERRED_AT_FIRST_SYNC))
    found = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({marks})",  # noqa: S608
        DEFERRED_AT_FIRST_SYNC,
    ).fetchall()
    for name, sql in found:
        conn.execute("INSERT INTO ingest_deferred_indexes (name, sql) VALUES (?, ?)", (name, sql))
        conn.execute(f'DROP INDEX "{name}"')
    return frozenset(name for name, _ in found)


def pending_indexes(conn: sqlite3.Connection) -> list[str]:
    """Names of the indexes recorded as deferred and not built yet."""
    return [row[0] for row in conn.execute("SELECT name FROM ingest_deferred_indexes ORDER BY name")]


def build_next(conn: sqlite3.Connection) -> str | None:
    """In the open write transaction: build the next deferred index (the ``id`` index first)
    and forget its record. Returns its name; None when none is left."""
    row = conn.execute(
        "SELECT name, sql FROM ingest_deferred_indexes ORDER BY name != ?, name LIMIT 1", (ID_INDEX,)
    ).fetchone()
    if row is None:
        return None
    name, sql = row
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
    if exists.fetchone() is None:
        conn.execute(sql)  # the definition SQLite itself stored for it
    conn.execute("DELETE FROM ingest_deferred_indexes WHERE name = ?", (name,))
    log.info("built index %s, deferred during a first sync", name)
    return str(name)


def build_deferred(conn: sqlite3.Connection) -> int:
    """In the open write transaction: build every deferred index and forget its record.
    Returns how many were built."""
    built = 0
    while build_next(conn) is not None:
        built += 1
    return built
