"""SQLite access: one writer, many readers, every acknowledged write durable (DESIGN §8).

Writes go through :meth:`Store.write`, which holds a process-wide lock and an ``BEGIN
IMMEDIATE`` transaction: the lock serialises this process's threads, ``IMMEDIATE`` serialises
processes (the CLI and a running ``accord serve`` share one file), and reading a head inside the
same transaction that advances it makes the check-then-write atomic. WAL mode lets readers run
beside the writer; ``synchronous=FULL`` makes a commit survive power loss once it returns.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlite_utils import Database

from node.model import (
    CertFingerprint,
    Digest,
    Distribution,
    Envelope,
    Head,
    Indicator,
    KeyId,
    Partner,
    Seq,
    SharingGroup,
    Signal,
    SignalType,
    Tlp,
)
from node.model.clock import format_timestamp, utc_now
from node.store import bulk
from node.store.bulk_ids import ID_INDEX, DeferredIds
from node.store.checkpoints import Checkpointer
from node.store.codec import (
    ENTRY_COLUMNS,
    INDICATOR_COLUMNS,
    VALUE_MATCHES,
    indicator_from_row,
    note_from_text,
    signatures_from_text,
    stored_entry_from_row,
    value_params,
)
from node.store.commits import CommitWatch
from node.store.feedback import FeedbackReads
from node.store.records import (
    CountRow,
    EncryptionKeyRecord,
    EvidenceRecord,
    IndicatorChange,
    PdqStretch,
    PeerHead,
    RefusedCall,
    StoredEntry,
    SyncRecord,
)
from node.store.schema import migrations
from node.store.transaction import WriteTx

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000  # another process's write transaction is short; wait rather than fail
# An entry of 20,000 indicators dirties up to ~15,000 pages of the id index once it outgrows
# the cache; the writer keeps them in memory until the commit instead of spilling them to the
# WAL twice (SQLite's default cache is 2 MiB). Readers mostly probe single rows.
WRITER_CACHE_KIB = 64 * 1024
READER_CACHE_KIB = 8 * 1024
# Checkpoint after ~256 MiB of WAL rather than SQLite's 4 MiB: an index page rewritten by many
# consecutive entries is copied into the database file once, not once per entry (a 1M-row
# first sync spent 30% less time in SQLite). The WAL file keeps up to 512 MiB of disk after a
# checkpoint and is overwritten in place: on ext4, fsync'd writes over allocated blocks ran at
# ~3 GB/s here, appends that grow a file at 0.3-0.6 GB/s.
WAL_CHECKPOINT_PAGES = 65_536
WAL_SIZE_LIMIT_BYTES = 512 * 1024 * 1024
_INACTIVE = "(revoked OR origin IN (SELECT origin FROM evidence))"
"""An indicator row the match lists must not hold: revoked, or its origin quarantined (its
indicators were re-issued when it was)."""


def _connect(path: Path, *, cache_kib: int) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")  # a commit that returned survives power loss
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def _connect_writer(path: Path) -> sqlite3.Connection:
    conn = _connect(path, cache_kib=WRITER_CACHE_KIB)
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    return conn


class Store(FeedbackReads):
    """The node's database. Safe to share between threads; open one per process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._writer = Database(_connect_writer(path))
        with self._write_lock:
            migrations.apply(self._writer)
        # The WAL-index header: did anyone commit since? Opened now and closed after the writer
        # (node/store/commits.py says why): while this store is open, the descriptor is held.
        self.commits = CommitWatch(path)
        self.commits.look()
        self._bulk_guard = threading.Lock()
        self._bulk_loads = 0
        self._bulk_lock: int | None = None
        self._deferred_ids: DeferredIds | None = None  # while this process defers the id index
        self._builder: threading.Thread | None = None  # builds what a first sync deferred
        self._checkpointer: Checkpointer | None = None  # checkpoints while a first sync loads
        self._recover_deferred_indexes()  # a first sync that crashed left them unbuilt

    def close(self) -> None:
        """Close the writer connection (reader connections close with their threads), once the
        indexes a first sync deferred are built."""
        self.wait_for_indexes()
        self._writer.close()
        self.commits.close()  # after the writer: its descriptor's close releases this process's locks

    @contextmanager
    def bulk_load(self) -> Iterator[bool]:
        """A span of writes (a pull) during which an empty ``indicators`` table takes its rows
        before its secondary indexes (node/store/bulk.py). Yields whether they are deferred.

        When the last overlapping span of this process ends, a thread of this store builds them,
        one index per write transaction: the pull returns, and its indicators are matched, while
        they build (queries meanwhile scan). :meth:`wait_for_indexes` and :meth:`close` wait.
        The deferring process holds a lock file until they are built, so another process
        opening the store leaves the build to it, and builds them itself only when that process
        died."""
        with self._bulk_guard:
            if self._bulk_loads == 0 and self._bulk_lock is None:
                lock = bulk.claim(self.path)
                if lock is not None:
                    try:
                        with self.write():
                            if ID_INDEX in bulk.defer_indexes(self._writer.conn):
                                self._deferred_ids = DeferredIds()
                    except BaseException:
                        bulk.release(lock)
                        raise
                self._bulk_lock = lock
            self._bulk_loads += 1
            deferred = bool(self.deferred_indexes())
            if deferred and self._bulk_lock is not None and self._checkpointer is None:
                self._checkpoint_aside()
        try:
            yield deferred
        finally:
            with self._bulk_guard:
                self._bulk_loads -= 1
                if self._bulk_loads == 0 and self._checkpointer is not None:
                    self._checkpoint_inline()
                if self._bulk_loads == 0 and self._bulk_lock is not None and self._builder is None:
                    self._builder = threading.Thread(
                        target=self._build_deferred, name="accord-index-build", daemon=True
                    )
                    self._builder.start()

    def _checkpoint_aside(self) -> None:
        """While this process loads a first sync: checkpoints on a thread of their own
        (node/store/checkpoints.py), not inside the pulling thread's commits."""
        with self._write_lock:
            self._writer.conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._checkpointer = Checkpointer(self.path, watch=self.commits)

    def _checkpoint_inline(self) -> None:
        """The load is over: the writer's commits checkpoint again, as at open."""
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        with self._write_lock:
            self._writer.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")

    def _build_deferred(self) -> None:
        """The index builder's thread: each deferred index in its own transaction (the id index
        first), then the deferral's lock is released. A failure leaves the rest recorded: the
        next open of the store builds them."""
        try:
            while True:
                with self.write():
                    built = bulk.build_next(self._writer.conn)
                    if built == ID_INDEX:
                        self._deferred_ids = None
                if built is None:
                    break
        except Exception:
            log.exception("building the indexes a first sync deferred failed; the next open builds them")
        finally:
            with self._bulk_guard:
                self._deferred_ids = None
                if self._bulk_lock is not None:
                    bulk.release(self._bulk_lock)
                self._bulk_lock = None
                self._builder = None

    def wait_for_indexes(self, timeout: float | None = None) -> bool:
        """Wait until the indexes a first sync of this process deferred are built; False when
        ``timeout`` seconds passed first."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
            return not builder.is_alive()
        return True

    def build_deferred_indexes(self) -> int:
        """Build the indexes a first sync deferred (one transaction); returns how many."""
        with self.write():
            return bulk.build_deferred(self._writer.conn)

    def _recover_deferred_indexes(self) -> None:
        """Build what a first sync deferred when the process that deferred it is gone.

        Read on the writer: opening a reader connection here would leave this thread holding
        it after :meth:`close` (readers close with their threads), and a caller that reopens
        the file exclusively (a restore folding the WAL in) would find it locked."""
        with self._write_lock:
            pending = bulk.pending_indexes(self._writer.conn)
        if not pending:
            return
        lock = bulk.claim(self.path)
        if lock is None:
            return  # a live process is loading: it builds them when it is done
        try:
            self.build_deferred_indexes()
        finally:
            bulk.release(lock)

    def deferred_indexes(self) -> list[str]:
        """The indexes dropped for a first sync and not built yet."""
        return bulk.pending_indexes(self.reader)

    @contextmanager
    def write(self) -> Iterator[WriteTx]:
        """One write transaction: everything inside commits together or not at all."""
        with self._write_lock:
            conn = self._writer.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield WriteTx(conn, deferred_ids=self._deferred_ids)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def backup(self, target: Path) -> None:
        """Copy the database to ``target`` with SQLite's online backup API.

        The copy is one consistent snapshot even while this or another process writes: the
        backup reads inside one read transaction of a WAL database. ``target`` must not exist;
        it is written beside itself first and renamed, mode 0600 (it holds restricted hashes).
        """
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        source = _connect(self.path, cache_kib=READER_CACHE_KIB)
        copy = sqlite3.connect(str(partial))
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
        finally:
            copy.close()
            source.close()
        os.replace(partial, target)

    def restored_at(self) -> str | None:
        """When this database was restored from a backup, while its own head is unconfirmed."""
        row = self.reader.execute("SELECT restored_at FROM restore_state WHERE id = 1").fetchone()
        return None if row is None else str(row[0])

    @property
    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (WAL readers see the last committed state)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, cache_kib=READER_CACHE_KIB)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
        return conn

    # --- feeds ---------------------------------------------------------------------------

    def heads(self) -> dict[KeyId, Head]:
        """Every origin's head."""
        rows = self.reader.execute("SELECT origin, seq, digest FROM heads")
        return {KeyId(o): Head(origin=KeyId(o), seq=Seq(s), digest=Digest(d)) for o, s, d in rows}

    def head(self, origin: KeyId) -> Head | None:
        """One origin's head, if we hold any of its entries."""
        return self.heads().get(origin)

    def entries_after(self, origin: KeyId, after: Seq, *, limit: int) -> list[StoredEntry]:
        """Up to ``limit`` entries of ``origin`` with seq > ``after``, in seq order."""
        rows = self.reader.execute(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
            (origin, after, limit),
        )
        return [stored_entry_from_row(r) for r in rows]

    def distributions_after(
        self, origin: KeyId, after: Seq, *, limit: int
    ) -> list[tuple[Seq, Digest, str, frozenset[KeyId]]]:
        """(seq, digest, tlp, recipients) of up to ``limit`` entries after ``after``: what egress
        checks need, without reading the envelopes."""
        rows = self.reader.execute(
            "SELECT seq, digest, tlp, recipients FROM entries"
            " WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?",
            (origin, after, limit),
        )
        return [(Seq(s), Digest(d), t, frozenset(KeyId(k) for k in json.loads(r))) for s, d, t, r in rows]

    def missing_bodies(self, *, limit: int) -> list[tuple[KeyId, Seq, int]]:
        """(origin, seq, rounds missing) of held headers whose body has not arrived, oldest first."""
        rows = self.reader.execute(
            "SELECT origin, seq, missing_rounds FROM entries WHERE body IS NULL ORDER BY origin, seq LIMIT ?",
            (limit,),
        )
        return [(KeyId(o), Seq(s), int(r)) for o, s, r in rows]

    def unreadable_sealed(self, origin: KeyId, seqs: Iterable[Seq]) -> list[StoredEntry]:
        """Those of ``origin``'s entries at ``seqs`` whose sealed body we hold but could not open."""
        rows = self.reader.execute(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE origin = ? AND seq IN"  # noqa: S608 - a constant
            " (SELECT value FROM json_each(?)) AND sealed = 1 AND body IS NOT NULL AND readable = 0",
            (origin, json.dumps([int(s) for s in seqs])),
        )
        return [stored_entry_from_row(r) for r in rows]

    def encryption_statements(self) -> list[Envelope]:
        """The newest signed encryption-key statement we hold of each node (to pass on)."""
        rows = self.reader.execute(
            "SELECT statement_type, statement, statement_signatures FROM encryption_keys AS k"
            " WHERE statement IS NOT NULL AND announced = (SELECT MAX(announced) FROM encryption_keys"
            " WHERE node = k.node AND statement IS NOT NULL)"
        )
        return [
            Envelope(payload_type=t, payload=bytes(b), signatures=signatures_from_text(g)) for t, b, g in rows
        ]

    def group_entries(self, group: str) -> list[Seq]:
        """Our own entries that were addressed to sharing group ``group``, in seq order."""
        rows = self.reader.execute("SELECT seq FROM entry_groups WHERE name = ? ORDER BY seq", (group,))
        return [Seq(r[0]) for r in rows]

    def granted_unread(self) -> dict[KeyId, list[Seq]]:
        """Per origin, the seqs a grant opened to us whose sealed body we hold unread."""
        rows = self.reader.execute(
            "SELECT g.origin, g.seq FROM granted_keys AS g JOIN entries AS e"
            " ON e.origin = g.origin AND e.seq = g.seq WHERE e.readable = 0 AND e.body IS NOT NULL"
        )
        found: dict[KeyId, list[Seq]] = {}
        for origin, seq in rows:
            found.setdefault(KeyId(origin), []).append(Seq(seq))
        return found

    def granted_key(self, origin: KeyId, seq: Seq) -> bytes | None:
        """The content key a grant gave us for (origin, seq), if any."""
        row = self.reader.execute(
            "SELECT content_key FROM granted_keys WHERE origin = ? AND seq = ?", (origin, seq)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def encryption_keys(self) -> dict[KeyId, EncryptionKeyRecord]:
        """Each node's newest confirmed encryption key (by the time it announced it)."""
        rows = self.reader.execute(
            "SELECT node, key_id, key, announced, confirmed_at, source FROM encryption_keys"
            " ORDER BY node, announced"
        )
        return {
            KeyId(n): EncryptionKeyRecord(KeyId(n), KeyId(k), bytes(b), a, c, s) for n, k, b, a, c, s in rows
        }

    def evidence_count(self) -> int:
        """How many conflicting envelopes are kept as proof of equivocation."""
        return int(self.reader.execute("SELECT COUNT(*) FROM evidence").fetchone()[0])

    def quarantined_origins(self) -> set[KeyId]:
        """Origins we hold evidence of equivocation against: their signals never match."""
        return {KeyId(r[0]) for r in self.reader.execute("SELECT DISTINCT origin FROM evidence")}

    def evidence(self) -> list[EvidenceRecord]:
        """Every envelope kept as proof of equivocation, oldest first."""
        rows = self.reader.execute(
            "SELECT origin, seq, digest, payload_type, via, detected_at FROM evidence ORDER BY id"
        )
        return [EvidenceRecord(KeyId(o), Seq(s), d, t, v, at) for o, s, d, t, v, at in rows]

    def digest_at(self, origin: KeyId, seq: Seq) -> Digest | None:
        """The digest of the entry we hold at (origin, seq), if any."""
        row = self.reader.execute(
            "SELECT digest FROM entries WHERE origin = ? AND seq = ?", (origin, seq)
        ).fetchone()
        return None if row is None else Digest(row[0])

    def entry_at(self, origin: KeyId, seq: Seq) -> StoredEntry | None:
        """The entry we hold at (origin, seq), if any."""
        rows = self.entries_after(origin, Seq(seq - 1), limit=1)
        return rows[0] if rows and rows[0].seq == seq else None

    def peer_heads(self, origin: KeyId | None = None) -> list[PeerHead]:
        """Origin-signed heads as peers showed them to us (of one origin, or all), highest first."""
        sql = "SELECT origin, peer, seq, digest, payload_type, payload, signatures, signed FROM peer_heads"
        params: tuple[str, ...] = ()
        if origin is not None:
            sql += " WHERE origin = ?"
            params = (origin,)
        rows = self.reader.execute(sql + " ORDER BY seq DESC, peer", params)
        return [
            PeerHead(
                KeyId(o),
                p,
                Seq(s),
                d,
                Envelope(payload_type=t, payload=bytes(b), signatures=signatures_from_text(g)),
                at,
            )
            for o, p, s, d, t, b, g, at in rows
        ]

    # --- partners ------------------------------------------------------------------------

    def partners(self) -> list[Partner]:
        """Every pinned partner, by name."""
        rows = self.reader.execute(
            "SELECT name, key_id, public_key, endpoint, cert_fingerprint FROM partners ORDER BY name"
        )
        return [
            Partner(
                name=n,
                key_id=KeyId(k),
                public_key=bytes(p),
                endpoint=e,
                cert_fingerprint=None if c is None else CertFingerprint(c),
            )
            for n, k, p, e, c in rows
        ]

    def partner(self, name: str) -> Partner | None:
        """The partner pinned under ``name``."""
        return next((p for p in self.partners() if p.name == name), None)

    def sharing_groups(self) -> list[SharingGroup]:
        """Every sharing group with its members (partner names), by name."""
        rows = self.reader.execute(
            "SELECT g.name, m.partner FROM sharing_groups g"
            " LEFT JOIN sharing_group_members m ON m.group_name = g.name ORDER BY g.name, m.partner"
        )
        members: dict[str, list[str]] = {}
        for group, partner in rows:
            members.setdefault(group, []).extend([] if partner is None else [partner])
        return [SharingGroup(name=name, members=tuple(names)) for name, names in members.items()]

    def pinned_keys(self) -> dict[KeyId, bytes]:
        """Key id → raw public key of every pinned partner."""
        return {p.key_id: p.public_key for p in self.partners()}

    def sync_records(self) -> dict[str, SyncRecord]:
        """The last pull of each partner that has been pulled."""
        rows = self.reader.execute(
            "SELECT partner, last_attempt, last_success, last_result, last_error, received, rejected"
            " FROM sync_state"
        )
        return {r[0]: SyncRecord(*r) for r in rows}

    def rejection_counts(self) -> dict[str, int]:
        """Refused inputs counted by reason: refused items one row each, refused calls by the hour."""
        rows = self.reader.execute(
            "SELECT reason, SUM(n) FROM (SELECT reason, COUNT(*) AS n FROM rejections GROUP BY reason"
            " UNION ALL SELECT reason, SUM(count) FROM refused_calls GROUP BY reason)"
            " GROUP BY reason ORDER BY reason"
        )
        return {reason: int(count) for reason, count in rows}

    def known_rejections(self, reason: str, messages: Iterable[str]) -> set[str]:
        """Which of ``messages`` were already recorded under ``reason`` (compared as stored: the
        first 500 characters); a re-run refusing the same items again finds them here."""
        wanted = list(dict.fromkeys(m[:500] for m in messages))
        known: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.reader.execute(
                f"SELECT DISTINCT message FROM rejections WHERE reason = ? AND message IN ({marks})",  # noqa: S608
                (reason, *chunk),
            )
            known.update(row[0] for row in rows)
        return known

    def refused_call_samples(self) -> list[RefusedCall]:
        """The kept samples of refused partner calls, oldest first."""
        rows = self.reader.execute(
            "SELECT at, method, peer, reason, message FROM refused_call_samples ORDER BY id"
        )
        return [RefusedCall(*row) for row in rows]

    # --- indicators ----------------------------------------------------------------------

    def indicators_by_id(self, ids: Iterable[str]) -> dict[str, Indicator]:
        """The current versions of the given indicators."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Indicator] = {}
        deferred = self._deferred_ids
        if deferred is not None:
            # This process's first sync has not built the id index yet (a serving node matches
            # meanwhile): its rows are found by the change ids it stored, and only what that
            # misses (absent, or written since this snapshot) is looked for by scanning.
            asked = set(wanted)
            by_change = self._indicators_where("change_id", deferred.change_ids(wanted))
            found.update((i, indicator) for i, indicator in by_change.items() if i in asked)
            wanted = [i for i in wanted if i not in found]
        found.update(self._indicators_where("id", wanted))
        return self._with_notes(found)

    def _indicators_where(self, column: str, values: Sequence[object]) -> dict[str, Indicator]:
        """Indicators whose ``column`` (``id`` or ``change_id``) is one of ``values``, by id."""
        if column not in ("id", "change_id"):
            raise ValueError(f"not a key column: {column}")
        found: dict[str, Indicator] = {}
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.reader.execute(
                f"SELECT {INDICATOR_COLUMNS} FROM indicators WHERE {column} IN ({marks})",  # noqa: S608
                chunk,
            )
            found.update((row[0], indicator_from_row(row)) for row in rows)
        return found

    def with_notes(self, indicators: Sequence[Indicator]) -> list[Indicator]:
        """``indicators`` with their notes attached (reads that select rows themselves)."""
        found = self._with_notes({ind.id: ind for ind in indicators})
        return [found[ind.id] for ind in indicators]

    def _with_notes(self, found: dict[str, Indicator]) -> dict[str, Indicator]:
        """``found`` with each indicator's note (description, labels, attestation) attached,
        when one was stored for the very version held."""
        ids = list(found)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.reader.execute(
                f"SELECT id, modified, note FROM indicator_notes WHERE id IN ({marks})",  # noqa: S608
                chunk,
            )
            for id_, modified, text in rows:
                indicator = found[id_]
                if format_timestamp(indicator.modified) == modified:
                    found[id_] = replace(indicator, note=note_from_text(text))
        return found

    def indicators_with_signal(self, signal: Signal, *, origin: KeyId | None = None) -> list[Indicator]:
        """Indicators (any origin, or one) whose signal equals ``signal``.

        Uses the value index (matching goes through the match lists, not this).
        """
        sql = f"SELECT {INDICATOR_COLUMNS} FROM indicators WHERE {VALUE_MATCHES}"  # noqa: S608
        params: list[str] = list(value_params(signal.type.value, signal.value))
        if origin is not None:
            sql += " AND origin = ?"
            params.append(origin)
        return [indicator_from_row(r) for r in self.reader.execute(sql, params)]

    def local_indicators_with_signals(self, signals: Iterable[Signal]) -> dict[Signal, list[Indicator]]:
        """This node's own contributions listing each of ``signals``; signals without any are absent.

        Uses the index over local rows: one query per signal type, however many signals (the
        values travel as one JSON array).
        """
        values: dict[SignalType, list[str]] = {}
        for signal in signals:
            values.setdefault(signal.type, []).append(signal.value)
        found: dict[Signal, list[Indicator]] = {}
        for kind, wanted in values.items():
            rows = self.reader.execute(
                f"SELECT {INDICATOR_COLUMNS} FROM indicators WHERE local = 1"  # noqa: S608
                " AND signal_type = ? AND value IN (SELECT value FROM json_each(?))",
                (kind.value, json.dumps(wanted)),
            )
            by_id = self._with_notes({row[0]: indicator_from_row(row) for row in rows})
            for indicator in by_id.values():
                found.setdefault(indicator.signal, []).append(indicator)
        return found

    def iter_indicators(self, *, include_revoked: bool) -> Iterator[Indicator]:
        """Every indicator we hold, oldest first, streamed."""
        where = "" if include_revoked else " WHERE revoked = 0"
        sql = f"SELECT {INDICATOR_COLUMNS} FROM indicators{where} ORDER BY change_id"  # noqa: S608
        cursor = self.reader.execute(sql)
        for row in cursor:
            yield indicator_from_row(row)

    def record_matches(self, indicator_ids: Iterable[str]) -> None:
        """Count a local match of each indicator (the match log ``accord show`` and reports read)."""
        with self.write() as tx:
            tx.count_matches(indicator_ids, at=format_timestamp(utc_now()))

    def changes_since(self, change_id: int, *, limit: int) -> list[IndicatorChange]:
        """Indicator writes committed after ``change_id``, in commit order."""
        # A quarantined origin's indicators are inactive: they were re-issued when it was.
        rows = self.reader.execute(
            f"SELECT change_id, id, signal_type, value, {_INACTIVE}"  # noqa: S608
            " FROM indicators WHERE change_id > ? ORDER BY change_id LIMIT ?",
            (change_id, limit),
        )
        return [IndicatorChange(c, i, t, v, not r) for c, i, t, v, r in rows]

    def pdq_stretch_since(self, change_id: int, *, limit: int, pdq: str) -> PdqStretch | None:
        """The next ``limit`` rows of the change stream after ``change_id``, the active rows of
        signal type ``pdq`` as columns (for a bulk list load); None when there are none.

        Read in one snapshot (the three queries see the same commit). Indicator ids are
        ``indicator--<uuid4>`` (no spaces) and PDQ values 64 hex digits, so SQLite can join them.
        """
        conn = self.reader
        conn.execute("BEGIN")
        try:
            last = conn.execute(
                "SELECT max(change_id) FROM"
                " (SELECT change_id FROM indicators WHERE change_id > ? ORDER BY change_id LIMIT ?)",
                (change_id, limit),
            ).fetchone()[0]
            if last is None:
                return None
            ids, values = conn.execute(
                "SELECT group_concat(id, ' '), group_concat(value, '') FROM indicators"  # noqa: S608
                f" WHERE change_id > ? AND change_id <= ? AND signal_type = ? AND NOT {_INACTIVE}",
                (change_id, last, pdq),
            ).fetchone()
            others = conn.execute(
                f"SELECT change_id, id, signal_type, value, {_INACTIVE}"  # noqa: S608
                " FROM indicators WHERE change_id > ? AND change_id <= ? AND signal_type != ?"
                " ORDER BY change_id",
                (change_id, last, pdq),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        return PdqStretch(
            last_change_id=last,
            pdq_ids=ids.split(" ") if ids else [],
            pdq_hashes=bytes.fromhex(values) if values else b"",
            others=[IndicatorChange(c, i, t, v, not r) for c, i, t, v, r in others],
        )

    def active_changes_upto(
        self, change_id: int, signal_types: Sequence[str], *, batch: int
    ) -> Iterator[list[IndicatorChange]]:
        """Active indicators of ``signal_types`` with a change id up to ``change_id``, in
        batches in change order: the exact lists as they stood at that point of the stream."""
        marks = ",".join("?" * len(signal_types))
        sql = (
            "SELECT change_id, id, signal_type, value, revoked FROM indicators"  # noqa: S608
            f" WHERE change_id > ? AND change_id <= ? AND revoked = 0 AND signal_type IN ({marks})"
            " ORDER BY change_id LIMIT ?"
        )
        after = 0
        while rows := self.reader.execute(sql, (after, change_id, *signal_types, batch)).fetchall():
            yield [IndicatorChange(c, i, t, v, not r) for c, i, t, v, r in rows]
            after = rows[-1][0]

    def last_change_id(self) -> int:
        """The highest change id committed (0 for an empty store)."""
        row = self.reader.execute("SELECT MAX(change_id) FROM indicators").fetchone()
        return int(row[0] or 0)

    def counts(self) -> list[CountRow]:
        """Active indicators by origin, category and signal type."""
        rows = self.reader.execute(
            "SELECT origin, category, signal_type, COUNT(*) FROM indicators WHERE revoked = 0"
            " GROUP BY origin, category, signal_type ORDER BY origin, category, signal_type"
        )
        return [CountRow(KeyId(o), c, t, int(n)) for o, c, t, n in rows]

    def distributions_of(self, ids: Iterable[str]) -> dict[str, Distribution]:
        """The distribution of the entry that carried each indicator's current version."""
        found: dict[str, Distribution] = {}
        wanted = list(ids)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.reader.execute(
                "SELECT i.id, e.tlp, e.recipients FROM indicators i JOIN entries e"  # noqa: S608
                f" ON e.origin = i.origin AND e.seq = i.entry_seq WHERE i.id IN ({marks})",
                chunk,
            )
            for id_, tlp, recipients in rows:
                keys = frozenset(KeyId(k) for k in json.loads(recipients))
                found[id_] = Distribution(tlp=Tlp(tlp), recipients=keys)
        return found
