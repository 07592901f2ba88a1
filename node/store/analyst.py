"""Reads for analysts: filtered indicator queries, provenance, match counts, audit rows, report
aggregates. Each function takes the store and uses its read connection (WAL snapshot)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from node.model import Indicator, KeyId
from node.model.audit import AuditRecord
from node.model.clock import format_timestamp
from node.model.queries import IndicatorQuery, IndicatorStatus, SortKey
from node.store.codec import (
    ENTRY_COLUMNS,
    INDICATOR_COLUMNS,
    READABLE_BUNDLE,
    VALUE_MATCHES,
    indicator_from_row,
    stored_entry_from_row,
    value_params,
)
from node.store.database import Store
from node.store.records import StoredEntry

# Ties break on change_id (the rowid): every index ends in it implicitly, so an index on
# (category, created) yields "category = ? ORDER BY created DESC, change_id DESC" with no sort.
_ORDER = {
    SortKey.NEWEST: "created DESC, change_id DESC",
    SortKey.OLDEST: "created, change_id",
    SortKey.MODIFIED: "modified DESC, change_id DESC",
    SortKey.CATEGORY: "category, created DESC, change_id DESC",
    SortKey.ORIGIN: "origin, created DESC, change_id DESC",
    SortKey.DISTANCE: "created DESC, change_id DESC",  # the distance order is applied after the scan
}


@dataclass(frozen=True, slots=True)
class StatusSets:
    """What SQL cannot know on its own: quarantined origins and disputed indicators."""

    now: datetime
    quarantined: frozenset[KeyId]
    disputed: frozenset[str]


def query_sql(
    query: IndicatorQuery, sets: StatusSets, *, table: str = "indicators", columns: str = INDICATOR_COLUMNS
) -> tuple[str, list[Any]]:
    """The SELECT answering ``query`` (without the near-duplicate distance), and its parameters.

    ``table`` lets the benchmark run the same statement against ``indicators NOT INDEXED``.
    A near-duplicate search selects every PDQ row passing the other filters; the caller
    measures distances and applies the limit.
    """
    where, params = _filters(query, sets)
    sql = f"SELECT {columns} FROM {table}"  # noqa: S608 - constants of this module
    if where:
        sql += " WHERE " + " AND ".join(where)
    if query.near is None:
        sql += " ORDER BY " + _ORDER[query.sort] + " LIMIT ?"
        params.append(query.limit + 1)  # one more than asked tells the caller it was truncated
    # A near-duplicate scan reads in table order (sequential pages, not index-ordered random
    # reads: 10x faster here); the few hits are ordered afterwards.
    return sql, params


def _filters(query: IndicatorQuery, sets: StatusSets) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []

    def one_of(column: str, values: Iterable[str]) -> None:
        # "= ?" for one value: SQLite then reads the (column, created) index in order and stops
        # at the limit; a list makes it sort every matching row (30 ms instead of 0.05 ms here).
        chosen = sorted(values)
        if len(chosen) == 1:
            where.append(f"{column} = ?")
        else:
            where.append(f"{column} IN ({', '.join('?' * len(chosen))})")
        params.extend(chosen)

    if query.signal is not None:
        where.append(VALUE_MATCHES)
        params += value_params(query.signal.type.value, query.signal.value)
    if query.near is not None:
        where.append("signal_type = 'pdq'")
    if query.categories:
        one_of("category", query.categories)
    if query.origins:
        one_of("origin", query.origins)
    if query.tlps:
        one_of("tlp", (t.value for t in query.tlps))
    if not query.include_red:
        where.append("tlp != 'red'")
    if query.content_types:
        one_of("content_type", (c.value for c in query.content_types))
    if query.since is not None:
        where.append("created >= ?")
        params.append(format_timestamp(query.since))
    if query.until is not None:
        where.append("created < ?")
        params.append(format_timestamp(query.until))
    for label in sorted(query.labels):
        # Every label asked for, on the note of the version held (issue 15).
        where.append(
            "id IN (SELECT n.id FROM indicator_notes AS n, json_each(n.labels) AS l"
            " WHERE l.value = ? AND n.modified = indicators.modified)"
        )
        params.append(label)
    if query.statuses:
        clauses = [_status_clause(s, sets, params) for s in sorted(query.statuses, key=lambda s: s.value)]
        where.append("(" + " OR ".join(clauses) + ")")
    return where, params


def _status_clause(status: IndicatorStatus, sets: StatusSets, params: list[Any]) -> str:
    """SQL for one status; the conditions mirror :func:`node.model.queries.status_of`."""
    quarantined = json.dumps(sorted(sets.quarantined))
    now = format_timestamp(sets.now)
    in_force = "revoked = 0 AND origin NOT IN (SELECT value FROM json_each(?))"
    current = f"{in_force} AND (valid_until IS NULL OR valid_until > ?)"
    if status is IndicatorStatus.REVOKED:
        return "revoked = 1"
    if status is IndicatorStatus.QUARANTINED:
        params.append(quarantined)
        return "(revoked = 0 AND origin IN (SELECT value FROM json_each(?)))"
    if status is IndicatorStatus.EXPIRED:
        params += [quarantined, now]
        return f"({in_force} AND valid_until <= ?)"
    params += [quarantined, now, json.dumps(sorted(sets.disputed))]
    negate = "" if status is IndicatorStatus.DISPUTED else "NOT "
    return f"({current} AND id {negate}IN (SELECT value FROM json_each(?)))"  # noqa: S608


def select_indicators(store: Store, query: IndicatorQuery, sets: StatusSets) -> list[Indicator]:
    """The indicators ``query`` selects (see :func:`query_sql`)."""
    sql, params = query_sql(query, sets)
    return [indicator_from_row(row) for row in store.reader.execute(sql, params)]


def pdq_candidates(store: Store, query: IndicatorQuery, sets: StatusSets) -> list[tuple[str, str]]:
    """``(id, value)`` of every PDQ row passing the query's other filters (for a distance scan)."""
    sql, params = query_sql(query, sets, columns="id, value")
    return [(r[0], r[1]) for r in store.reader.execute(sql, params)]


