"""Match lists: one index per signal type, updated incrementally, safe for concurrent readers.

A reader-writer discipline would serve more readers at once; a single lock is enough for the
linear scan (numpy releases the GIL inside the scan, and updates hold the lock only briefly).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from node.match.exact import ExactIndex
from node.match.pdq import PdqIndex
from node.model import IndexHit, Signal, SignalType


@dataclass(frozen=True, slots=True)
class ListUpdate:
    """Make ``indicator_id`` match ``signal`` (``active``) or stop matching (not ``active``)."""

    indicator_id: str
    signal: Signal
    active: bool


class MatchLists:
    """All indexes of one node. ``ready`` turns true once the initial load has finished."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exact: dict[SignalType, ExactIndex] = {
            t: ExactIndex() for t in SignalType if not t.is_perceptual
        }
        self._pdq = PdqIndex()
        self.ready = False

    def apply(self, updates: Iterable[ListUpdate]) -> int:
        """Apply updates in order; returns how many were applied."""
        applied = 0
        with self._lock:
            for update in updates:
                self._apply_one(update)
                applied += 1
        return applied

    def _apply_one(self, update: ListUpdate) -> None:
        signal = update.signal
        if signal.type is SignalType.PDQ:
            if update.active:
                self._pdq.add(update.indicator_id, signal.pdq_bytes())
            else:
                self._pdq.remove(update.indicator_id)
            return
        index = self._exact[signal.type]
        if update.active:
            index.add(update.indicator_id, signal.value)
        else:
            index.remove(update.indicator_id)

    def query(self, signal: Signal, *, pdq_threshold: int) -> list[IndexHit]:
        """Indicators matching ``signal``: equal value, or PDQ within ``pdq_threshold`` bits."""
        with self._lock:
            if signal.type is SignalType.PDQ:
                return self._pdq.query(signal.pdq_bytes(), pdq_threshold)
            return self._exact[signal.type].query(signal.value)

    def sizes(self) -> dict[str, int]:
        """Listed indicators per signal type."""
        with self._lock:
            sizes = {t.value: len(i) for t, i in self._exact.items()}
            sizes[SignalType.PDQ.value] = len(self._pdq)
        return sizes
