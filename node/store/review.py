"""The review queue's rows: items, their matches, decisions, appeals, the reviewers' safelist
and flood protection (counts per indicator and minute, and holds). Written in the caller's
transaction (:class:`WriteTx`), read through the store's per-thread readers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from node.model import KeyId, Signal, Tlp, Trust
from node.model.clock import format_timestamp, parse_timestamp
from node.model.review import (
    Appeal,
    AppealOutcome,
    ContentRef,
    Decision,
    FloodHold,
    ItemStatus,
    ReviewDecision,
    ReviewItem,
    ReviewMatch,
)
from node.store.database import Store
from node.store.transaction import WriteTx

_ITEM = "id, content_id, content_url, status, created_at, updated_at"
_MATCH = "item_id, indicator_id, origin, origin_name, category, tlp, signal_type, distance, trust, reasons"
_DECISION = (
    "id, item_id, decision, reason, reviewer, decided_at, opinion_ids, safelisted, appeal_id,"
    " undone_at, undone_by"
)
_APPEAL = (
    "id, content_id, item_id, statement, submitted_by, submitted_at, outcome, decided_by, decided_at, reason"
)
_HOLD = "indicator_id, origin, category, held_at, in_window, in_baseline"


# --- items ------------------------------------------------------------------------------------


def waiting_item_of(tx: WriteTx, content_id: str) -> int | None:
    """The id of the content's item still in the queue, if any (one per piece of content)."""
    row = tx.execute(
        "SELECT id FROM review_items WHERE content_id = ? AND status != 'decided' ORDER BY id DESC LIMIT 1",
        (content_id,),
    ).fetchone()
    return None if row is None else int(row[0])


def insert_item(tx: WriteTx, content: ContentRef, *, at: datetime) -> int:
    """A new open item for ``content``; returns its id."""
    stamp = format_timestamp(at)
    cursor = tx.execute(
        "INSERT INTO review_items (content_id, content_url, status, created_at, updated_at)"
        " VALUES (?, ?, 'open', ?, ?)",
        (content.id, content.url, stamp, stamp),
    )
    return int(cursor.lastrowid or 0)


def add_item_matches(tx: WriteTx, item_id: int, matches: Sequence[tuple[ReviewMatch, Signal]]) -> None:
    """Add (or refresh, merging reasons) the item's matches with the query signal of each."""
    for match, query in matches:
        held = tx.execute(
            "SELECT reasons FROM review_matches WHERE item_id = ? AND indicator_id = ?",
            (item_id, match.indicator_id),
        ).fetchone()
        reasons = list(dict.fromkeys([*(json.loads(held[0]) if held else []), *match.reasons]))
        tx.execute(
            f"INSERT OR REPLACE INTO review_matches ({_MATCH}, query_signal)"  # noqa: S608 - constants
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                item_id,
                match.indicator_id,
                match.origin,
                match.origin_name,
                match.category,
                match.tlp.value,
                match.signal_type,
                match.distance,
                match.trust.value,
                json.dumps(reasons),
                str(query),
            ),
        )


def set_item_status(tx: WriteTx, item_id: int, status: ItemStatus, *, at: datetime) -> None:
    """Move an item to ``status``."""
    tx.execute(
        "UPDATE review_items SET status = ?, updated_at = ? WHERE id = ?",
        (status.value, format_timestamp(at), item_id),
    )


def claim_item(tx: WriteTx, item_id: int, *, expected: ItemStatus, to: ItemStatus, at: datetime) -> bool:
    """Move an item from ``expected`` to ``to``; False when its status was no longer ``expected``
    (another reviewer decided it first)."""
    cursor = tx.execute(
        "UPDATE review_items SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
        (to.value, format_timestamp(at), item_id, expected.value),
    )
    return cursor.rowcount > 0


def query_signals(tx: WriteTx, item_id: int) -> list[Signal]:
    """The distinct query signals of an item's matches (for the local safelist only)."""
    rows = tx.execute("SELECT DISTINCT query_signal FROM review_matches WHERE item_id = ?", (item_id,))
    return [Signal.parse(r[0]) for r in rows]


def item(store: Store, item_id: int) -> ReviewItem | None:
    """One item with its matches, decisions and appeals."""
    found = items_by_id(store, [item_id])
    return found[0] if found else None


def waiting_ids(store: Store) -> list[int]:
    """Ids of every item in the queue."""
    return [int(r[0]) for r in store.reader.execute("SELECT id FROM review_items WHERE status != 'decided'")]


