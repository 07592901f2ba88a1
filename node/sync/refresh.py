"""Keep the in-memory match lists in step with the database by tailing its change stream.

Every indicator write gets a fresh, increasing change id in the same transaction as the entry
that carried it. Whichever process committed it (a pull in ``accord serve``, or ``accord
contribute`` run beside it), the next refresh applies it: no rebuild, and a revoked indicator
stops matching within one refresh interval of its commit.

Rows only ever move up the stream (an upsert gives the row a new change id), so lists that
reflect every change up to a cursor become current by applying the changes after it: that is
how a node resumes from indexes it saved (``resume``) instead of rebuilding them (``load``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from node.match import ListUpdate, MatchLists
from node.model import Signal, SignalType
from node.store import IndicatorChange, Store
from node.sync.process_wide import collector_paused

_BATCH = 50_000  # rows per read: bounds memory while catching up on a large backlog
# The store writes only known type names; a dict lookup is ~10x cheaper than SignalType(name).
_SIGNAL_TYPES = {kind.value: kind for kind in SignalType}
_PDQ = SignalType.PDQ.value
EXACT_TYPES = tuple(t.value for t in SignalType if not t.is_perceptual)
"""Signal types whose lists are dictionaries, rebuilt from the store on a resume."""

_T = TypeVar("_T")


class ListRefresher:
    """Applies committed indicator changes to ``lists``, from where it last stopped."""

    def __init__(self, *, store: Store, lists: MatchLists) -> None:
        self._store = store
        self._lists = lists
        self._cursor = 0
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Apply every change committed since the last call; returns how many were applied."""
        total = 0
        with self._lock, collector_paused():  # batches of short-lived, acyclic objects
            while (applied := self._apply_batch()) is not None:
                total += applied
        return total

    def _apply_batch(self) -> int | None:
        """Apply the next batch of changes; None when there was none."""
        changes = self._store.changes_since(self._cursor, limit=_BATCH)
        if not changes:
            return None
        applied = self._lists.apply(_updates(changes))
        self._cursor = changes[-1].change_id
        return applied

    def at_cursor(self, read: Callable[[int], _T]) -> _T:
        """``read(cursor)`` with no refresh running: what it copies reflects exactly ``cursor``."""
        with self._lock:
            return read(self._cursor)

    def load(self) -> int:
        """The initial load from the store, then mark the lists ready to serve.

        Into empty lists, PDQ rows take the bulk path: read in batches, their base segment is
        built once, not merged up through the tail. Returns how many indicators were listed.
        """
        with self._lock, collector_paused():
            if self._cursor == 0 and not any(self._lists.sizes().values()):
                self._lists.pdq.bulk_load_batches(self._pdq_batches())
        self.refresh()  # anything committed during the bulk read
        self._lists.ready = True
        return sum(self._lists.sizes().values())

    def _pdq_batches(self) -> Iterator[tuple[list[str], np.ndarray]]:
        """Active PDQ rows of the whole stream as (ids, hashes); other rows are applied as read."""
        while stretch := self._store.pdq_stretch_since(self._cursor, limit=_BATCH, pdq=_PDQ):
            self._lists.apply(_updates([c for c in stretch.others if c.active]))
            self._cursor = stretch.last_change_id
            if stretch.pdq_ids:
                hashes = np.frombuffer(stretch.pdq_hashes, dtype=np.uint8).reshape(-1, 32)
                yield stretch.pdq_ids, hashes

    def resume(self, *, cursor: int, exact_listed: bool) -> int:
        """Continue from saved indexes that reflect ``cursor`` (already adopted by the lists):
        fill the exact lists from the store, apply what changed after ``cursor``, and mark the
        lists ready. Returns how many changes after the cursor were applied.

        ``exact_listed`` False (the exact lists were empty at the save) skips reading them:
        rows at or below the cursor are exactly what they were then.
        """
        with self._lock, collector_paused():
            self._cursor = cursor
            if exact_listed:
                for batch in self._store.active_changes_upto(cursor, EXACT_TYPES, batch=_BATCH):
                    self._lists.apply(_updates(batch))
        applied = self.refresh()
        self._lists.ready = True
        return applied


def _updates(changes: Sequence[IndicatorChange]) -> list[ListUpdate]:
    return [
        ListUpdate(indicator_id, Signal(_SIGNAL_TYPES[kind], value), active)
        for _, indicator_id, kind, value, active in changes
    ]
