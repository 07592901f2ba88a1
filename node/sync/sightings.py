"""Sightings: count our matches per indicator and report them to the indicators' origins.

The Match path only bumps an in-memory counter (a dict update under a lock). The counts are
folded into the database (``match_counts``) when a process flushes them, and a periodic job
publishes, for each partner the operator opted in (``share_sightings``), one STIX Sighting per
indicator matched since the last report: TLP AMBER+STRICT addressed to that origin alone, so
only the origin receives it, served by us only and never relayed (DESIGN §5).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from node.model import Distribution, KeyId, Seq, Sighting, Tlp
from node.model.clock import Clock
from node.model.sightings import MAX_SIGHTING_COUNT
from node.store import Store
from node.store.feedback import MatchCount, SightingTotal
from node.sync.publish import Publisher

log = logging.getLogger(__name__)

__all__ = ["MatchCounter", "SightingReporter", "SightingTotal"]


@dataclass(slots=True)
class _Tally:
    count: int
    first_seen: datetime
    last_seen: datetime


class MatchCounter:
    """Matches per indicator since the last flush, with the first and last time seen."""

    def __init__(self, *, clock: Clock, before: Callable[[], object] | None = None) -> None:
        """``before`` runs first in each :meth:`drain` (the node folds its match tape in)."""
        self._before = before
        self._clock = clock
        self._lock = threading.Lock()
        self._tallies: dict[str, _Tally] = {}

    def record(self, indicator_ids: Iterable[str], *, at: datetime | None = None) -> None:
        """Count one match of each of ``indicator_ids`` (repeats count again), made ``at``
        (default now)."""
        now = self._clock() if at is None else at
        with self._lock:
            for indicator_id in indicator_ids:
                tally = self._tallies.get(indicator_id)
                if tally is None:
                    self._tallies[indicator_id] = _Tally(1, now, now)
                else:
                    tally.count += 1
                    tally.last_seen = now

    def drain(self) -> list[MatchCount]:
        """The counts so far (their origin is filled in by the store), and start again from zero."""
        if self._before is not None:
            self._before()
        with self._lock:
            tallies, self._tallies = self._tallies, {}
        return [
            MatchCount(
                indicator_id=i, origin=None, count=t.count, first_seen=t.first_seen, last_seen=t.last_seen
            )
            for i, t in tallies.items()
        ]


class SightingReporter:
    """Folds counted matches into the store and publishes them as sightings to their origins."""

    def __init__(self, *, store: Store, publisher: Publisher, counter: MatchCounter, clock: Clock) -> None:
        self._store = store
        self._publisher = publisher
        self._counter = counter
        self._clock = clock

    def flush(self) -> int:
        """Write the in-memory counts to the store; returns how many indicators they cover."""
        counts = self._counter.drain()
        if counts:
            with self._store.write() as tx:
                tx.add_match_counts(counts)
        return len(counts)

    def publish(self) -> list[Seq]:
        """Flush, then publish the pending sightings of every partner that opted in."""
        self.flush()
        opted = {k for k, p in self._store.partner_policies().items() if p.share_sightings}
        if not opted:
            return []
        return self._publisher.publish_sightings(opted, make=self._sightings)

    def totals(self) -> list[SightingTotal]:
        """Others' sightings of our own indicators (feedback)."""
        return self._store.sightings_on(self._publisher.origin)

    def _sightings(self, counts: list[MatchCount]) -> dict[Distribution, list[Sighting]]:
        created = self._clock()
        by_origin: dict[KeyId, list[Sighting]] = {}
        for count in counts:
            if count.origin is not None:
                by_origin.setdefault(count.origin, []).append(self._sighting(count, created))
        return {
            Distribution(tlp=Tlp.AMBER_STRICT, recipients=frozenset({origin})): sightings
            for origin, sightings in by_origin.items()
        }

    def _sighting(self, count: MatchCount, created: datetime) -> Sighting:
        return Sighting(
            id=f"sighting--{uuid.uuid4()}",
            origin=self._publisher.origin,
            indicator_id=count.indicator_id,
            count=min(count.count, MAX_SIGHTING_COUNT),
            first_seen=count.first_seen,
            last_seen=count.last_seen,
            created=max(created, count.last_seen),
        )