def items_by_id(store: Store, ids: Sequence[int]) -> list[ReviewItem]:
    """The items with these ids (in id order), whole."""
    if not ids:
        return []
    wanted = json.dumps(list(ids))
    reader = store.reader
    pick = " IN (SELECT value FROM json_each(?))"
    heads = list(reader.execute(f"SELECT {_ITEM} FROM review_items WHERE id{pick} ORDER BY id", (wanted,)))  # noqa: S608
    matches: dict[int, list[ReviewMatch]] = {}
    sql = f"SELECT {_MATCH} FROM review_matches WHERE item_id{pick}"  # noqa: S608 - constants
    for row in reader.execute(sql, (wanted,)):
        matches.setdefault(int(row[0]), []).append(_match(row))
    decisions: dict[int, list[ReviewDecision]] = {}
    sql = f"SELECT {_DECISION} FROM review_decisions WHERE item_id{pick} ORDER BY id"  # noqa: S608
    for row in reader.execute(sql, (wanted,)):
        decisions.setdefault(int(row[1]), []).append(_decision(row))
    appeals: dict[int, list[Appeal]] = {}
    sql = f"SELECT {_APPEAL} FROM review_appeals WHERE item_id{pick} ORDER BY id"  # noqa: S608
    for row in reader.execute(sql, (wanted,)):
        appeals.setdefault(int(row[2]), []).append(_appeal(row))
    return [
        ReviewItem(
            id=int(i),
            content=ContentRef(id=c, url=u),
            status=ItemStatus(s),
            created_at=parse_timestamp(created),
            updated_at=parse_timestamp(updated),
            matches=tuple(sorted(matches.get(int(i), []), key=lambda m: (m.distance, m.indicator_id))),
            decisions=tuple(decisions.get(int(i), [])),
            appeals=tuple(appeals.get(int(i), [])),
        )
        for i, c, u, s, created, updated in heads
    ]


def latest_decided_item(store: Store, content_id: str) -> int | None:
    """The content's most recent decided (or appealed) item, if any."""
    row = store.reader.execute(
        "SELECT id FROM review_items WHERE content_id = ? AND status IN ('decided', 'appealed')"
        " ORDER BY id DESC LIMIT 1",
        (content_id,),
    ).fetchone()
    return None if row is None else int(row[0])


def _match(row: tuple[object, ...]) -> ReviewMatch:
    _, ind, origin, name, category, tlp, kind, distance, trust, reasons = row
    return ReviewMatch(
        indicator_id=str(ind),
        origin=KeyId(str(origin)),
        origin_name=str(name),
        category=str(category),
        tlp=Tlp(str(tlp)),
        signal_type=str(kind),
        distance=int(str(distance)),
        trust=Trust(str(trust)),
        reasons=tuple(json.loads(str(reasons))),
    )


# --- decisions --------------------------------------------------------------------------------


def insert_decision(tx: WriteTx, decision: ReviewDecision) -> int:
    """Store a decision; returns its id."""
    cursor = tx.execute(
        "INSERT INTO review_decisions (item_id, decision, reason, reviewer, decided_at, opinion_ids,"
        " safelisted, appeal_id) VALUES (?,?,?,?,?,?,?,?)",
        (
            decision.item_id,
            decision.decision.value,
            decision.reason,
            decision.reviewer,
            format_timestamp(decision.decided_at),
            json.dumps(list(decision.opinion_ids)),
            int(decision.safelisted),
            decision.appeal_id,
        ),
    )
    return int(cursor.lastrowid or 0)


def mark_undone(tx: WriteTx, decision_id: int, *, by: str, at: datetime) -> None:
    """Record that a decision was undone."""
    tx.execute(
        "UPDATE review_decisions SET undone_at = ?, undone_by = ? WHERE id = ?",
        (format_timestamp(at), by, decision_id),
    )


def decisions_since(store: Store, since: datetime) -> list[tuple[str, str]]:
    """(reviewer, decision) of every decision made since ``since`` and not undone."""
    rows = store.reader.execute(
        "SELECT reviewer, decision FROM review_decisions WHERE decided_at >= ? AND undone_at IS NULL",
        (format_timestamp(since),),
    )
    return [(str(r), str(d)) for r, d in rows]


