"""Failed logins: counted per account name and per client address, with a lockout that grows.

After ``max_failures`` failures in a row for one name, or ``max_failures_per_address`` from one
address, logins there are refused without checking the password for ``lockout_seconds``,
doubling at each further lockout up to :data:`MAX_LOCKOUT_SECONDS`. Names are counted whether
or not an account has them, and the refusal reads the same for both, so the lockout tells an
attacker nothing about which names exist. Counts live in memory (a restart forgets them, as it
forgets the per-account rate limits); failures quieter than :data:`FORGET_SECONDS` are forgotten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from node.errors import RateLimited

MAX_LOCKOUT_SECONDS = 3600.0  # a forgotten password costs its owner at most an hour at a time
FORGET_SECONDS = 900.0  # 15 minutes without a failure: the slate is clean again
MAX_TRACKED = 100_000  # names + addresses remembered; beyond, the quietest are forgotten


@dataclass(slots=True)
class _Failures:
    count: int = 0
    lockouts: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Failure counts and lockouts. Thread-safe; the clock is injectable for tests."""

    def __init__(
        self,
        *,
        max_failures: int,
        max_failures_per_address: int,
        lockout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"name": max_failures, "address": max_failures_per_address}
        self._lockout = lockout_seconds
        self._clock = clock
        self._seen: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()
        self.failures = 0  # every failed login since start (for metrics and tests)

    def check(self, name: str, address: str) -> None:
        """RateLimited when logins for ``name`` or from ``address`` are locked out."""
        now = self._clock()
        with self._lock:
            wait = max(
                self._locked_for(("name", name.lower()), now), self._locked_for(("address", address), now)
            )
        if wait > 0:
            raise RateLimited(
                "too many failed logins for this account name or from this address; retry later"
                " (http.login_max_failures)",
                retry_after=wait,
            )

    def failed(self, name: str, address: str) -> None:
        """Count one failed login; lock the name or the address out when it reached its limit."""
        now = self._clock()
        with self._lock:
            self.failures += 1
            if len(self._seen) >= MAX_TRACKED:
                self._forget_quiet(now)
            for key in (("name", name.lower()), ("address", address)):
                self._count(key, now)

    def succeeded(self, name: str) -> None:
        """A good password clears the name's failures (never the address's: one valid account
        must not buy an address more guesses at other names)."""
        with self._lock:
            self._seen.pop(("name", name.lower()), None)

    def _locked_for(self, key: tuple[str, str], now: float) -> float:
        entry = self._seen.get(key)
        return 0.0 if entry is None else max(0.0, entry.locked_until - now)

    def _count(self, key: tuple[str, str], now: float) -> None:
        entry = self._seen.setdefault(key, _Failures())
        if now - max(entry.last, entry.locked_until) > FORGET_SECONDS:  # quiet since the lockout ended
            entry.count, entry.lockouts = 0, 0
        entry.count += 1
        entry.last = now
        if entry.count >= self._limits[key[0]]:
            entry.locked_until = now + min(MAX_LOCKOUT_SECONDS, self._lockout * 2**entry.lockouts)
            entry.lockouts += 1
            entry.count = 0

    def _forget_quiet(self, now: float) -> None:
        quiet = [k for k, v in self._seen.items() if now - v.last > FORGET_SECONDS and v.locked_until <= now]
        for key in quiet:
            del self._seen[key]
        if len(self._seen) >= MAX_TRACKED:  # a flood of fresh names: keep the most recent half
            ordered = sorted(self._seen.items(), key=lambda item: item[1].last)
            self._seen = dict(ordered[len(ordered) // 2 :])
