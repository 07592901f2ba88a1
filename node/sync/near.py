"""Near-duplicate analyst queries answered through the in-memory PDQ index (issue 16).

The scan (:meth:`node.sync.lookup.Lookup.query` without an index) measures every PDQ row
passing the query's filters: ~1.5 s a million rows. The match lists' index holds every PDQ row
in force (not revoked, origin not quarantined) and finds those within the distance in
milliseconds; the rows it cannot hold (revoked, quarantined) are read through their own
indexes when the query's statuses may include them. The candidates then pass the same
filters the scan's SQL applies, here in Python (:func:`admits`), so both answer alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from node.model import Indicator, Signal, Tlp
from node.model.queries import IndicatorQuery, IndicatorStatus, status_of
from node.store import Store
from node.store.analyst import StatusSets

NearIndex = Callable[[Signal, int], Mapping[str, int] | None]
"""Ids and distances of the PDQ rows in force within a distance of a signal, from the match
lists; None when this process holds no loaded lists (the caller scans instead)."""

IN_FORCE = frozenset({IndicatorStatus.ACTIVE, IndicatorStatus.DISPUTED, IndicatorStatus.EXPIRED})
"""Statuses of rows the index holds (expiry and disputes do not take a row out of the lists)."""


def near_hits(
    store: Store, query: IndicatorQuery, sets: StatusSets, *, near: Signal, index: Mapping[str, int]
) -> dict[str, int]:
    """Ids within the query's distance of ``near``, with their distance: the index's hits, plus
    revoked and quarantined PDQ rows when the query's statuses do not exclude them."""
    hits = dict(index)
    if not query.statuses or not query.statuses <= IN_FORCE:
        target = int(near.value, 16)
        for indicator_id, value in _out_of_force_pdq(store, sets):
            distance = (int(value, 16) ^ target).bit_count()
            if distance <= query.distance:
                hits[indicator_id] = distance
    return hits


def _out_of_force_pdq(store: Store, sets: StatusSets) -> list[tuple[str, str]]:
    """``(id, value)`` of PDQ rows the match lists leave out: revoked, or of a quarantined origin."""
    # Partial index m022_speed_revoked_pdq: revoked rows are few, and read without a scan.
    rows = store.reader.execute(
        "SELECT id, value FROM indicators WHERE signal_type = 'pdq' AND revoked = 1"
    ).fetchall()
    for origin in sorted(sets.quarantined):
        rows += store.reader.execute(
            "SELECT id, value FROM indicators WHERE origin = ? AND signal_type = 'pdq' AND revoked = 0",
            (origin,),
        ).fetchall()
    return [(str(i), str(v)) for i, v in rows]


def admits(query: IndicatorQuery, indicator: Indicator, sets: StatusSets) -> bool:
    """Whether ``indicator`` passes the query's filters besides the distance: the conditions
    :func:`node.store.analyst.query_sql` puts in SQL for a near-duplicate scan."""
    checks = (
        not query.categories or indicator.category in query.categories,
        not query.origins or indicator.origin in query.origins,
        not query.tlps or indicator.tlp in query.tlps,
        query.include_red or indicator.tlp is not Tlp.RED,
        not query.content_types or indicator.content_type in query.content_types,
        query.since is None or indicator.created >= query.since,
        query.until is None or indicator.created < query.until,
        carries_labels(query, indicator),
    )
    if not all(checks):
        return False
    if not query.statuses:
        return True
    status = status_of(indicator, now=sets.now, quarantined=sets.quarantined, disputed=sets.disputed)
    return status in query.statuses


def carries_labels(query: IndicatorQuery, indicator: Indicator) -> bool:
    """Whether ``indicator`` (with its note) carries every label the query asks for: the SQL's
    label condition, in Python."""
    held = indicator.note.labels if indicator.note is not None else ()
    return query.labels <= frozenset(held)