def outcome_counts(store: Store, since: datetime, until: datetime) -> list[tuple[str, str, str, int]]:
    """(origin, category, decision, count) of the matches decided in ``[since, until)`` and not
    undone: what the transparency report's confirmed / false-positive rates are made of."""
    rows = store.reader.execute(
        "SELECT m.origin, m.category, d.decision, count(*) FROM review_decisions d"
        " JOIN review_matches m ON m.item_id = d.item_id"
        " WHERE d.decided_at >= ? AND d.decided_at < ? AND d.undone_at IS NULL"
        " GROUP BY m.origin, m.category, d.decision",
        (format_timestamp(since), format_timestamp(until)),
    )
    return [(str(o), str(c), str(d), int(n)) for o, c, d, n in rows]


def _decision(row: tuple[object, ...]) -> ReviewDecision:
    id_, item_id, decision, reason, reviewer, at, opinions, safelisted, appeal, undone_at, undone_by = row
    return ReviewDecision(
        id=int(str(id_)),
        item_id=int(str(item_id)),
        decision=Decision(str(decision)),
        reason=None if reason is None else str(reason),
        reviewer=str(reviewer),
        decided_at=parse_timestamp(str(at)),
        opinion_ids=tuple(json.loads(str(opinions))),
        safelisted=bool(safelisted),
        appeal_id=None if appeal is None else int(str(appeal)),
        undone_at=None if undone_at is None else parse_timestamp(str(undone_at)),
        undone_by=None if undone_by is None else str(undone_by),
    )


# --- appeals ----------------------------------------------------------------------------------


def insert_appeal(tx: WriteTx, appeal: Appeal) -> int:
    """Store a new appeal; returns its id."""
    cursor = tx.execute(
        "INSERT INTO review_appeals (content_id, item_id, statement, submitted_by, submitted_at, outcome)"
        " VALUES (?,?,?,?,?,'open')",
        (
            appeal.content_id,
            appeal.item_id,
            appeal.statement,
            appeal.submitted_by,
            format_timestamp(appeal.submitted_at),
        ),
    )
    return int(cursor.lastrowid or 0)


def settle_appeal(
    tx: WriteTx, appeal_id: int, outcome: AppealOutcome, *, by: str, at: datetime, reason: str | None
) -> None:
    """Record an appeal's outcome."""
    tx.execute(
        "UPDATE review_appeals SET outcome = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ?",
        (outcome.value, by, format_timestamp(at), reason, appeal_id),
    )


def appeals(store: Store, *, open_only: bool = False) -> list[Appeal]:
    """Appeals, newest first."""
    where = " WHERE outcome = 'open'" if open_only else ""
    rows = store.reader.execute(f"SELECT {_APPEAL} FROM review_appeals{where} ORDER BY id DESC")  # noqa: S608
    return [_appeal(r) for r in rows]


def appeal(store: Store, appeal_id: int) -> Appeal | None:
    """One appeal."""
    row = store.reader.execute(f"SELECT {_APPEAL} FROM review_appeals WHERE id = ?", (appeal_id,)).fetchone()  # noqa: S608
    return None if row is None else _appeal(row)


def _appeal(row: tuple[object, ...]) -> Appeal:
    id_, content, item_id, statement, by, at, outcome, decided_by, decided_at, reason = row
    return Appeal(
        id=int(str(id_)),
        content_id=str(content),
        item_id=int(str(item_id)),
        statement=str(statement),
        submitted_by=str(by),
        submitted_at=parse_timestamp(str(at)),
        outcome=AppealOutcome(str(outcome)),
        decided_by=None if decided_by is None else str(decided_by),
        decided_at=None if decided_at is None else parse_timestamp(str(decided_at)),
        reason=None if reason is None else str(reason),
    )


# --- the reviewers' safelist -----------------------------------------------------------------


def add_safelist(tx: WriteTx, signals: Iterable[Signal], *, decision_id: int, at: datetime) -> None:
    """Put ``signals`` on the local safelist because of decision ``decision_id``."""
    for signal in signals:
        tx.execute(
            "INSERT OR IGNORE INTO review_safelist (signal, decision_id, added_at) VALUES (?,?,?)",
            (str(signal), decision_id, format_timestamp(at)),
        )


def remove_safelist(tx: WriteTx, decision_id: int) -> list[Signal]:
    """Take decision ``decision_id``'s entries off the safelist; returns their signals."""
    rows = tx.execute("SELECT signal FROM review_safelist WHERE decision_id = ?", (decision_id,)).fetchall()
    tx.execute("DELETE FROM review_safelist WHERE decision_id = ?", (decision_id,))
    return [Signal.parse(r[0]) for r in rows]


