"""Flood protection: an indicator whose matches spike far above its own baseline is held.

Every match this node's Matcher makes is counted per indicator and minute (in the same write
as the match log, so a burst costs no extra transaction). When an indicator's matches in the
window reach ``flood.min_matches`` and ``flood.ratio`` times what its trailing rate predicts,
it is held: the review policy then sends its matches to a person instead of auto-action, and
the operator is warned (log line with the indicator id and origin, never the hash; a metric; a
line in ``accord status``). A reviewer's confirm or false-positive decision on an item that
holds it releases it; the counts start afresh from the release.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from node.config import FloodSection
from node.model import KeyId
from node.model.clock import Clock, utc_now
from node.model.review import FloodHold, FloodRule
from node.store import Store, WriteTx
from node.store.review import count_flood, flood_counts, held_among, hold, holds, prune_flood, release

log = logging.getLogger(__name__)


class FloodGuard:
    """Counts matches per indicator and holds the ones that spike (state in the database)."""

    def __init__(
        self,
        *,
        store: Store,
        settings: Callable[[], FloodSection],
        names: Callable[[], Mapping[KeyId, str]],
        clock: Clock = utc_now,
        before: Callable[[], object] | None = None,
    ) -> None:
        """``before`` runs first when the buffered counts are written before a hold is read
        (the node folds its match tape in)."""
        self._before = before
        self._store = store
        self._settings = settings
        self._names = names
        self.clock = clock
        self._pruned_minute = -1
        # Matches counted by the Matcher, timed when made and written in batches (with the match
        # log's write, or before any hold is read): minute -> (its latest time, the ids matched,
        # repeats included).
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[datetime, list[str]]] = {}

    def buffer(self, indicator_ids: Sequence[str], *, at: datetime | None = None) -> None:
        """Count one match of each id, made ``at`` (default now), for the next :meth:`drain_in`
        (no write here: this is the match path)."""
        if not indicator_ids:
            return
        now = self.clock() if at is None else at
        minute = int(now.timestamp() // 60)
        with self._lock:
            _, ids = self._pending.get(minute, (now, []))
            ids.extend(indicator_ids)
            self._pending[minute] = (now, ids)

    def drain_in(self, tx: WriteTx) -> list[FloodHold]:
        """Write the buffered counts inside ``tx``, minute by minute; returns the new holds."""
        with self._lock:
            pending, self._pending = self._pending, {}
        held: list[FloodHold] = []
        try:
            for minute in sorted(pending):
                at, ids = pending[minute]
                held += self.note_in(tx, ids, now=at)
        except BaseException:
            with self._lock:  # the transaction wrote nothing: count them at the next drain
                for minute, (at, ids) in pending.items():
                    _, later = self._pending.get(minute, (at, []))
                    self._pending[minute] = (at, ids + later)
            raise
        return held

    def flush(self) -> None:
        """Write the buffered counts now (before a hold is read), and warn about new holds."""
        if self._before is not None:
            self._before()
        with self._lock:
            if not self._pending:
                return
        with self._store.write() as tx:
            held = self.drain_in(tx)
        self.announce(held)

    def note_in(
        self, tx: WriteTx, indicator_ids: Sequence[str], *, now: datetime | None = None
    ) -> list[FloodHold]:
        """Count one match of each id inside ``tx`` (made at ``now``, default the clock's
        time); returns the indicators it newly holds."""
        settings = self._settings()
        if not settings.enabled or not indicator_ids:
            return []
        rule = FloodRule(
            min_matches=settings.min_matches,
            window_seconds=settings.window_seconds,
            ratio=settings.ratio,
            baseline_seconds=settings.baseline_seconds,
        )
        now = now or self.clock()
        minute = int(now.timestamp() // 60)
        window_from = minute - math.ceil(rule.window_seconds / 60) + 1
        baseline_from = minute - math.ceil(rule.baseline_seconds / 60) + 1
        count_flood(tx, indicator_ids, minute=minute)
        counts = flood_counts(
            tx, sorted(set(indicator_ids)), window_from=window_from, baseline_from=baseline_from
        )
        spiking = [i for i, (w, b) in counts.items() if rule.spikes(in_window=w, in_baseline=b)]
        held = []
        if spiking:
            found = self._store.indicators_by_id(spiking)
            for indicator_id in spiking:
                indicator = found.get(indicator_id)
                if indicator is None:
                    continue
                in_window, in_baseline = counts[indicator_id]
                new = FloodHold(
                    indicator_id, indicator.origin, indicator.category, now, in_window, in_baseline
                )
                hold(tx, new)
                held.append(new)
        if minute != self._pruned_minute:
            prune_flood(tx, before=baseline_from)
            self._pruned_minute = minute
        return held

    def note(self, indicator_ids: Sequence[str]) -> list[FloodHold]:
        """Count one match of each id in a transaction of its own, and warn about new holds."""
        with self._store.write() as tx:
            held = self.note_in(tx, indicator_ids)
        self.announce(held)
        return held

    def announce(self, held: Iterable[FloodHold]) -> None:
        """Warn the operator about indicators just held (ids and counts, never hash values)."""
        names = None
        for h in held:
            names = names if names is not None else self._names()
            log.warning(
                "flood protection: holding indicator %s of %s (%s): %d matches in the window,"
                " %d in the baseline before it; its matches go to review until a reviewer decides",
                h.indicator_id,
                names.get(h.origin, h.origin[:12]),
                h.category,
                h.in_window,
                h.in_baseline,
            )

    def release(self, tx: WriteTx, indicator_ids: Iterable[str], *, by: str) -> list[str]:
        """Release the held ones of ``indicator_ids`` (a reviewer decided); returns them."""
        now = self.clock()
        released = release(tx, indicator_ids, by=by, at=now, minute=int(now.timestamp() // 60) + 1)
        for indicator_id in released:
            log.warning("flood protection: indicator %s released by %s", indicator_id, by)
        return released

    def held(self) -> list[FloodHold]:
        """Every indicator held now."""
        self.flush()
        return holds(self._store)

    def held_among(self, indicator_ids: Sequence[str]) -> set[str]:
        """Those of ``indicator_ids`` held now."""
        self.flush()
        return held_among(self._store, indicator_ids) if indicator_ids else set()
