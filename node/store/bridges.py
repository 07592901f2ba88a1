"""Tables of the ecosystem bridges: the TAXII object catalogue, analysts, unsigned sources.

The catalogue is derived from ``entries`` (the objects exactly as their origins signed them)
and ordered by rowid: the rowid is the position a TAXII cursor remembers, and ``date_added``
never decreases along it, so no object can slip in behind a cursor.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from node.model import Indicator, KeyId, Seq, Tlp
from node.model.clock import format_timestamp, utc_now
from node.model.sources import Source, SourceKind, Trust
from node.store.codec import READABLE_BUNDLE, indicator_from_row, indicator_to_row
from node.store.database import Store
from node.store.transaction import WriteTx

log = logging.getLogger(__name__)

# Objects every bundle repeats and that carry no hash: the origin's name and the profile's
# extension definition. They are public node information and catalogued once, as CLEAR.
SHARED_TYPES = frozenset({"identity", "extension-definition", "marking-definition"})
_ENTRIES_PER_TX = 8  # entries catalogued per write transaction (up to 20,000 objects each)
_EXTENSION = "extension-definition--bfbda700-0675-470e-ad25-73a701ee516f"


@dataclass(frozen=True, slots=True)
class CatalogueRow:
    """One catalogued STIX object version and the distribution of the entry that carried it."""

    rowid: int
    object_id: str
    type: str
    version: str
    origin: KeyId
    category: str | None
    tlp: Tlp
    recipients: frozenset[KeyId]
    date_added: str
    object: str


@dataclass(frozen=True, slots=True)
class ObjectQuery:
    """SQL-side filters of a TAXII objects/manifest request (visibility is applied by the caller)."""

    origin: KeyId | None = None
    category: str | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ("last",)
    added_after: str | None = None
    shared_ids: tuple[str, ...] = ()  # objects every origin and category collection shows
    labels: tuple[str, ...] = ()  # match[label] (issue 15): indicators carrying any of them


def taxii_timestamp(moment: datetime) -> str:
    """A TAXII ``date_added``: UTC with microseconds, so it orders as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the catalogue -----------------------------------------------------------------------


def catalogue_is_behind(store: Store) -> bool:
    """True when some origin's head is ahead of what the catalogue holds (a cheap read)."""
    row = store.reader.execute(
        "SELECT 1 FROM heads h LEFT JOIN taxii_catalogued c ON c.origin = h.origin"
        " WHERE c.seq IS NULL OR c.seq < h.seq LIMIT 1"
    ).fetchone()
    return row is not None


Screen = Callable[[dict[str, Any], KeyId], "str | None"]
"""Why an origin may not publish a descriptive object (None: it may). Content rules only."""

DESCRIPTIVE_DROPPED = "descriptive_object_dropped"
"""The rejection counter's reason for a descriptive object left out of the catalogue."""


def catalogue_entries(
    store: Store,
    *,
    screen: Screen = lambda _obj, _origin: None,
    definitions: Mapping[str, dict[str, Any]] | None = None,
) -> int:
    """Add the objects of every entry not yet catalogued; returns how many rows were added.

    Works in transactions of at most ``_ENTRIES_PER_TX`` entries, so a large backlog (the first
    TAXII request on a node holding millions of indicators) never holds the writer for long.
    A descriptive object (identity, marking or extension definition) is left out, counted and
    named, when ``screen`` gives a reason, or when its id already belongs to another origin
    with other content: one origin never rewrites another's descriptive objects.
    ``definitions`` (TLP value → marking-definition) are catalogued before the first entry of
    each TLP, so TAXII readers get the definition of every marking they meet.
    """
    added = 0
    while True:
        with store.write() as tx:
            now = _not_before_last(tx, taxii_timestamp(utc_now()))
            behind = tx.execute(
                "SELECT h.origin, COALESCE(c.seq, 0) FROM heads h LEFT JOIN taxii_catalogued c"
                " ON c.origin = h.origin WHERE c.seq IS NULL OR c.seq < h.seq LIMIT 1"
            ).fetchone()
            if behind is None:
                return added
            added += _catalogue_origin(
                tx, behind[0], behind[1], date_added=now, screen=screen, definitions=definitions or {}
            )


