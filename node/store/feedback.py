"""Opinions, partner policies and compromise marks: the rows behind feedback and trust.

Mixed into :class:`~node.store.Store` (reads) and :class:`~node.store.WriteTx` (writes), so
they share the one writer and the per-thread readers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from node.model import (
    Compromise,
    KeyId,
    Opinion,
    OpinionValue,
    PartnerPolicy,
    Seq,
    Sighting,
    SignalType,
    SigningKey,
    Tlp,
    Trust,
)
from node.model.clock import format_timestamp, parse_timestamp, utc_now

_OPINION_COLUMNS = "id, origin, indicator_id, opinion, explanation, created, modified, revoked"
# Feedback carried by entries at or after a compromise mark on its author's key does not count.
_NOT_COMPROMISED = (
    " AND NOT EXISTS (SELECT 1 FROM compromised_keys c WHERE c.key_id = {t}.origin"
    " AND {t}.entry_seq >= c.from_seq)"
)
_UPSERT_OPINION = f"""
INSERT INTO opinions ({_OPINION_COLUMNS}, tlp, entry_seq) VALUES (?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (origin, indicator_id) DO UPDATE SET
    id = excluded.id, opinion = excluded.opinion, explanation = excluded.explanation,
    created = excluded.created, modified = excluded.modified, revoked = excluded.revoked,
    tlp = excluded.tlp, entry_seq = excluded.entry_seq
WHERE excluded.modified > opinions.modified   -- the author's later opinion replaces the earlier
"""  # noqa: S608 - constant column list


def _opinion_from_row(row: tuple[object, ...]) -> Opinion:
    id_, origin, indicator_id, value, explanation, created, modified, revoked = row
    return Opinion(
        id=str(id_),
        origin=KeyId(str(origin)),
        indicator_id=str(indicator_id),
        value=OpinionValue(value),
        explanation=None if explanation is None else str(explanation),
        created=parse_timestamp(str(created)),
        modified=parse_timestamp(str(modified)),
        revoked=bool(revoked),
    )


def _policy_from_row(row: tuple[object, ...]) -> PartnerPolicy:
    categories, signal_types, trust, share = row
    return PartnerPolicy(
        categories=None if categories is None else frozenset(json.loads(str(categories))),
        signal_types=None
        if signal_types is None
        else frozenset(SignalType(t) for t in json.loads(str(signal_types))),
        trust=Trust(trust),
        share_sightings=bool(share),
    )


@dataclass(frozen=True, slots=True)
class SightingTotal:
    """How often ``sighted_by`` reported matching one indicator, over all its sightings."""

    indicator_id: str
    sighted_by: KeyId
    count: int
    first_seen: datetime
    last_seen: datetime
    signal_type: str
    category: str


@dataclass(frozen=True, slots=True)
class MatchCount:
    """Our own matches of one indicator not yet published as a sighting."""

    indicator_id: str
    origin: KeyId | None  # the indicator's origin, once the store has looked it up
    count: int
    first_seen: datetime
    last_seen: datetime


class FeedbackReads:
    """Read queries over opinions, policies and compromise marks."""

    @property
    def reader(self) -> sqlite3.Connection:  # provided by Store
        raise NotImplementedError

    def opinions_about(self, indicator_ids: Iterable[str]) -> dict[str, list[Opinion]]:
        """The current, not withdrawn opinion of each author about each of ``indicator_ids``."""
        found: dict[str, list[Opinion]] = {}
        rows = self.reader.execute(
            f"SELECT {_OPINION_COLUMNS} FROM opinions WHERE revoked = 0"  # noqa: S608
            " AND indicator_id IN (SELECT value FROM json_each(?))" + _NOT_COMPROMISED.format(t="opinions"),
            (json.dumps(list(dict.fromkeys(indicator_ids))),),
        )
        for row in rows:
            opinion = _opinion_from_row(row)
            found.setdefault(opinion.indicator_id, []).append(opinion)
        return found

    def disputed_indicator_ids(self) -> frozenset[str]:
        """Indicators that another origin currently disputes (disagree or strongly-disagree)."""
        rows = self.reader.execute(  # the only text added is the constant _NOT_COMPROMISED
            "SELECT DISTINCT o.indicator_id FROM opinions o JOIN indicators i ON i.id = o.indicator_id"  # noqa: S608
            " WHERE o.revoked = 0 AND o.opinion IN ('disagree', 'strongly-disagree')"
            " AND o.origin != i.origin" + _NOT_COMPROMISED.format(t="o")
        )
        return frozenset(str(r[0]) for r in rows)

    def opinion_of(self, origin: KeyId, indicator_id: str) -> Opinion | None:
        """``origin``'s opinion about ``indicator_id`` (withdrawn ones included), if any."""
        row = self.reader.execute(
            f"SELECT {_OPINION_COLUMNS} FROM opinions WHERE origin = ? AND indicator_id = ?",  # noqa: S608
            (origin, indicator_id),
        ).fetchone()
        return None if row is None else _opinion_from_row(row)

    def feedback_on(self, origin: KeyId) -> list[tuple[Opinion, str, str]]:
        """Others' current opinions about ``origin``'s indicators, with each indicator's signal
        type and category, newest first."""
        rows = self.reader.execute(  # the only text added is the constant _NOT_COMPROMISED
            "SELECT o.id, o.origin, o.indicator_id, o.opinion, o.explanation, o.created, o.modified,"  # noqa: S608
            " o.revoked, i.signal_type, i.category FROM opinions o JOIN indicators i ON i.id = o.indicator_id"
            " WHERE i.origin = ? AND o.origin != ? AND o.revoked = 0"
            + _NOT_COMPROMISED.format(t="o")
            + " ORDER BY o.modified DESC",
            (origin, origin),
        )
        return [(_opinion_from_row(r[:8]), str(r[8]), str(r[9])) for r in rows]

    def partner_policies(self) -> dict[KeyId, PartnerPolicy]:
        """The acceptance policy set for each partner key that has one."""
        rows = self.reader.execute(
            "SELECT key_id, categories, signal_types, trust, share_sightings FROM partner_policies"
        )
        return {KeyId(r[0]): _policy_from_row(r[1:]) for r in rows}

    def compromises(self) -> dict[KeyId, Compromise]:
        """Every key the operator marked compromised, with the first feed position affected."""
        rows = self.reader.execute("SELECT key_id, from_seq, marked_at FROM compromised_keys")
        return {
            KeyId(k): Compromise(key_id=KeyId(k), from_seq=Seq(s), marked_at=parse_timestamp(m))
            for k, s, m in rows
        }

    def entry_seqs_of(self, indicator_ids: Iterable[str]) -> dict[str, int]:
        """The feed position of the entry that carried each indicator's current version."""
        rows = self.reader.execute(
            "SELECT id, entry_seq FROM indicators WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(dict.fromkeys(indicator_ids))),),
        )
        return {str(i): int(s) for i, s in rows}

    def sightings_on(self, origin: KeyId) -> list[SightingTotal]:
        """Others' sightings of ``origin``'s indicators, summed per indicator and sighting node."""
        rows = self.reader.execute(
            "SELECT s.indicator_id, s.origin, SUM(s.count), MIN(s.first_seen), MAX(s.last_seen),"  # noqa: S608
            " i.signal_type, i.category FROM sightings s JOIN indicators i ON i.id = s.indicator_id"
            " WHERE i.origin = ? AND s.origin != ?"
            + _NOT_COMPROMISED.format(t="s")
            + " GROUP BY s.indicator_id, s.origin"
            " ORDER BY MAX(s.last_seen) DESC",
            (origin, origin),
        )
        return [
            SightingTotal(
                indicator_id=str(r[0]),
                sighted_by=KeyId(str(r[1])),
                count=int(r[2]),
                first_seen=parse_timestamp(str(r[3])),
                last_seen=parse_timestamp(str(r[4])),
                signal_type=str(r[5]),
                category=str(r[6]),
            )
            for r in rows
        ]

    def caller_keys(self) -> dict[KeyId, bytes]:
        """Pinned identity → the public key that signs for it now (its latest rotated key, else
        the pinned key): what a partner's signed requests are verified with."""
        rows = self.reader.execute(
            "SELECT p.key_id, COALESCE((SELECT s.public_key FROM signing_keys s WHERE s.origin = p.key_id"
            " ORDER BY s.from_seq DESC LIMIT 1), p.public_key) FROM partners p"
        )
        return {KeyId(k): bytes(v) for k, v in rows}

    def signing_keys(self) -> dict[KeyId, SigningKey]:
        """Every key that signs for an origin since a rotation, by its own key id."""
        rows = self.reader.execute("SELECT key_id, origin, public_key, from_seq FROM signing_keys")
        return {
            KeyId(k): SigningKey(origin=KeyId(o), key_id=KeyId(k), public_key=bytes(p), from_seq=int(s))
            for k, o, p, s in rows
        }


class FeedbackWrites:
    """Writes inside one transaction (see :class:`~node.store.WriteTx`)."""

    _conn: sqlite3.Connection

    def upsert_opinions(self, opinions: Iterable[tuple[Opinion, Tlp]], *, entry_seq: Seq) -> None:
        """Store each opinion unless its author already holds a later one about that indicator."""
        self._conn.executemany(
            _UPSERT_OPINION,
            [
                (
                    o.id,
                    o.origin,
                    o.indicator_id,
                    o.value.value,
                    o.explanation,
                    format_timestamp(o.created),
                    format_timestamp(o.modified),
                    int(o.revoked),
                    tlp.value,
                    entry_seq,
                )
                for o, tlp in opinions
            ],
        )

    def set_partner_policy(self, key_id: KeyId, policy: PartnerPolicy) -> None:
        """Replace the acceptance policy of the partner with ``key_id``."""
        self._conn.execute(
            "INSERT OR REPLACE INTO partner_policies (key_id, categories, signal_types, trust,"
            " share_sightings, updated_at) VALUES (?,?,?,?,?,?)",
            (
                key_id,
                None if policy.categories is None else json.dumps(sorted(policy.categories)),
                None
                if policy.signal_types is None
                else json.dumps(sorted(t.value for t in policy.signal_types)),
                policy.trust.value,
                int(policy.share_sightings),
                format_timestamp(utc_now()),
            ),
        )

    def compromised_from(self, key_id: KeyId) -> Seq | None:
        """The first compromised feed position of ``key_id``, as of this transaction."""
        row = self._conn.execute(
            "SELECT from_seq FROM compromised_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
        return None if row is None else Seq(row[0])

    def mark_compromised(self, compromise: Compromise) -> None:
        """Record (or move) the operator's compromise mark on a key."""
        self._conn.execute(
            "INSERT OR REPLACE INTO compromised_keys (key_id, from_seq, marked_at) VALUES (?,?,?)",
            (compromise.key_id, compromise.from_seq, format_timestamp(compromise.marked_at)),
        )

    def add_match_counts(self, counts: Iterable[MatchCount]) -> None:
        """Fold counted matches into the pending counts (the origin is looked up when taken)."""
        self._conn.executemany(
            "INSERT INTO match_counts (indicator_id, count, first_seen, last_seen) VALUES (?,?,?,?)"
            " ON CONFLICT (indicator_id) DO UPDATE SET count = match_counts.count + excluded.count,"
            " first_seen = MIN(match_counts.first_seen, excluded.first_seen),"
            " last_seen = MAX(match_counts.last_seen, excluded.last_seen)",
            [
                (c.indicator_id, c.count, format_timestamp(c.first_seen), format_timestamp(c.last_seen))
                for c in counts
            ],
        )

    def take_match_counts(self, origins: Iterable[KeyId]) -> list[MatchCount]:
        """Remove and return the pending counts of indicators created by ``origins``."""
        rows = self._conn.execute(
            "SELECT m.indicator_id, i.origin, m.count, m.first_seen, m.last_seen FROM match_counts m"
            " JOIN indicators i ON i.id = m.indicator_id WHERE i.origin IN (SELECT value FROM json_each(?))"
            " ORDER BY i.origin, m.indicator_id",
            (json.dumps(sorted(origins)),),
        ).fetchall()
        self._conn.executemany("DELETE FROM match_counts WHERE indicator_id = ?", [(r[0],) for r in rows])
        return [
            MatchCount(
                indicator_id=str(r[0]),
                origin=KeyId(str(r[1])),
                count=int(r[2]),
                first_seen=parse_timestamp(str(r[3])),
                last_seen=parse_timestamp(str(r[4])),
            )
            for r in rows
        ]

    def add_sightings(self, sightings: Iterable[tuple[Sighting, Tlp]], *, entry_seq: Seq) -> None:
        """Store sightings carried by an accepted entry (each id once)."""
        self._conn.executemany(
            "INSERT OR IGNORE INTO sightings (id, origin, indicator_id, count, first_seen, last_seen,"
            " created, tlp, entry_seq) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    s.id,
                    s.origin,
                    s.indicator_id,
                    s.count,
                    format_timestamp(s.first_seen),
                    format_timestamp(s.last_seen),
                    format_timestamp(s.created),
                    tlp.value,
                    entry_seq,
                )
                for s, tlp in sightings
            ],
        )

    def current_signer(self, origin: KeyId) -> KeyId:
        """The key id that signs ``origin``'s next entry: its latest rotated key, else itself."""
        row = self._conn.execute(
            "SELECT key_id FROM signing_keys WHERE origin = ? ORDER BY from_seq DESC LIMIT 1", (origin,)
        ).fetchone()
        return origin if row is None else KeyId(row[0])

    def key_in_use(self, key_id: KeyId) -> bool:
        """True when ``key_id`` is a pinned partner's key or was announced by a rotation before:
        a rotation may not adopt a key that signs, or signed, for anyone."""
        row = self._conn.execute(
            "SELECT 1 FROM signing_keys WHERE key_id = ? UNION ALL SELECT 1 FROM partners WHERE key_id = ?",
            (key_id, key_id),
        ).fetchone()
        return row is not None

    def add_signing_key(self, key: SigningKey) -> None:
        """Record that ``key`` signs for its origin from ``key.from_seq`` on."""
        self._conn.execute(
            "INSERT INTO signing_keys (key_id, origin, public_key, from_seq) VALUES (?,?,?,?)",
            (key.key_id, key.origin, key.public_key, key.from_seq),
        )

    def clear_compromise(self, key_id: KeyId) -> bool:
        """Remove the compromise mark on ``key_id``; True when there was one."""
        return self._conn.execute("DELETE FROM compromised_keys WHERE key_id = ?", (key_id,)).rowcount > 0
