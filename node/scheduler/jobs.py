"""Scheduled work (DESIGN §10): one pull job per partner with an endpoint, and list refresh.

Pull jobs never overlap themselves (``max_instances=1``), coalesce missed runs, start with
jitter, and back off exponentially per peer; one peer's failure never touches the others.
Partners added or removed while serving are picked up by a reconcile job.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 2.0  # how soon a partner added with the CLI gets its pull job


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """Timing of the jobs."""

    interval: float
    jitter: float
    max_backoff: float
    refresh: float


class Backoff:
    """Per-peer exponential backoff: after n consecutive failures, wait interval·2ⁿ (capped)."""

    def __init__(self, *, interval: float, cap: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._cap = cap
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}

    def due(self, peer: str) -> bool:
        """True when ``peer`` may be pulled now."""
        return self._clock() >= self._not_before.get(peer, 0.0)

    def record(self, peer: str, *, ok: bool) -> float:
        """Note the outcome of a pull; returns the delay before the next attempt is allowed."""
        if ok:
            self._failures.pop(peer, None)
            self._not_before.pop(peer, None)
            return 0.0
        failures = self._failures.get(peer, 0) + 1
        self._failures[peer] = failures
        # The exponent is bounded so a long outage cannot overflow the float before the cap applies.
        growth = 2.0 ** min(failures - 1, 60)
        delay: float = min(self._cap, self._interval * growth) * random.uniform(0.9, 1.1)  # noqa: S311
        self._not_before[peer] = self._clock() + delay
        return delay


class SyncScheduler:
    """Runs pulls and list refreshes in the background until stopped."""

    def __init__(
        self,
        *,
        settings: ScheduleSettings,
        peers: Callable[[], Sequence[str]],
        pull: Callable[[str], bool],
        refresh: Callable[[], int],
    ) -> None:
        self._settings = settings
        self._peers = peers
        self._pull = pull
        self._refresh = refresh
        self._backoff = Backoff(interval=settings.interval, cap=settings.max_backoff)
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the jobs; the first pull of each peer runs within the jitter of now."""
        self._scheduler.add_job(
            self._refresh_job,
            IntervalTrigger(seconds=self._settings.refresh),
            id="refresh",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=60,
        )
        self._scheduler.add_job(
            self.reconcile,
            IntervalTrigger(seconds=RECONCILE_SECONDS),
            id="reconcile",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=60,
        )
        self._scheduler.start()
        self.reconcile()

    def stop(self) -> None:
        """Stop scheduling; running jobs are not waited for (pulls commit per entry)."""
        self._scheduler.shutdown(wait=False)

    def reconcile(self) -> None:
        """Make the pull jobs match the partners that have endpoints."""
        with self._lock:
            wanted = {f"pull:{name}": name for name in self._peers()}
            current = {job.id for job in self._scheduler.get_jobs() if job.id.startswith("pull:")}
            for job_id in current - set(wanted):
                self._scheduler.remove_job(job_id)
            for job_id in sorted(set(wanted) - current):
                self._add_pull_job(job_id, wanted[job_id])

    def _add_pull_job(self, job_id: str, peer: str) -> None:
        first = datetime.now(UTC) + timedelta(seconds=random.uniform(0, self._settings.jitter / 5))  # noqa: S311
        self._scheduler.add_job(
            self._pull_job,
            IntervalTrigger(seconds=self._settings.interval, jitter=self._settings.jitter or None),
            args=[peer],
            id=job_id,
            next_run_time=first,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(60, int(self._settings.interval * 2)),
        )
        log.info("scheduled pulls from %s every %.0f s", peer, self._settings.interval)

    def _pull_job(self, peer: str) -> None:
        if not self._backoff.due(peer):
            return
        try:
            ok = self._pull(peer)
        except Exception:  # one peer's failure must never stop the scheduler or the others
            log.exception("pull from %s failed unexpectedly", peer)
            ok = False
        delay = self._backoff.record(peer, ok=ok)
        if delay:
            log.warning("pull from %s failed; next attempt in %.0f s or later", peer, delay)

    def _refresh_job(self) -> None:
        try:
            self._refresh()
        except Exception:
            log.exception("match list refresh failed")