def _not_before_last(tx: WriteTx, now: str) -> str:
    row = tx.execute("SELECT MAX(date_added) FROM taxii_objects").fetchone()
    return max(now, row[0]) if row[0] else now


def _catalogue_origin(
    tx: WriteTx,
    origin: str,
    after: int,
    *,
    date_added: str,
    screen: Screen,
    definitions: Mapping[str, dict[str, Any]],
) -> int:
    rows = tx.execute(
        f"SELECT seq, {READABLE_BUNDLE}, tlp, recipients FROM entries"  # noqa: S608 - a constant
        " WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?",
        (origin, after, _ENTRIES_PER_TX),
    ).fetchall()
    added = 0
    for seq, bundle, tlp, recipients in rows:
        if tlp in definitions:  # a no-op once the definition is catalogued
            added += _catalogue_object(
                tx, definitions[tlp], origin=origin, seq=seq, tlp=tlp, recipients="[]", date_added=date_added
            )
        # The body whose digest its signed header names (checked at ingest or made by our own
        # publish); NULL while missing or sealed to others. A body fetched later is catalogued
        # when it arrives (Store.attach_body resets the cursor below it).
        for obj in json.loads(bundle)["objects"] if bundle is not None else ():
            if obj.get("type") in SHARED_TYPES and _drop_descriptive(tx, obj, KeyId(origin), seq, screen):
                continue
            added += _catalogue_object(
                tx, obj, origin=origin, seq=seq, tlp=tlp, recipients=recipients, date_added=date_added
            )
        last = seq
    if rows:
        tx.execute(
            "INSERT INTO taxii_catalogued (origin, seq) VALUES (?, ?)"
            " ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq",
            (origin, last),
        )
    return added


def _drop_descriptive(tx: WriteTx, obj: dict[str, Any], origin: KeyId, seq: int, screen: Screen) -> bool:
    """True when ``origin`` may not publish ``obj``; the drop is logged and counted, by id."""
    reason = screen(obj, origin) or _owned_by_another(tx, obj, origin)
    if reason is None:
        return False
    message = f"{str(obj.get('id'))[:120]} left out of the TAXII catalogue: {reason}"
    log.warning("origin %s seq %d: %s", origin[:12], seq, message)
    tx.record_rejection(
        partner=None, origin=origin, seq=Seq(seq), reason=DESCRIPTIVE_DROPPED, message=message
    )
    return True


def _owned_by_another(tx: WriteTx, obj: dict[str, Any], origin: KeyId) -> str | None:
    """A reason when another origin catalogued this id first and ``obj`` is not that same object."""
    rows = tx.execute(
        "SELECT object FROM taxii_objects WHERE object_id = ? AND origin != ?", (obj.get("id"), origin)
    ).fetchall()
    if not rows or any(json.loads(row[0]) == obj for row in rows):  # compared as data: key order differs
        return None  # nobody else's, or the very object another origin published (a shared one)
    return "this id belongs to another origin's descriptive object"


def _catalogue_object(
    tx: WriteTx, obj: dict[str, Any], *, origin: str, seq: int, tlp: str, recipients: str, date_added: str
) -> int:
    kind = obj.get("type", "")
    shared = kind in SHARED_TYPES
    version = obj.get("modified") or obj.get("created") or "1970-01-01T00:00:00.000Z"
    category = obj.get("extensions", {}).get(_EXTENSION, {}).get("category") if not shared else None
    cursor = tx.execute(
        "INSERT OR IGNORE INTO taxii_objects (object_id, type, version, origin, seq, category, tlp,"
        " recipients, date_added, object) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            obj["id"],
            kind,
            version,
            origin,
            seq,
            category,
            Tlp.CLEAR.value if shared else tlp,
            "[]" if shared else recipients,
            date_added,
            json.dumps(obj, separators=(",", ":"), ensure_ascii=False),
        ),
    )
    return cursor.rowcount


_COLUMNS = "rowid, object_id, type, version, origin, category, tlp, recipients, date_added, object"


def catalogue_rows(store: Store, query: ObjectQuery, *, after: int, limit: int) -> list[CatalogueRow]:
    """Up to ``limit`` catalogue rows with rowid > ``after`` that pass the SQL-side filters."""
    where, params = _where(query)
    sql = f"SELECT {_COLUMNS} FROM taxii_objects o WHERE rowid > ?{where} ORDER BY rowid LIMIT ?"  # noqa: S608
    rows = store.reader.execute(sql, [after, *params, limit])
    return [_row(r) for r in rows]


