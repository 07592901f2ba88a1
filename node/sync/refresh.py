"""Keep the in-memory match lists in step with the database by tailing its change stream.

Every indicator write gets a fresh, increasing change id in the same transaction as the entry
that carried it. Whichever process committed it (a pull in ``accord serve``, or ``accord
contribute`` run beside it), the next refresh applies it: no rebuild, and a revoked indicator
stops matching within one refresh interval of its commit.
"""

from __future__ import annotations

import threading

from node.match import ListUpdate, MatchLists
from node.model import Signal, SignalType
from node.store import Store
from node.sync.ingest import collector_paused

_BATCH = 50_000  # rows per read: bounds memory while catching up on a large backlog
# The store writes only known type names; a dict lookup is ~10x cheaper than SignalType(name).
_SIGNAL_TYPES = {kind.value: kind for kind in SignalType}


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
        updates = [
            ListUpdate(indicator_id, Signal(_SIGNAL_TYPES[kind], value), active)
            for _, indicator_id, kind, value, active in changes
        ]
        applied = self._lists.apply(updates)
        self._cursor = changes[-1].change_id
        return applied

    def load(self) -> int:
        """The initial load: apply everything, then mark the lists ready to serve."""
        applied = self.refresh()
        self._lists.ready = True
        return applied