def safelist_entries(store: Store) -> list[tuple[int, Signal]]:
    """(decision id, signal) of every entry reviewers put on the local safelist."""
    rows = store.reader.execute("SELECT decision_id, signal FROM review_safelist ORDER BY decision_id")
    return [(int(d), Signal.parse(s)) for d, s in rows]


# --- flood protection ------------------------------------------------------------------------


def count_flood(tx: WriteTx, indicator_ids: Sequence[str], *, minute: int) -> None:
    """Count one match of each indicator in ``minute`` (repeats count again)."""
    tx.execute(
        "INSERT INTO flood_counts (indicator_id, minute, count)"
        " SELECT value, ?1, count(*) FROM json_each(?2) WHERE true GROUP BY value"
        " ON CONFLICT (indicator_id, minute) DO UPDATE SET count = count + excluded.count",
        (minute, json.dumps(list(indicator_ids))),
    )


def flood_counts(
    tx: WriteTx, indicator_ids: Sequence[str], *, window_from: int, baseline_from: int
) -> dict[str, tuple[int, int]]:
    """Per indicator: (matches in minutes >= ``window_from``, matches in the baseline minutes
    [``baseline_from``, ``window_from``)); only indicators not held now, and counted since
    their last release (a released indicator starts a fresh window)."""
    rows = tx.execute(
        "SELECT c.indicator_id,"
        " sum(CASE WHEN c.minute >= ?2 THEN c.count ELSE 0 END),"
        " sum(CASE WHEN c.minute < ?2 THEN c.count ELSE 0 END)"
        " FROM flood_counts c LEFT JOIN flood_holds h ON h.indicator_id = c.indicator_id"
        " WHERE c.indicator_id IN (SELECT value FROM json_each(?1)) AND c.minute >= ?3"
        " AND (h.indicator_id IS NULL OR (h.released_at IS NOT NULL AND c.minute >= h.released_minute))"
        " GROUP BY c.indicator_id",
        (json.dumps(list(indicator_ids)), window_from, baseline_from),
    )
    return {str(i): (int(w), int(b)) for i, w, b in rows}


def prune_flood(tx: WriteTx, *, before: int) -> None:
    """Forget counts older than the baseline window."""
    tx.execute("DELETE FROM flood_counts WHERE minute < ?", (before,))


def hold(tx: WriteTx, held: FloodHold) -> None:
    """Hold an indicator (again, if it was released before)."""
    tx.execute(
        f"INSERT OR REPLACE INTO flood_holds ({_HOLD}, released_at, released_by, released_minute)"  # noqa: S608
        " VALUES (?,?,?,?,?,?,NULL,NULL,NULL)",
        (
            held.indicator_id,
            held.origin,
            held.category,
            format_timestamp(held.held_at),
            held.in_window,
            held.in_baseline,
        ),
    )


def release(tx: WriteTx, indicator_ids: Iterable[str], *, by: str, at: datetime, minute: int) -> list[str]:
    """Release those of ``indicator_ids`` that are held; returns the ones released."""
    released = []
    for indicator_id in indicator_ids:
        cursor = tx.execute(
            "UPDATE flood_holds SET released_at = ?, released_by = ?, released_minute = ?"
            " WHERE indicator_id = ? AND released_at IS NULL",
            (format_timestamp(at), by, minute, indicator_id),
        )
        if cursor.rowcount:
            released.append(indicator_id)
    return released


def holds(store: Store) -> list[FloodHold]:
    """Indicators held now, oldest hold first."""
    rows = store.reader.execute(
        f"SELECT {_HOLD} FROM flood_holds WHERE released_at IS NULL ORDER BY held_at"  # noqa: S608
    )
    return [
        FloodHold(
            indicator_id=str(i),
            origin=KeyId(str(o)),
            category=str(c),
            held_at=parse_timestamp(str(at)),
            in_window=int(w),
            in_baseline=int(b),
        )
        for i, o, c, at, w, b in rows
    ]


def held_among(store: Store, indicator_ids: Sequence[str]) -> set[str]:
    """Those of ``indicator_ids`` held now."""
    rows = store.reader.execute(
        "SELECT indicator_id FROM flood_holds WHERE released_at IS NULL"
        " AND indicator_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(indicator_ids)),),
    )
    return {str(r[0]) for r in rows}