def catalogue_groups(store: Store) -> Iterator[tuple[KeyId, str | None, Tlp, frozenset[KeyId]]]:
    """Each distinct (origin, category, tlp, recipients) the catalogue holds."""
    rows = store.reader.execute(
        "SELECT DISTINCT origin, category, tlp, recipients FROM taxii_objects WHERE type NOT IN"
        " ('identity', 'extension-definition', 'marking-definition')"
    )
    for origin, category, tlp, recipients in rows:
        yield KeyId(origin), category, Tlp(tlp), frozenset(KeyId(k) for k in json.loads(recipients))


def _where(query: ObjectQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    shared = json.dumps(list(query.shared_ids))
    for column, value in (("o.origin", query.origin), ("o.category", query.category)):
        if value is not None:
            clauses.append(f"({column} = ? OR o.object_id IN (SELECT value FROM json_each(?)))")  # noqa: S608
            params.extend([value, shared])
    for column, values in (("o.object_id", query.ids), ("o.type", query.types)):
        if values:
            clauses.append(f"{column} IN (SELECT value FROM json_each(?))")  # noqa: S608 (a constant)
            params.append(json.dumps(list(values)))
    if query.labels:
        # The labels of the version held (indicator_notes); an object carries them in ``labels``.
        clauses.append(
            "o.object_id IN (SELECT n.id FROM indicator_notes AS n, json_each(n.labels) AS l"
            " WHERE l.value IN (SELECT value FROM json_each(?)))"
        )
        params.append(json.dumps(list(query.labels)))
    if query.added_after is not None:
        clauses.append("o.date_added > ?")
        params.append(query.added_after)
    version = _version_clause(query.versions, params)
    if version:
        clauses.append(version)
    return "".join(f" AND {c}" for c in clauses), params


_NO_VERSION = (
    "NOT EXISTS (SELECT 1 FROM taxii_objects n WHERE n.object_id = o.object_id AND n.version %s o.version)"
)


def _version_clause(versions: Sequence[str], params: list[Any]) -> str | None:
    if "all" in versions:
        return None
    parts: list[str] = []
    if "last" in versions:
        parts.append(_NO_VERSION % ">")
    if "first" in versions:
        parts.append(_NO_VERSION % "<")
    stamps = [v for v in versions if v not in ("last", "first")]
    if stamps:
        parts.append("o.version IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(stamps))
    return "(" + " OR ".join(parts) + ")"


def _row(r: sqlite3.Row | tuple[Any, ...]) -> CatalogueRow:
    rowid, object_id, kind, version, origin, category, tlp, recipients, date_added, obj = r
    return CatalogueRow(
        rowid=rowid,
        object_id=object_id,
        type=kind,
        version=version,
        origin=KeyId(origin),
        category=category,
        tlp=Tlp(tlp),
        recipients=frozenset(KeyId(k) for k in json.loads(recipients)),
        date_added=date_added,
        object=obj,
    )


# --- analyst accounts (rows of http_accounts with role analyst, since m020) ----------------


@dataclass(frozen=True, slots=True)
class AnalystRecord:
    """An analyst account as stored: the token itself is never kept, only its hash."""

    name: str
    token_hash: str | None
    max_tlp: Tlp | None  # None: follows taxii.analyst_max_tlp
    partner: str | None
    added_at: str


def add_analyst(tx: WriteTx, record: AnalystRecord) -> None:
    """Store an analyst account. Raises sqlite3.IntegrityError when the name exists."""
    tx.execute(
        "INSERT INTO http_accounts (name, role, max_tlp, token_hash, partner, added_at)"
        " VALUES (?, 'analyst', ?, ?, ?, ?)",
        (
            record.name,
            _analyst_level(record),
            record.token_hash,
            record.partner,
            record.added_at,
        ),
    )


def _analyst_level(record: AnalystRecord) -> str | None:
    # A partner's account reads the HTTP API only within what any pinned partner may see.
    if record.partner is not None:
        return Tlp.GREEN.value
    return None if record.max_tlp is None else record.max_tlp.value


def remove_analyst(tx: WriteTx, name: str) -> bool:
    """Delete an analyst account (and its sessions); True when one was deleted."""
    tx.execute(
        "DELETE FROM http_sessions WHERE account IN"
        " (SELECT name FROM http_accounts WHERE name = ? AND role = 'analyst')",
        (name,),
    )
    return tx.execute("DELETE FROM http_accounts WHERE name = ? AND role = 'analyst'", (name,)).rowcount > 0


def analysts(store: Store) -> list[AnalystRecord]:
    """Every analyst account, by name."""
    rows = store.reader.execute(
        "SELECT name, token_hash, max_tlp, partner, added_at FROM http_accounts"
        " WHERE role = 'analyst' ORDER BY name"
    )
    return [
        AnalystRecord(n, h, None if t is None or p is not None else Tlp(t), p, a) for n, h, t, p, a in rows
    ]


# --- unsigned sources --------------------------------------------------------------------


def add_source(tx: WriteTx, source: Source) -> None:
    """Store a source (not its secret: see node.app.bridges). IntegrityError when the name exists."""
    tx.execute(
        "INSERT INTO sources (name, kind, url, collection, username, trust, category, origin,"
        " added_after, added_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            source.name,
            source.kind.value,
            source.url,
            source.collection,
            source.username,
            source.trust.value,
            source.category,
            source.origin,
            source.added_after,
            taxii_timestamp(utc_now()),
        ),
    )


def remove_source(tx: WriteTx, name: str) -> bool:
    """Delete a source and what it staged; its matched indicators stay as history."""
    tx.execute("DELETE FROM staged_indicators WHERE source = ?", (name,))
    return tx.execute("DELETE FROM sources WHERE name = ?", (name,)).rowcount > 0


def sources(store: Store) -> list[Source]:
    """Every source, by name."""
    rows = store.reader.execute(
        "SELECT name, kind, url, collection, username, trust, category, added_after FROM sources"
        " ORDER BY name"
    )
    return [
        Source(
            name=n,
            kind=SourceKind(k),
            url=u,
            collection=c,
            username=us,
            trust=Trust(t),
            category=cat,
            added_after=a,
        )
        for n, k, u, c, us, t, cat, a in rows
    ]


def set_source_trust(tx: WriteTx, name: str, trust: Trust) -> None:
    """Change a source's trust level."""
    tx.execute("UPDATE sources SET trust = ? WHERE name = ?", (trust.value, name))


def set_source_cursor(tx: WriteTx, name: str, added_after: str) -> None:
    """Remember how far a TAXII source has been read (it only moves forward)."""
    tx.execute(
        "UPDATE sources SET added_after = ? WHERE name = ? AND (added_after IS NULL OR added_after < ?)",
        (added_after, name, added_after),
    )


def stage_indicators(tx: WriteTx, source: str, indicators: Iterable[Indicator]) -> int:
    """Keep indicators aside (never matched); a newer version replaces an older one.

    Returns how many rows were written; a version that is not newer is left out.
    """
    written = 0
    for ind in indicators:
        cursor = tx.execute(
            "INSERT INTO staged_indicators (id, source, modified, revoked, row) VALUES (?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, revoked = excluded.revoked,"
            " row = excluded.row WHERE excluded.modified > staged_indicators.modified"
            " AND staged_indicators.revoked = 0",
            (
                ind.id,
                source,
                format_timestamp(ind.modified),
                int(ind.revoked),
                json.dumps(indicator_to_row(ind)),
            ),
        )
        written += cursor.rowcount
    return written


def staged_indicators(tx: WriteTx, source: str) -> list[Indicator]:
    """What ``source`` staged, oldest version first (read inside the transaction that moves them)."""
    rows = tx.execute("SELECT row FROM staged_indicators WHERE source = ? ORDER BY modified", (source,))
    return [indicator_from_row(json.loads(r[0])) for r in rows]


def staged_counts(store: Store) -> dict[str, int]:
    """Staged indicators per source."""
    rows = store.reader.execute("SELECT source, COUNT(*) FROM staged_indicators GROUP BY source")
    return {s: int(n) for s, n in rows}


def unstage(tx: WriteTx, source: str) -> None:
    """Forget what ``source`` staged (after it was accepted into the indicators)."""
    tx.execute("DELETE FROM staged_indicators WHERE source = ?", (source,))
