"""What may happen inside one write transaction (see :meth:`Store.write`).

Ingest and publish read the head, decide, and write entry + derived rows + new head here, so
all of it commits together or not at all (DESIGN §8).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache

from node.model import CertFingerprint, Digest, Envelope, Head, Indicator, KeyId, Partner, Seq, Tlp
from node.model.audit import AuditRecord
from node.model.clock import format_timestamp, utc_now
from node.store.bulk_ids import DeferredIds, build_id_index, id_index_exists
from node.store.codec import (
    INSERT_INDICATORS,
    ROW_PLACEHOLDERS,
    UpsertBatch,
    signatures_to_text,
    upsert_batch,
)
from node.store.feedback import FeedbackWrites
from node.store.records import RefusedCall, StoredBody

# The column list is a constant of this package, not input. Rows go in as multi-row VALUES:
# one statement (one step, GIL released throughout) per chunk instead of one per row, which
# keeps SQLite's work off the GIL while a pull prepares the next entry in another thread.
_UPSERT_TAIL = """
ON CONFLICT (id) DO UPDATE SET
    category = excluded.category, content_type = excluded.content_type, tlp = excluded.tlp,
    quality = excluded.quality, modified = excluded.modified, valid_until = excluded.valid_until,
    revoked = excluded.revoked, entry_seq = excluded.entry_seq, change_id = excluded.change_id
WHERE excluded.modified > indicators.modified      -- only a newer version replaces
  AND indicators.revoked = 0                       -- revocation is final (STIX 2.1 §3.5)
  AND excluded.origin = indicators.origin          -- only the creator versions its objects
  AND excluded.signal_type = indicators.signal_type
  AND excluded.value = indicators.value            -- a version never changes the signal
