"""Bookkeeping of refused partner calls that a hostile caller cannot turn into disk or log growth.

Every refusal is counted in memory at once; the counts reach the store (``refused_calls``, by
hour and reason: ``accord status``, metrics and reports read them there) at most once every
``flush_seconds``, in one transaction. A few refusals per reason and minute are kept as samples
(when, method, peer, why), capped in all; the log gets one line per reason per
``log_seconds`` saying how many more were refused since. A flood of refusals therefore costs
one small write a second and a bounded table, not a row, a log line and a synced write each.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from node.errors import AccordError
from node.model.clock import format_timestamp, utc_now
from node.store import RefusedCall, Store

log = logging.getLogger(__name__)

SAMPLES_PER_MINUTE = 10  # kept rows per reason and minute: enough to see who and why
MAX_SAMPLES = 1_000  # kept rows in all; the oldest go first
FLUSH_SECONDS = 1.0  # how stale the stored counts may be
LOG_SECONDS = 10.0  # one log line per reason this often, with the number refused since


class Refusals:
    """Counts refused calls; thread-safe. :meth:`close` writes what is still pending."""

    def __init__(
        self,
        store: Store,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        log_seconds: float = LOG_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        self._log_seconds = log_seconds
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()  # since start: what this process refused
        self._pending: Counter[str] = Counter()  # not yet in the store
        self._samples: list[RefusedCall] = []
        self._sampled: Counter[tuple[str, str]] = Counter()  # (minute, reason) -> samples taken
        self._unlogged: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}
        self._timer: threading.Timer | None = None
        self._closed = False

    def record(self, error: AccordError, *, method: str, peer: str) -> None:
        """Count one refused call of ``method`` from ``peer``; never raises."""
        moment = self._now()
        with self._lock:
            self._totals[error.reason] += 1
            self._pending[error.reason] += 1
            self._sample(error, method=method, peer=peer, moment=moment)
            line = self._log_line(error, method=method, peer=peer)
            self._schedule()
        if line is not None:
            log.warning("%s", line)

    @property
    def totals(self) -> dict[str, int]:
        """Refused calls by reason since this object was made (the store holds all time)."""
        with self._lock:
            return dict(self._totals)

    def flush(self) -> None:
        """Write the pending counts and samples in one transaction; a failed write keeps them."""
        with self._lock:
            self._timer = None
            pending, samples = self._pending, self._samples
            self._pending, self._samples = Counter(), []
        if not pending and not samples:
            return
        hour = format_timestamp(self._now().replace(minute=0, second=0, microsecond=0))
        try:
            with self._store.write() as tx:
                tx.count_refused_calls(hour=hour, counts=dict(pending))
                tx.sample_refused_calls(samples, keep=MAX_SAMPLES)
        except sqlite3.Error:
            # Kept for the next flush, which the next refusal (or close) starts: no retry loop
            # against a database that is gone.
            log.exception("could not store %d refused-call counts yet", sum(pending.values()))
            with self._lock:
                self._pending.update(pending)
                self._samples[:0] = samples[-MAX_SAMPLES:]

    def close(self) -> None:
        """Stop the timer and write what is pending."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush()

    def _sample(self, error: AccordError, *, method: str, peer: str, moment: datetime) -> None:
        at = format_timestamp(moment)
        minute = at[:16]
        if self._sampled[(minute, error.reason)] >= SAMPLES_PER_MINUTE or len(self._samples) >= MAX_SAMPLES:
            return
        if len(self._sampled) > 1_000:  # forget old minutes; only the current ones matter
            self._sampled = Counter({k: n for k, n in self._sampled.items() if k[0] == minute})
        self._sampled[(minute, error.reason)] += 1
        self._samples.append(
            RefusedCall(at=at, method=method, peer=peer, reason=error.reason, message=str(error))
        )

    def _log_line(self, error: AccordError, *, method: str, peer: str) -> str | None:
        now = self._clock()
        last = self._logged_at.get(error.reason)
        if last is not None and now - last < self._log_seconds:
            self._unlogged[error.reason] += 1
            return None
        self._logged_at[error.reason] = now
        more = self._unlogged.pop(error.reason, 0)
        since = (
            f" ({more} more {error.reason} refusals in the last {now - last:.0f} s)"
            if more and last is not None
            else ""
        )
        return f"refused {method} from {peer}: {error}{since}"

    def _schedule(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = threading.Timer(self._flush_seconds, self.flush)
            self._timer.daemon = True
            self._timer.start()
