"""The GIL handed over sooner while a pull runs.

A pull runs two threads (node/sync/pull.py): a helper that reads the next entry (pure Python:
it holds the GIL) and the caller that commits the one before (SQLite, which gives the GIL up
for each statement and must then get it back). Python makes a thread that wants the GIL wait
up to ``sys.getswitchinterval()`` (5 ms) before the holder is asked to let go, so each of a
commit's dozen statements could wait that long to resume. With 1 ms, five 1M-indicator first
syncs paired with five at 5 ms (``bench.sync_trials``; README, issue 16) took 18.1 s instead
of 19.0 s (medians), the committing thread 11.6 s instead of 13.5 s. The interval is
process-wide: other threads (the Match API's) get the GIL sooner too while a pull runs, at the
cost of more hand-overs.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

PULL_SWITCH_INTERVAL: Final = 0.001  # seconds

_guard = threading.Lock()
_holders = 0
_interval_before = 0.0


@contextmanager
def quick_handover() -> Iterator[None]:
    """Switch the GIL every :data:`PULL_SWITCH_INTERVAL` while inside. Spans nest and overlap
    across threads (two partners pulled at once); the interval found when the first began
    comes back when the last ends."""
    global _holders, _interval_before  # noqa: PLW0603 - one process-wide interval
    with _guard:
        if _holders == 0:
            _interval_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_interval_before, PULL_SWITCH_INTERVAL))
        _holders += 1
    try:
        yield
    finally:
        with _guard:
            _holders -= 1
            if _holders == 0:
                sys.setswitchinterval(_interval_before)
