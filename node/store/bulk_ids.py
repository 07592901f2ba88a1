"""Indicator upserts while a first sync has deferred the ``id`` index (node/store/bulk.py).

The unique index on ``indicators.id`` is what upserts resolve conflicts on, and its keys are
random (STIX ids are UUIDv4): each entry's commit rewrote most of its pages, the largest single
cost of a first sync (1M rows in 60 entries, SQL alone: 9.9 s with it, 2.7 s without).

While it is deferred, the process that deferred it remembers every id it stored, as a 64-bit
key (Python's ``hash`` of the id: SipHash under a per-process random key, so nobody outside can
aim collisions) and the row's change id, in sorted numpy runs (16 bytes a row, not a Python
object). The table was empty when the deferral began and every write to it goes through
:meth:`DeferredIds.upsert` of that process, or builds the index first (another process, or
this one after a restart): so a key missing from the runs is an id the table does not hold,
and such rows are plain inserts. A key found is checked against the row it names; the upsert's
rules (newer only, revocation final, only the creator, same signal) are then applied to that
row by its change id, in the batch's order, exactly as ``ON CONFLICT (id) DO UPDATE`` would.

Anything this does not handle ends the deferral instead: the index is built in the open
transaction (~1 s at 1M rows) and the ordinary upsert takes over. That is the case for two
distinct ids with one key (never in practice), and before a write that renumbers change ids.
Notes and the foreign-id check find their rows the same way, by key then change id.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from node.store.codec import INSERT_INDICATORS, ROW_PLACEHOLDERS, UPSERT_WIDTH

log = logging.getLogger(__name__)

ID_INDEX = "indicators_id"
ID_INDEX_SQL = f"CREATE UNIQUE INDEX {ID_INDEX} ON indicators (id)"

_Keys = npt.NDArray[np.int64]

# Slots of a row in the upsert's parameters (node/store/codec.py: INDICATOR_COLUMNS, then
# entry_seq, change_id, local).
_ID, _ORIGIN, _SIGNAL_TYPE, _VALUE = 0, 1, 2, 3
_CATEGORY, _CONTENT_TYPE, _TLP, _QUALITY, _MODIFIED, _VALID_UNTIL, _REVOKED = 4, 5, 6, 7, 9, 10, 11
_ENTRY_SEQ, _CHANGE_ID = 12, 13

# ON CONFLICT (id) DO UPDATE ... WHERE, for the row the key found (node/store/transaction.py).
_UPDATE = """
UPDATE indicators SET category = ?, content_type = ?, tlp = ?, quality = ?, modified = ?,
    valid_until = ?, revoked = ?, entry_seq = ?, change_id = ?
WHERE change_id = ? AND id = ? AND ? > modified AND revoked = 0 AND origin = ?
  AND signal_type = ? AND value = ?
"""


def key_of(indicator_id: str) -> int:
    """An id's 64-bit key: SipHash under this process's random key (``PYTHONHASHSEED``).
    Equal keys are always checked against the ids; a collision only ends the deferral."""
    return hash(indicator_id)


def _keys(ids: Sequence[str]) -> _Keys:
    return np.fromiter((key_of(i) for i in ids), dtype=np.int64, count=len(ids))


def id_index_exists(conn: sqlite3.Connection) -> bool:
    """True when ``indicators`` has its unique ``id`` index (it is not deferred)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (ID_INDEX,))
    return row.fetchone() is not None


def build_id_index(conn: sqlite3.Connection) -> None:
    """In the open write transaction: build the ``id`` index and forget that it was deferred."""
    if not id_index_exists(conn):
        conn.execute(ID_INDEX_SQL)
    conn.execute("DELETE FROM ingest_deferred_indexes WHERE name = ?", (ID_INDEX,))


class KeyRuns:
    """A map of unique int64 keys to int64 values as a few sorted runs (a small LSM tree):
    adding a batch costs a sort of the batch and, now and then, a merge of similar-sized runs."""

    def __init__(self) -> None:
        self._keys: list[_Keys] = []
        self._values: list[_Keys] = []
        self._lock = threading.Lock()  # the writer changes runs while readers look ids up

    def __len__(self) -> int:
        with self._lock:
            return sum(len(k) for k in self._keys)

    def find(self, keys: _Keys) -> _Keys:
        """The value of each key, -1 where the key is absent."""
        found = np.full(len(keys), -1, dtype=np.int64)
        with self._lock:
            for run, values in zip(self._keys, self._values, strict=True):
                at = np.minimum(np.searchsorted(run, keys), len(run) - 1)
                hit = run[at] == keys
                found[hit] = values[at[hit]]
        return found

    def add(self, keys: _Keys, values: _Keys) -> None:
        """Add keys that are absent (the caller checked), with their values."""
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        with self._lock:
            self._keys.append(keys[order])
            self._values.append(values[order])
            while len(self._keys) > 1 and len(self._keys[-1]) * 2 >= len(self._keys[-2]):
                merged_keys = np.concatenate((self._keys.pop(-2), self._keys.pop()))
                merged_values = np.concatenate((self._values.pop(-2), self._values.pop()))
                order = np.argsort(merged_keys, kind="stable")
                self._keys.append(merged_keys[order])
                self._values.append(merged_values[order])

    def set(self, key: int, value: int) -> None:
        """Change the value of a key that is present."""
        probe = np.array([key], dtype=np.int64)
        with self._lock:
            for run, values in zip(self._keys, self._values, strict=True):
                at = int(np.searchsorted(run, probe)[0])
                if at < len(run) and run[at] == key:
                    values[at] = value
                    return
        raise KeyError(key)