"""


_NOTE_UPSERT = """
INSERT OR REPLACE INTO indicator_notes (id, modified, category, labels, note)
SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM indicators WHERE id = ? AND modified = ?)
"""


@lru_cache(maxsize=8)
def _upsert_rows(count: int) -> str:
    """The upsert of ``count`` rows. Rows are applied in order, as separate inserts would be."""
    return INSERT_INDICATORS + ", ".join([ROW_PLACEHOLDERS] * count) + _UPSERT_TAIL


class WriteTx(FeedbackWrites):
    """A handle on an open ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: sqlite3.Connection, *, deferred_ids: DeferredIds | None = None) -> None:
        self._conn = conn
        # Set while this process's first sync defers the id index (node/store/bulk_ids.py).
        self._deferred_ids = deferred_ids

    def _ids_deferred_here(self) -> DeferredIds | None:
        """The ids this process stored while it defers the ``id`` index; None when the index is
        there to use. Another process's deferral (or a crashed one's) is ended here: the index
        is built in this transaction before anything relies on it."""
        ids = self._deferred_ids
        if ids is not None and ids.in_force(self._conn):
            return ids
        if not id_index_exists(self._conn):
            build_id_index(self._conn)
        return None

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """Run one statement inside this transaction (for the store's own modules)."""
        return self._conn.execute(sql, params)

    # --- feeds ---------------------------------------------------------------------------

    def head(self, origin: KeyId) -> Head | None:
        """The origin's head as of this transaction."""
        row = self._conn.execute("SELECT seq, digest FROM heads WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else Head(origin=origin, seq=Seq(row[0]), digest=Digest(row[1]))

    def digest_at(self, origin: KeyId, seq: Seq) -> Digest | None:
        """The digest of the entry we hold at (origin, seq), if any."""
        row = self._conn.execute(
            "SELECT digest FROM entries WHERE origin = ? AND seq = ?", (origin, seq)
        ).fetchone()
        return None if row is None else Digest(row[0])

    def is_quarantined(self, origin: KeyId) -> bool:
        """True once evidence of equivocation by ``origin`` is held."""
        row = self._conn.execute("SELECT 1 FROM evidence WHERE origin = ? LIMIT 1", (origin,)).fetchone()
        return row is not None

    def append_entry(
        self,
        *,
        origin: KeyId,
        seq: Seq,
        digest: Digest,
        prev: Digest | None,
        envelope: Envelope,
        tlp: Tlp,
        recipients: frozenset[KeyId],
        created: str,
        via: str | None,
        objects: int,
        body: StoredBody,
    ) -> None:
        """Store an accepted header envelope unchanged, with its body as far as we hold it, and
        advance the origin's head to it."""
        now = format_timestamp(utc_now())
        self._conn.execute(
            "INSERT INTO entries (origin, seq, digest, prev, payload_type, payload, signatures, tlp,"
            " recipients, created, received_at, via, objects, body, bundle, body_digest, body_size,"
            " sealed, readable) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                origin,
                seq,
                digest,
                prev,
                envelope.payload_type,
                envelope.payload,
                signatures_to_text(envelope),
                tlp.value,
                json.dumps(sorted(recipients)),
                created,
                now,
                via,
                objects,
                body.body,
                body.plaintext,
                body.digest,
                body.size,
                int(body.sealed),
                int(body.readable),
            ),
        )
        self._conn.execute(
            "INSERT INTO heads (origin, seq, digest, updated_at) VALUES (?,?,?,?) ON CONFLICT (origin)"
            " DO UPDATE SET seq = excluded.seq, digest = excluded.digest, updated_at = excluded.updated_at",
            (origin, seq, digest, now),
        )

    def attach_body(
        self,
        *,
        origin: KeyId,
        seq: Seq,
        body: bytes,
        plaintext: bytes | None,
        objects: int,
        audience: frozenset[KeyId] = frozenset(),
    ) -> bool:
        """Store a body that arrived after its header (checked against it by the caller).

        Returns False when the body was already held (another peer delivered it first). A
        readable body's objects are catalogued again from its seq on (TAXII, exports).
        """
        cursor = self._conn.execute(
            "UPDATE entries SET body = ?, bundle = ?, readable = ?, objects = ?, missing_rounds = 0,"
            " recipients = ? WHERE origin = ? AND seq = ? AND body IS NULL",
            (
                body,
                plaintext,
                int(plaintext is not None or not self._is_sealed(origin, seq)),
                objects,
                json.dumps(sorted(audience)),
                origin,
                seq,
            ),
        )
        if cursor.rowcount and (plaintext is not None or not self._is_sealed(origin, seq)):
            self._conn.execute(
                "UPDATE taxii_catalogued SET seq = MIN(seq, ?) WHERE origin = ?", (seq - 1, origin)
            )
        return cursor.rowcount > 0

    def open_held_body(
        self, *, origin: KeyId, seq: Seq, plaintext: bytes, objects: int, audience: frozenset[KeyId]
    ) -> None:
        """Record the plaintext of a sealed body we held but could not read until a grant."""
        self._conn.execute(
            "UPDATE entries SET bundle = ?, readable = 1, objects = ?, recipients = ?"
            " WHERE origin = ? AND seq = ?",
            (plaintext, objects, json.dumps(sorted(audience)), origin, seq),
        )
        self._conn.execute(
            "UPDATE taxii_catalogued SET seq = MIN(seq, ?) WHERE origin = ?", (seq - 1, origin)
        )

    def _is_sealed(self, origin: KeyId, seq: Seq) -> bool:
        row = self._conn.execute(
            "SELECT sealed FROM entries WHERE origin = ? AND seq = ?", (origin, seq)
        ).fetchone()
        return bool(row and row[0])

    def count_missing_round(self, keys: Iterable[tuple[KeyId, Seq]]) -> None:
        """One more sync round passed without these missing bodies arriving."""
        self._conn.executemany(
            "UPDATE entries SET missing_rounds = missing_rounds + 1"
            " WHERE origin = ? AND seq = ? AND body IS NULL",
            list(keys),
        )

    def record_encryption_key(
        self,
        *,
        node: KeyId,
        key_id: KeyId,
        key: bytes,
        announced: str,
        source: str,
        statement: Envelope | None = None,
    ) -> bool:
        """Remember ``node``'s X25519 key (signed by ``node`` at ``announced``, seen via ``source``).

        Returns True when the key is new to us. A newer statement replaces the one kept for
        the same key (it is what we pass on); an older one only refreshes nothing.
        """
        known = self._conn.execute(
            "SELECT announced FROM encryption_keys WHERE node = ? AND key_id = ?", (node, key_id)
        ).fetchone()
        if known is not None and known[0] >= announced:
            return False
        now = format_timestamp(utc_now())
        self._conn.execute(
            "INSERT INTO encryption_keys (node, key_id, key, announced, confirmed_at, source,"
            " statement_type, statement, statement_signatures) VALUES (?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (node, key_id) DO UPDATE SET announced = excluded.announced,"
            " confirmed_at = excluded.confirmed_at, source = excluded.source,"
            " statement_type = COALESCE(excluded.statement_type, statement_type),"
            " statement = COALESCE(excluded.statement, statement),"
            " statement_signatures = COALESCE(excluded.statement_signatures, statement_signatures)",
            (
                node,
                key_id,
                key,
                announced,
                now,
                source,
                statement.payload_type if statement else None,
                statement.payload if statement else None,
                signatures_to_text(statement) if statement else None,
            ),
        )
        return known is None

    def record_entry_groups(self, seqs: Iterable[Seq], groups: Iterable[str]) -> None:
        """Remember that our entries ``seqs`` were addressed to sharing ``groups``."""
        names = sorted(set(groups))
        self._conn.executemany(
            "INSERT OR IGNORE INTO entry_groups (seq, name) VALUES (?, ?)",
            [(seq, name) for seq in seqs for name in names],
        )

    def add_granted_key(self, *, origin: KeyId, seq: Seq, content_key: bytes) -> None:
        """Keep a content key granted to us for a body we do not hold (or hold sealed) yet."""
        self._conn.execute(
            "INSERT OR IGNORE INTO granted_keys (origin, seq, content_key) VALUES (?,?,?)",
            (origin, seq, content_key),
        )

    def add_evidence(
        self, *, origin: KeyId, seq: Seq, digest: Digest, envelope: Envelope, via: str | None
    ) -> None:
        """Keep a conflicting envelope as proof of equivocation (idempotent) and quarantine
        ``origin``: its indicators leave the match lists with the commit of this transaction."""
        if not self.is_quarantined(origin):
            self._withdraw_origin(origin)
        self._conn.execute(
            "INSERT OR IGNORE INTO evidence (origin, seq, digest, payload_type, payload, signatures, via,"
            " detected_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                origin,
                seq,
                digest,
                envelope.payload_type,
                envelope.payload,
                signatures_to_text(envelope),
                via,
                format_timestamp(utc_now()),
            ),
        )

    def _withdraw_origin(self, origin: KeyId) -> None:
        """Give every indicator of ``origin`` a fresh change id, so the change stream the match
        lists tail reports each once more; once evidence is held, it reports them inactive."""
        deferred = self._ids_deferred_here()
        if deferred is not None:  # its change ids are about to move under it
            deferred.end(self._conn, "an origin's indicators take new change ids")
        top, low = self._conn.execute(
            "SELECT COALESCE(MAX(change_id), 0), (SELECT MIN(change_id) FROM indicators WHERE origin = ?)"
            " FROM indicators",
            (origin,),
        ).fetchone()
        if low is None:
            return
        # Every new id lands above the current maximum, so no update collides with a row.
        self._conn.execute(
            "UPDATE indicators SET change_id = change_id + ? WHERE origin = ?", (top - low + 1, origin)
        )

    def record_peer_head(
        self,
        *,
        peer: str,
        origin: KeyId,
        seq: Seq,
        digest: Digest,
        envelope: Envelope,
        signed: str | None = None,
    ) -> None:
        """Remember the origin-signed head ``peer`` showed us (the latest one per origin and peer)."""
        self._conn.execute(
            "INSERT INTO peer_heads (origin, peer, seq, digest, payload_type, payload, signatures,"
            " received_at, signed) VALUES (?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (origin, peer) DO UPDATE SET seq = excluded.seq,"
            " digest = excluded.digest, payload_type = excluded.payload_type, payload = excluded.payload,"
            " signatures = excluded.signatures, received_at = excluded.received_at, signed = excluded.signed",
            (
                origin,
                peer,
                seq,
                digest,
                envelope.payload_type,
                envelope.payload,
                signatures_to_text(envelope),
                format_timestamp(utc_now()),
                signed,
            ),
        )

    # --- indicators ----------------------------------------------------------------------

    def foreign_indicator_ids(self, ids: Sequence[str], origin: KeyId) -> list[str]:
        """Those of ``ids`` that already belong to another origin (they may not be versioned)."""
        # One statement for the whole entry: the ids travel as one JSON array and each costs an
        # index probe inside SQLite (which also warms the pages the upsert is about to write).
        deferred = self._ids_deferred_here()
        if deferred is not None:
            wanted = set(ids)
            rows = self._conn.execute(
                "SELECT i.id FROM json_each(?) AS j JOIN indicators AS i ON i.change_id = j.value"
                " WHERE i.origin != ?",
                (json.dumps(deferred.change_ids(ids)), origin),
            )
            return [r[0] for r in rows if r[0] in wanted]
        rows = self._conn.execute(
            "SELECT i.id FROM json_each(?) AS j JOIN indicators AS i ON i.id = j.value WHERE i.origin != ?",
            (json.dumps(list(ids)), origin),
        )
        return [r[0] for r in rows]

    def upsert_indicators(
        self, indicators: Iterable[Indicator], *, entry_seq: Seq, local: bool = False
    ) -> None:
        """Insert new indicators and apply newer versions; each write gets a fresh change id.

        ``local`` marks this node's own contributions: only those can be looked up by signal.
        """
        self.upsert_indicators_counted(indicators, entry_seq=entry_seq, local=local)

    def upsert_indicators_counted(
        self, indicators: Iterable[Indicator], *, entry_seq: Seq, local: bool = False
    ) -> int:
        """:meth:`upsert_indicators`, returning how many rows it inserted or replaced.

        A version that is not newer, of a revoked indicator, of another origin's indicator, or
        with another signal is left out and not counted.
        """
        return self.upsert_batch(upsert_batch(list(indicators), entry_seq=entry_seq, local=local))

    def upsert_batch(self, batch: UpsertBatch) -> int:
        """:meth:`upsert_indicators_counted` of parameters built ahead (see :class:`UpsertBatch`)."""
        row = self._conn.execute("SELECT COALESCE(MAX(change_id), 0) FROM indicators").fetchone()
        deferred = self._ids_deferred_here()
        written = 0
        for rows, params in batch.assign_change_ids(row[0] + 1):
            done = None if deferred is None else deferred.upsert(self._conn, rows, params)
            if done is None:
                deferred = None
                done = self._conn.execute(_upsert_rows(rows), params).rowcount
            written += done
        if batch.notes and deferred is not None:
            deferred.write_notes(self._conn, batch.notes)
        elif batch.notes:
            # A note is kept only for the version the indicators table now holds (a version
            # the upsert refused leaves no note); reads pair a note with its version's modified.
            self._conn.executemany(_NOTE_UPSERT, [(*note, note[0], note[1]) for note in batch.notes])
        return written

    # --- restore ------------------------------------------------------------------------

    def mark_restored(self, *, source: str) -> None:
        """Record that this database came from a backup: publishing waits for the partners."""
        self._conn.execute("DELETE FROM restore_confirmations")
        self._conn.execute(
            "INSERT OR REPLACE INTO restore_state (id, restored_at, source) VALUES (1, ?, ?)",
            (format_timestamp(utc_now()), source),
        )

    def confirm_restore(self, partner: str) -> None:
        """``partner`` showed us its heads (our own feed's among them, if it holds any) since the
        restore. Whether that settles the restore is ``node.sync.restore``'s decision."""
        self._conn.execute(
            "INSERT OR REPLACE INTO restore_confirmations (partner, at) VALUES (?, ?)",
            (partner, format_timestamp(utc_now())),
        )

    def settle_restore(self) -> bool:
        """Forget the restore: publishing is allowed again. False when it was not restored."""
        settled = self._conn.execute("DELETE FROM restore_state").rowcount > 0
        self._conn.execute("DELETE FROM restore_confirmations")
        return settled

    # --- partners and bookkeeping -------------------------------------------------------

    def add_partner(self, partner: Partner) -> None:
        """Pin a partner. Raises sqlite3.IntegrityError when the name or key is pinned already."""
        self._conn.execute(
            "INSERT INTO partners (name, key_id, public_key, endpoint, cert_fingerprint, added_at)"
            " VALUES (?,?,?,?,?,?)",
            (
                partner.name,
                partner.key_id,
                partner.public_key,
                partner.endpoint,
                partner.cert_fingerprint,
                format_timestamp(utc_now()),
            ),
        )

    def set_partner_endpoint(self, name: str, endpoint: str | None) -> bool:
        """Change where a partner is pulled from (None: never pulled); True when it exists."""
        cursor = self._conn.execute("UPDATE partners SET endpoint = ? WHERE name = ?", (endpoint, name))
        return cursor.rowcount > 0

    def pin_certificate(self, name: str, fingerprint: CertFingerprint) -> bool:
        """Pin (or re-pin, after a rotation) a partner's TLS certificate; True when it exists."""
        cursor = self._conn.execute(
            "UPDATE partners SET cert_fingerprint = ? WHERE name = ?", (fingerprint, name)
        )
        return cursor.rowcount > 0

    def add_group_members(self, group: str, members: Iterable[str]) -> None:
        """Create ``group`` if needed and add ``members`` (partner names; IntegrityError if unknown)."""
        self._conn.execute(
            "INSERT INTO sharing_groups (name, added_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (group, format_timestamp(utc_now())),
        )
        self._conn.executemany(
            "INSERT INTO sharing_group_members (group_name, partner) VALUES (?, ?)"
            " ON CONFLICT (group_name, partner) DO NOTHING",
            [(group, member) for member in members],
        )

    def remove_group(self, group: str) -> bool:
        """Delete a sharing group (its memberships go with it); True when it existed."""
        return self._conn.execute("DELETE FROM sharing_groups WHERE name = ?", (group,)).rowcount > 0

    def remove_group_members(self, group: str, members: Iterable[str]) -> int:
        """Take ``members`` out of ``group``; how many were in it."""
        cursor = self._conn.executemany(
            "DELETE FROM sharing_group_members WHERE group_name = ? AND partner = ?",
            [(group, member) for member in members],
        )
        return cursor.rowcount

    def remove_partner(self, name: str) -> bool:
        """Unpin a partner; True when one was removed. Its entries stay as history."""
        cursor = self._conn.execute("DELETE FROM partners WHERE name = ?", (name,))
        self._conn.execute("DELETE FROM sync_state WHERE partner = ?", (name,))
        return cursor.rowcount > 0

    def record_rejection(
        self, *, partner: str | None, origin: KeyId | None, seq: Seq | None, reason: str, message: str
    ) -> None:
        """Count one refused input by reason. ``message`` must not contain hash values."""
        self._conn.execute(
            "INSERT INTO rejections (at, partner, origin, seq, reason, message) VALUES (?,?,?,?,?,?)",
            (format_timestamp(utc_now()), partner, origin, seq, reason, message[:500]),
        )

    def count_refused_calls(self, *, hour: str, counts: dict[str, int]) -> None:
        """Add refused partner calls, by reason, to the counts of ``hour`` (its start's timestamp)."""
        self._conn.executemany(
            "INSERT INTO refused_calls (hour, reason, count) VALUES (?,?,?)"
            " ON CONFLICT (hour, reason) DO UPDATE SET count = count + excluded.count",
            [(hour, reason, n) for reason, n in counts.items()],
        )

    def sample_refused_calls(self, samples: Iterable[RefusedCall], *, keep: int) -> None:
        """Keep ``samples`` of refused calls, and only the newest ``keep`` samples in all."""
        self._conn.executemany(
            "INSERT INTO refused_call_samples (at, method, peer, reason, message) VALUES (?,?,?,?,?)",
            [(s.at, s.method, s.peer[:100], s.reason, s.message[:500]) for s in samples],
        )
        self._conn.execute(
            "DELETE FROM refused_call_samples WHERE id <= (SELECT MAX(id) FROM refused_call_samples) - ?",
            (keep,),
        )

    def record_sync(
        self, *, partner: str, success: bool, result: str, error: str | None, received: int, rejected: int
    ) -> None:
        """Remember how the last pull from ``partner`` went."""
        now = format_timestamp(utc_now())
        self._conn.execute(
            "INSERT INTO sync_state (partner, last_attempt, last_success, last_result, last_error, received,"
            " rejected) VALUES (?,?,?,?,?,?,?) ON CONFLICT (partner) DO UPDATE SET"
            " last_attempt = excluded.last_attempt,"
            " last_success = COALESCE(excluded.last_success, sync_state.last_success),"
            " last_result = excluded.last_result, last_error = excluded.last_error,"
            " received = sync_state.received + excluded.received,"
            " rejected = sync_state.rejected + excluded.rejected",
            (partner, now, now if success else None, result, error, received, rejected),
        )

    # --- analyst bookkeeping -------------------------------------------------------------

    def last_audit(self) -> tuple[int, str] | None:
        """``(seq, row_hash)`` of the newest audit row, as of this transaction."""
        row = self._conn.execute("SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def append_audit(self, record: AuditRecord) -> None:
        """Append one audit row (its hash was computed over :meth:`last_audit`)."""
        self._conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, details, prev_hash, row_hash, signature)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (
                record.seq,
                record.at,
                record.actor,
                record.action,
                record.details,
                record.prev_hash,
                record.row_hash,
                record.signature,
            ),
        )

    def count_matches(self, indicator_ids: Iterable[str], *, at: str) -> None:
        """Count one local match of each indicator on the UTC day of ``at``."""
        self._conn.execute(
            "INSERT INTO match_log (indicator_id, day, count, last_at)"
            " SELECT value, substr(?1, 1, 10), 1, ?1 FROM json_each(?2) WHERE true"
            " ON CONFLICT (indicator_id, day) DO UPDATE SET count = count + 1, last_at = excluded.last_at",
            (at, json.dumps(list(indicator_ids))),
        )

    def add_match_log(self, counts: Iterable[tuple[str, str, int, str]]) -> None:
        """Add buffered local matches: ``(indicator_id, day, count, last_at)`` per indicator and
        UTC day (``YYYY-MM-DD``), ``last_at`` the latest match among them."""
        self._conn.executemany(
            "INSERT INTO match_log (indicator_id, day, count, last_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (indicator_id, day) DO UPDATE SET count = count + excluded.count,"
            " last_at = MAX(last_at, excluded.last_at)",
            counts,
        )
