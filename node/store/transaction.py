"""What may happen inside one write transaction (see :meth:`Store.write`).

Ingest and publish read the head, decide, and write entry + derived rows + new head here, so
all of it commits together or not at all (DESIGN §8).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain

from node.model import Digest, Envelope, Head, Indicator, KeyId, Partner, Seq, Tlp
from node.model.clock import format_timestamp, utc_now
from node.store.codec import INDICATOR_COLUMNS, indicator_rows, signatures_to_text
from node.store.feedback import FeedbackWrites

# The column list is a constant of this package, not input. Rows go in as multi-row VALUES:
# one statement (one step, GIL released throughout) per chunk instead of one per row, which
# keeps SQLite's work off the GIL while a pull prepares the next entry in another thread.
_ROW = "(" + ", ".join("?" * 15) + ")"
_UPSERT_HEAD = f"INSERT INTO indicators ({INDICATOR_COLUMNS}, entry_seq, change_id, local) VALUES "  # noqa: S608
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
_ROWS_PER_STATEMENT = 2000  # 30,000 variables: below SQLite's default limit of 32,766


@lru_cache(maxsize=8)
def _upsert_rows(count: int) -> str:
    """The upsert of ``count`` rows. Rows are applied in order, as separate inserts would be."""
    return _UPSERT_HEAD + ", ".join([_ROW] * count) + _UPSERT_TAIL


class WriteTx(FeedbackWrites):
    """A handle on an open ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

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
    ) -> None:
        """Store an accepted envelope unchanged and advance the origin's head to it."""
        now = format_timestamp(utc_now())
        self._conn.execute(
            "INSERT INTO entries (origin, seq, digest, prev, payload_type, payload, signatures, tlp,"
            " recipients, created, received_at, via, objects) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
            ),
        )
        self._conn.execute(
            "INSERT INTO heads (origin, seq, digest, updated_at) VALUES (?,?,?,?) ON CONFLICT (origin)"
            " DO UPDATE SET seq = excluded.seq, digest = excluded.digest, updated_at = excluded.updated_at",
            (origin, seq, digest, now),
        )

    def add_evidence(
        self, *, origin: KeyId, seq: Seq, digest: Digest, envelope: Envelope, via: str | None
    ) -> None:
        """Keep a conflicting envelope as proof of equivocation (idempotent)."""
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

    # --- indicators ----------------------------------------------------------------------

    def foreign_indicator_ids(self, ids: Sequence[str], origin: KeyId) -> list[str]:
        """Those of ``ids`` that already belong to another origin (they may not be versioned)."""
        # One statement for the whole entry: the ids travel as one JSON array and each costs an
        # index probe inside SQLite (which also warms the pages the upsert is about to write).
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
        row = self._conn.execute("SELECT COALESCE(MAX(change_id), 0) FROM indicators").fetchone()
        rows = list(indicator_rows(indicators, entry_seq=entry_seq, first=row[0] + 1, local=local))
        written = 0
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            cursor = self._conn.execute(_upsert_rows(len(chunk)), list(chain.from_iterable(chunk)))
            written += cursor.rowcount
        return written

    # --- partners and bookkeeping -------------------------------------------------------

    def add_partner(self, partner: Partner) -> None:
        """Pin a partner. Raises sqlite3.IntegrityError when the name or key is pinned already."""
        self._conn.execute(
            "INSERT INTO partners (name, key_id, public_key, endpoint, added_at) VALUES (?,?,?,?,?)",
            (partner.name, partner.key_id, partner.public_key, partner.endpoint, format_timestamp(utc_now())),
        )

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