class DeferredIds:
    """The ids this process stored since it deferred the ``id`` index; see the module doc."""

    def __init__(self) -> None:
        self._runs: KeyRuns | None = KeyRuns()

    @property
    def active(self) -> bool:
        """False once the index is built (by :meth:`end`, or found built by another process)."""
        return self._runs is not None

    def __len__(self) -> int:
        return 0 if self._runs is None else len(self._runs)

    def in_force(self, conn: sqlite3.Connection) -> bool:
        """In the open write transaction: still deferred, and these runs still say what the
        table holds. Another process builds the index before it writes: then they are dropped."""
        if self._runs is not None and id_index_exists(conn):
            self._runs = None
        return self._runs is not None

    def end(self, conn: sqlite3.Connection, why: str) -> None:
        """Build the index in the open write transaction; the ordinary upsert takes over."""
        log.info("building the indicator id index during a first sync: %s", why)
        build_id_index(conn)
        self._runs = None

    def upsert(self, conn: sqlite3.Connection, rows: int, params: list[Any]) -> int | None:
        """Apply one chunk of the upsert's parameters (change ids assigned) as the upsert
        would. Returns how many rows it inserted or replaced; None when it ended the deferral
        instead (nothing of this chunk is written then: the caller runs the ordinary upsert)."""
        runs = self._runs
        assert runs is not None, "upsert() while the deferral is not in force"
        ids: list[str] = params[_ID::UPSERT_WIDTH]
        keys = _keys(ids)
        found = runs.find(keys)
        held = self._held_ids(conn, found[found >= 0])
        inserts: list[int] = []  # row positions, in order
        updates: list[tuple[int, int]] = []  # (row position, key), in order
        new_here: dict[int, str] = {}  # key -> id of a row this chunk inserts
        for n, (key, at) in enumerate(zip(keys.tolist(), found.tolist(), strict=True)):
            id_ = ids[n]
            named = new_here.get(key) if at < 0 else held.get(at)
            if at >= 0 and named is None:
                self.end(conn, "a remembered change id names no row")
                return None
            if named is None:
                new_here[key] = id_
                inserts.append(n)
            elif named == id_:
                updates.append((n, key))
            else:
                self.end(conn, "two indicator ids share a hash key")
                return None
        written = self._insert(conn, params, inserts)
        keys_in = keys[inserts]
        runs.add(keys_in, np.asarray(params[_CHANGE_ID::UPSERT_WIDTH], dtype=np.int64)[inserts])
        return written + self._update(conn, params, updates, runs)

    @staticmethod
    def _held_ids(conn: sqlite3.Connection, change_ids: _Keys) -> dict[int, str]:
        """The id of each stored row named by ``change_ids``."""
        if not len(change_ids):
            return {}
        rows = conn.execute(
            "SELECT i.change_id, i.id FROM json_each(?) AS j JOIN indicators AS i ON i.change_id = j.value",
            (json.dumps(change_ids.tolist()),),
        )
        return {int(c): str(i) for c, i in rows}

    @staticmethod
    def _insert(conn: sqlite3.Connection, params: list[Any], positions: Sequence[int]) -> int:
        if not positions:
            return 0
        if len(positions) * UPSERT_WIDTH == len(params):
            values = params
        else:
            values = [v for n in positions for v in params[n * UPSERT_WIDTH : (n + 1) * UPSERT_WIDTH]]
        conn.execute(INSERT_INDICATORS + ", ".join([ROW_PLACEHOLDERS] * len(positions)), values)
        return len(positions)

    @staticmethod
    def _update(
        conn: sqlite3.Connection, params: list[Any], updates: Sequence[tuple[int, int]], runs: KeyRuns
    ) -> int:
        """Each newer version in order, onto the row its key names now (an earlier update in
        this chunk may have moved it to a new change id)."""
        written = 0
        for n, key in updates:
            row = params[n * UPSERT_WIDTH : (n + 1) * UPSERT_WIDTH]
            target = int(runs.find(np.array([key], dtype=np.int64))[0])
            cursor = conn.execute(
                _UPDATE,
                (
                    row[_CATEGORY],
                    row[_CONTENT_TYPE],
                    row[_TLP],
                    row[_QUALITY],
                    row[_MODIFIED],
                    row[_VALID_UNTIL],
                    row[_REVOKED],
                    row[_ENTRY_SEQ],
                    row[_CHANGE_ID],
                    target,
                    row[_ID],
                    row[_MODIFIED],
                    row[_ORIGIN],
                    row[_SIGNAL_TYPE],
                    row[_VALUE],
                ),
            )
            if cursor.rowcount:
                runs.set(key, row[_CHANGE_ID])
                written += 1
        return written

    def write_notes(self, conn: sqlite3.Connection, notes: Sequence[tuple[str, str, str, str, str]]) -> None:
        """``_NOTE_UPSERT`` (node/store/transaction.py) with the row found by change id: a note is
        kept only for the version the table now holds."""
        assert self._runs is not None
        found = self._runs.find(_keys([n[0] for n in notes]))
        conn.executemany(
            "INSERT OR REPLACE INTO indicator_notes (id, modified, category, labels, note)"
            " SELECT ?, ?, ?, ?, ? WHERE EXISTS"
            " (SELECT 1 FROM indicators WHERE change_id = ? AND id = ? AND modified = ?)",
            [(*note, int(at), note[0], note[1]) for note, at in zip(notes, found.tolist(), strict=True)],
        )

    def change_ids(self, ids: Sequence[str]) -> list[int]:
        """The change ids of the rows ``ids`` may name, as this process last wrote them (the
        caller's query checks each row's id: a reader's snapshot may hold an older version
        under another change id, or not yet a row written since). Empty once it ended."""
        runs = self._runs
        if runs is None or not ids:
            return []
        found = runs.find(_keys(ids))
        return [int(c) for c in found[found >= 0]]
