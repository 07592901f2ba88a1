"""Process-wide settings held while any of several overlapping jobs runs.

Two settings of the interpreter serve the sync's bulk work, and both belong to the whole
process: the cyclic garbage collector (paused) and the GIL's switch interval (shortened). Jobs
nest and overlap across threads (an entry's ingest inside a pull, two partners pulled at once),
so each setting is changed when the first job begins and put back, as it was found, when the
last one ends: :class:`ProcessWide`.

- :func:`collector_paused`. An entry of 20,000 indicators makes ~100,000 short-lived, acyclic
  objects (parsed JSON, indicators, rows) that reference counting frees when the entry is done.
  With the collector on, they trigger hundreds of collections per entry that traverse them again
  and again, which costs as much as the parsing itself. Pause around the whole of a job (a pull,
  an ingest) so that its objects are freed before the collector resumes: what is still alive
  then gets traversed once.
- :func:`quick_handover`. A pull runs two threads (node/sync/pull.py): a helper that reads the
  next entry (pure Python: it holds the GIL) and the caller that commits the one before
  (SQLite, which gives the GIL up for each statement and must then get it back). Python makes a
  thread that wants the GIL wait up to ``sys.getswitchinterval()`` (5 ms) before the holder is
  asked to let go, so each of a commit's dozen statements could wait that long to resume. With
  1 ms, five 1M-indicator first syncs paired with five at 5 ms (``bench.sync_trials``; README,
  issue 16) took 18.1 s instead of 19.0 s (medians), the committing thread 11.6 s instead of
  13.5 s. Other threads (the Match API's) get the GIL sooner too while a pull runs, at the cost
  of more hand-overs; an operator's shorter interval is kept.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Final, Generic, TypeVar

PULL_SWITCH_INTERVAL: Final = 0.001  # seconds

_Found = TypeVar("_Found")


class ProcessWide(Generic[_Found]):
    """A setting that :meth:`held` spans change while any of them is open: ``change`` when the
    first begins (returning what it found), ``restore`` with that when the last one ends."""

    def __init__(self, change: Callable[[], _Found], restore: Callable[[_Found], None]) -> None:
        self._change = change
        self._restore = restore
        self._guard = threading.Lock()
        self._holders = 0
        self._found: _Found | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """The setting changed for the span (nests and overlaps across threads)."""
        with self._guard:
            if self._holders == 0:
                self._found = self._change()
            self._holders += 1
        try:
            yield
        finally:
            with self._guard:
                self._holders -= 1
                if self._holders == 0:
                    self._restore(self._found)  # type: ignore[arg-type]  # set when the first began


def _pause_collector() -> bool:
    enabled = gc.isenabled()
    gc.disable()
    return enabled


def _resume_collector(was_enabled: bool) -> None:
    if was_enabled:
        gc.enable()


def _shorten_interval() -> float:
    found = sys.getswitchinterval()
    sys.setswitchinterval(min(found, PULL_SWITCH_INTERVAL))
    return found


_COLLECTOR = ProcessWide(_pause_collector, _resume_collector)
_SWITCH_INTERVAL = ProcessWide(_shorten_interval, sys.setswitchinterval)


def collector_paused() -> AbstractContextManager[None]:
    """Pause the cyclic garbage collector while a job's objects are built and stored; it
    resumes when the last overlapping pause ends, and only if it was enabled when the first
    one began."""
    return _COLLECTOR.held()


def quick_handover() -> AbstractContextManager[None]:
    """Switch the GIL every :data:`PULL_SWITCH_INTERVAL` while inside; the interval found when
    the first span began comes back when the last ends."""
    return _SWITCH_INTERVAL.held()
