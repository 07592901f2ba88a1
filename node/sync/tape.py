"""The Matcher's matches as made, kept for the counters that read them later.

Counting a match used to take three locks on the match path (the local match log, flood
protection's minute counts, the sightings counter), each with its own clock read: in place,
between two index searches, that cost a tenth of the Matcher's rate (issue 16). A matching
call now appends one record here, without a lock; whoever is about to read or write one of
those counters folds the tape into all of them first, in the order the matches were made.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

MAX_TAPED = 50_000
"""Records kept before the appending call folds them itself (the serve loop folds every
refresh; this bounds the tape of a process that never does)."""


@dataclass(frozen=True, slots=True)
class Taped:
    """One matching call's matches: every matched indicator, and those of other origins."""

    at: datetime
    indicator_ids: list[str]
    others: list[str]


Fold = Callable[[Sequence[Taped]], None]


class MatchTape:
    """Appends without a lock (``deque.append`` is atomic); :meth:`fold` hands what was
    appended, oldest first, to ``fold_into`` exactly once."""

    def __init__(self, fold_into: Fold, *, max_taped: int = MAX_TAPED) -> None:
        self._fold_into = fold_into
        self._max = max_taped
        self._items: deque[Taped] = deque()
        self._lock = threading.Lock()  # one fold at a time, so records stay in order

    def append(self, indicator_ids: list[str], others: list[str], at: datetime) -> None:
        """Keep one call's matches (the Matcher's ``record`` hook)."""
        self._items.append(Taped(at, indicator_ids, others))
        if len(self._items) > self._max:
            self.fold()

    def fold(self) -> int:
        """Hand every record appended so far to the counters; returns how many."""
        with self._lock:
            items: list[Taped] = []
            pop = self._items.popleft
            while True:
                try:
                    items.append(pop())
                except IndexError:
                    break
            if items:
                self._fold_into(items)
            return len(items)