def quarantined_origins(store: Store) -> frozenset[KeyId]:
    """Origins we hold equivocation evidence for."""
    return frozenset(KeyId(r[0]) for r in store.reader.execute("SELECT DISTINCT origin FROM evidence"))


def indicators_with_value(store: Store, signal_type: str, value: str) -> list[Indicator]:
    """Every indicator (any origin, any status) listing this signal: uses the value index."""
    rows = store.reader.execute(
        f"SELECT {INDICATOR_COLUMNS} FROM indicators WHERE {VALUE_MATCHES}",  # noqa: S608
        value_params(signal_type, value),
    )
    return [indicator_from_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """A stored entry with the bookkeeping provenance needs."""

    entry: StoredEntry
    bundle: bytes | None  # the readable bundle (plaintext of a sealed body we could open)
    digest: str
    created: str
    received_at: str
    via: str | None


def entries_mentioning(store: Store, indicator: Indicator, *, margin: timedelta) -> list[EntryRecord]:
    """Entries of the indicator's origin whose signed payload names it, in seq order.

    Candidates are the origin's entries created from ``margin`` before the indicator's
    ``created`` up to the entry holding its current version (found through an index on entry
    times); only their payloads are byte-searched for the id. No per-version table, so this
    costs nothing at ingest. The caller verifies and parses each payload and keeps only the
    entries that really carry the indicator.
    """
    row = store.reader.execute("SELECT entry_seq FROM indicators WHERE id = ?", (indicator.id,)).fetchone()
    if row is None:
        return []
    rows = store.reader.execute(
        f"SELECT {ENTRY_COLUMNS}, {READABLE_BUNDLE}, digest, created,"  # noqa: S608 - constants
        " received_at, via FROM entries WHERE origin = ? AND seq IN (SELECT seq FROM entries"
        f" WHERE origin = ? AND created >= ? AND seq <= ?) AND instr({READABLE_BUNDLE}, ?) > 0 ORDER BY seq",
        (
            indicator.origin,
            indicator.origin,
            format_timestamp(indicator.created - margin),
            row[0],
            json.dumps(indicator.id).encode(),
        ),
    )
    return [
        EntryRecord(
            entry=stored_entry_from_row(r[:9]),
            bundle=None if r[9] is None else bytes(r[9]),
            digest=r[10],
            created=r[11],
            received_at=r[12],
            via=r[13],
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class MatchCount:
    """How often one indicator matched locally."""

    count: int
    first_day: str
    last_at: str


def match_counts(store: Store, ids: Iterable[str]) -> dict[str, MatchCount]:
    """Local match counts of the given indicators (absent: never matched here)."""
    rows = store.reader.execute(
        "SELECT indicator_id, SUM(count), MIN(day), MAX(last_at) FROM match_log"
        " WHERE indicator_id IN (SELECT value FROM json_each(?)) GROUP BY indicator_id",
        (json.dumps(list(ids)),),
    )
    return {i: MatchCount(int(n), first, last) for i, n, first, last in rows}


def audit_records(store: Store, *, since: datetime | None = None) -> list[AuditRecord]:
    """Audit rows in stored order (all of them, or those at or after ``since``)."""
    sql = "SELECT seq, at, actor, action, details, prev_hash, row_hash, signature FROM audit_log"
    params: list[Any] = []
    if since is not None:
        sql += " WHERE at >= ?"
        params.append(format_timestamp(since))
    rows = store.reader.execute(sql + " ORDER BY rowid", params)
    return [AuditRecord(*row) for row in rows]


def active_exact_signals(store: Store) -> Iterable[tuple[str, str, str]]:
    """``(id, signal_type, value)`` of every unrevoked md5 / sha1 / sha256 indicator (streamed)."""
    return store.reader.execute(
        "SELECT id, signal_type, value FROM indicators"
        " WHERE revoked = 0 AND signal_type IN ('md5', 'sha1', 'sha256')"
    )


def period_counts(store: Store, name: str, since: datetime, until: datetime) -> list[tuple[Any, ...]]:
    """Rows of the report aggregate ``name`` over ``[since, until)``.

    The match log counts per UTC day, so ``matches`` covers the days from ``since``'s to the
    day of the period's last millisecond.
    """
    if name == "matches":
        last = until - timedelta(milliseconds=1)
        bounds = (since.date().isoformat(), last.date().isoformat())
    else:
        bounds = (format_timestamp(since), format_timestamp(until))
    return list(store.reader.execute(REPORT_SQL[name], bounds))


REPORT_SQL = {
    # Indicators first published in the period: ours (local) and partners' (received).
    "published": "SELECT local, origin, category, tlp = 'red', COUNT(*) FROM indicators"
    " WHERE created >= ? AND created < ? GROUP BY local, origin, category, tlp = 'red'",
    # Revocations: revoked versions made in the period.
    "revoked": "SELECT origin, category, COUNT(*) FROM indicators"
    " WHERE revoked = 1 AND modified >= ? AND modified < ? GROUP BY origin, category",
    # Local matches by the category of the matched indicator.
    "matches": "SELECT i.category, SUM(m.count), COUNT(DISTINCT m.indicator_id) FROM match_log m"
    " JOIN indicators i ON i.id = m.indicator_id WHERE m.day >= ? AND m.day <= ? GROUP BY i.category",
    # Refused input per partner and reason.
    # Refused calls are counted by the hour (an hour counts in the period it starts in).
    "refused": "SELECT p, reason, SUM(n) FROM (SELECT COALESCE(partner, '-') AS p, reason, COUNT(*) AS n"
    " FROM rejections WHERE at >= ?1 AND at < ?2 GROUP BY partner, reason UNION ALL SELECT '-', reason,"
    " SUM(count) FROM refused_calls WHERE hour >= ?1 AND hour < ?2 GROUP BY reason) GROUP BY p, reason",
    # Entries received from peers, by the peer that delivered them.
    "entries": "SELECT via, COUNT(*), MAX(received_at) FROM entries"
    " WHERE via IS NOT NULL AND received_at >= ? AND received_at < ? GROUP BY via",
    "audit": "SELECT action, COUNT(*) FROM audit_log WHERE at >= ? AND at < ? GROUP BY action",
    # Current disputes (disagree / strongly-disagree, not withdrawn) stated in the period, by
    # author and by the disputed indicator's origin and category (unknown when not held here).
    "disputes": "SELECT o.origin, COALESCE(i.origin, ''), COALESCE(i.category, ''), COUNT(*)"
    " FROM opinions o LEFT JOIN indicators i ON i.id = o.indicator_id"
    " WHERE o.revoked = 0 AND o.opinion IN ('disagree', 'strongly-disagree')"
    " AND o.modified >= ? AND o.modified < ? GROUP BY o.origin, i.origin, i.category",
}
