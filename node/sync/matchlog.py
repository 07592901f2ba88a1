"""The local match log, counted in memory and written in batches.

Writing the log on every matching call was one durable commit per call (an fsync with
``synchronous=FULL``), more than the match itself. The Matcher now adds to this buffer and
the serve loop writes it every refresh (``sync.refresh_seconds``), as does closing the node;
``accord show`` and reports in another process see a match once it was written. A crash loses
at most the counts of the last interval: the log is a statistic, not an acknowledged write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.model.clock import Clock, format_timestamp
from node.store import Store
from node.store.transaction import WriteTx


@dataclass(slots=True)
class _Tally:
    count: int
    last_at: str


class MatchLog:
    """Local matches per indicator and UTC day since the last :meth:`flush`."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        also_in_tx: Callable[[WriteTx], Any] | None = None,
        after_tx: Callable[[Any], None] | None = None,
        before: Callable[[], object] | None = None,
    ) -> None:
        """``also_in_tx(tx)`` runs in each flush's transaction (flood protection writes its
        counts there); ``after_tx`` gets its result once the transaction committed. ``before``
        runs first in each flush (the node folds its match tape in)."""
        self._before = before
        self._store = store
        self._clock = clock
        self._also_in_tx = also_in_tx
        self._after_tx = after_tx
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], _Tally] = {}

    def record(self, indicator_ids: Iterable[str], *, at: datetime | None = None) -> None:
        """Count one local match of each of ``indicator_ids`` (repeats count again), made ``at``
        (default now)."""
        at_text = format_timestamp(self._clock() if at is None else at)
        day = at_text[:10]
        with self._lock:
            for indicator_id in indicator_ids:
                tally = self._counts.setdefault((indicator_id, day), _Tally(0, at_text))
                tally.count += 1
                tally.last_at = at_text

    def flush(self) -> int:
        """Write the counts so far to the store; returns how many rows they touched."""
        if self._before is not None:
            self._before()
        with self._lock:
            counts, self._counts = self._counts, {}
        if not counts:
            return 0
        try:
            with self._store.write() as tx:
                tx.add_match_log((i, day, t.count, t.last_at) for (i, day), t in counts.items())
                extra = None if self._also_in_tx is None else self._also_in_tx(tx)
        except BaseException:
            self._put_back(counts)  # kept for the next flush: the transaction wrote nothing
            raise
        if self._also_in_tx is not None and self._after_tx is not None:
            self._after_tx(extra)
        return len(counts)

    def _put_back(self, counts: dict[tuple[str, str], _Tally]) -> None:
        with self._lock:
            for key, tally in counts.items():
                now = self._counts.get(key)
                if now is None:
                    self._counts[key] = tally
                else:
                    now.count += tally.count
                    now.last_at = max(now.last_at, tally.last_at)
