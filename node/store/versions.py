"""Cheap change detection for in-memory copies of store state (the Matcher's provenance).

One read returns the newest indicator change id and the counters that triggers bump whenever
the partners, sources, policies, compromise marks, evidence or opinions tables change
(``m022_speed_generations``): equal numbers mean nothing a copy holds has changed since.

Cheaper still, the store's :class:`node.store.commits.CommitWatch` says whether any commit
happened at all since a look, without entering SQLite; a copy skips this read when none did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from node.store.database import Store


@dataclass(frozen=True, slots=True)
class StoreVersions:
    """Where the store stands: compare two of these to learn what changed in between."""

    indicators: int  # the newest indicator change id (every indicator write takes a new one)
    provenance: int  # bumped by any write to partners, sources, policies, compromises, evidence
    opinions: int  # bumped by any write to opinions


_VERSIONS = (
    "SELECT (SELECT COALESCE(MAX(change_id), 0) FROM indicators),"
    " (SELECT n FROM speed_generations WHERE kind = 'provenance'),"
    " (SELECT n FROM speed_generations WHERE kind = 'opinions')"
)


def store_versions(store: Store) -> StoreVersions:
    """The store's current versions (one small read on this thread's read connection)."""
    indicators, provenance, opinions = store.reader.execute(_VERSIONS).fetchone()
    return StoreVersions(indicators=int(indicators), provenance=int(provenance), opinions=int(opinions))


def indicator_ids_changed(store: Store, after: int, upto: int) -> Iterable[str]:
    """Ids of the indicators written with a change id in ``(after, upto]``."""
    rows = store.reader.execute(
        "SELECT id FROM indicators WHERE change_id > ? AND change_id <= ?", (after, upto)
    )
    return (str(r[0]) for r in rows)
