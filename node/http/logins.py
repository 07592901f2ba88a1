"""Failed logins: counted per account name and per client address, with a lockout that grows.

After ``max_failures`` failures in a row for one name, or ``max_failures_per_address`` from one
address, logins there are refused without checking the password for ``lockout_seconds``,
doubling at each further lockout up to :data:`MAX_LOCKOUT_SECONDS`. Names are counted whether
or not an account has them, and the refusal reads the same for both, so the lockout tells an
attacker nothing about which names exist. Failures quieter than :data:`FORGET_SECONDS` are
forgotten. With a :class:`FailureStore` the counts also outlive a restart (a restart must not
hand an attacker fresh guesses): every failure is saved, a name's success deletes its row,
forgotten entries are deleted, and the throttle starts from what was saved. Instants are
wall-clock seconds (``time.time``) so that they mean the same after a restart; a lockout never
lasts longer than :data:`MAX_LOCKOUT_SECONDS` from now, whatever the wall clock did meanwhile.
Saving happens in the caller's thread (handlers call :meth:`LoginThrottle.failed` and
:meth:`LoginThrottle.succeeded` from the thread pool), never in the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from node.errors import RateLimited
from node.model.accounts import LoginFailures

log = logging.getLogger(__name__)

MAX_LOCKOUT_SECONDS = 3600.0  # a forgotten password costs its owner at most an hour at a time
FORGET_SECONDS = 900.0  # 15 minutes without a failure: the slate is clean again
MAX_TRACKED = 100_000  # names + addresses remembered; beyond, the quietest are forgotten


@dataclass(frozen=True, slots=True)
class FailureStore:
    """Where failure counts outlive a restart (handed in by node/app/http_api.py; no SQL here)."""

    load: Callable[[], Sequence[LoginFailures]]
    save: Callable[[Sequence[LoginFailures]], None]  # insert or replace these rows
    forget: Callable[[Sequence[tuple[str, str]]], None]  # delete these (kind, key) rows


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
        clock: Callable[[], float] = time.time,
        store: FailureStore | None = None,
    ) -> None:
        self._limits = {"name": max_failures, "address": max_failures_per_address}
        self._lockout = lockout_seconds
        self._clock = clock
        self._store = store
        self._seen: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()  # guards _seen
        self._saving = threading.Lock()  # orders saves: a later count never loses to an earlier one
        self.failures = 0  # every failed login since start (for metrics and tests)
        self.save_errors = 0  # counts that could not be saved (they still hold in memory)
        if store is not None:
            self._load(store)

    def _load(self, store: FailureStore) -> None:
        """Start from the saved counts; delete the rows that are forgotten by now, and bring
        instants the wall clock has not reached yet (it stepped back) to at most now plus the
        longest lockout, saved so (else every restart would extend the lockout again)."""
        now = self._clock()
        clamped: list[LoginFailures] = []
        for row in store.load():
            until, last = min(row.locked_until, now + MAX_LOCKOUT_SECONDS), min(row.last, now)
            self._seen[(row.kind, row.key)] = _Failures(row.count, row.lockouts, until, last)
            if (until, last) != (row.locked_until, row.last):
                clamped.append(LoginFailures(row.kind, row.key, row.count, row.lockouts, until, last))
        forgotten = self._forget_quiet(now)
        if forgotten:
            store.forget(forgotten)
        if clamped:
            store.save(clamped)
        log.info("login throttle: %d failed-login counts carried over a restart", len(self._seen))

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
        """Count one failed login; lock the name or the address out when it reached its limit
        (and save both counts, when the throttle has a store)."""
        with self._saving:
            now = self._clock()
            with self._lock:
                self.failures += 1
                forgotten = self._forget_quiet(now) if len(self._seen) >= MAX_TRACKED else []
                changed = [self._count(key, now) for key in (("name", name.lower()), ("address", address))]
            self._save(changed, forgotten)

    def succeeded(self, name: str) -> None:
        """A good password clears the name's failures (never the address's: one valid account
        must not buy an address more guesses at other names)."""
        key = ("name", name.lower())
        with self._saving:
            with self._lock:
                known = self._seen.pop(key, None) is not None
            if known:  # nothing to delete (and no write) for a name that never failed
                self._save([], [key])

    def _save(self, changed: Sequence[LoginFailures], forgotten: Sequence[tuple[str, str]]) -> None:
        if self._store is None:
            return
        try:
            if forgotten:
                self._store.forget(forgotten)
            if changed:
                self._store.save(changed)
        except Exception:  # the count still holds in memory; a restart now would lose it
            self.save_errors += 1
            log.exception("could not save failed-login counts (%d failures so far)", self.save_errors)

    def _locked_for(self, key: tuple[str, str], now: float) -> float:
        entry = self._seen.get(key)
        if entry is None:
            return 0.0
        if entry.locked_until - now > MAX_LOCKOUT_SECONDS:  # the wall clock stepped back
            entry.locked_until = now + MAX_LOCKOUT_SECONDS
        return max(0.0, entry.locked_until - now)

    def _count(self, key: tuple[str, str], now: float) -> LoginFailures:
        entry = self._seen.setdefault(key, _Failures())
        if now - max(entry.last, entry.locked_until) > FORGET_SECONDS:  # quiet since the lockout ended
            entry.count, entry.lockouts = 0, 0
        entry.count += 1
        entry.last = now
        if entry.count >= self._limits[key[0]]:
            entry.locked_until = now + min(MAX_LOCKOUT_SECONDS, self._lockout * 2**entry.lockouts)
            entry.lockouts += 1
            entry.count = 0
        return LoginFailures(key[0], key[1], entry.count, entry.lockouts, entry.locked_until, entry.last)

    def _forget_quiet(self, now: float) -> list[tuple[str, str]]:
        """Drop the entries quiet for :data:`FORGET_SECONDS` since their last failure or lockout
        (and, at :data:`MAX_TRACKED`, the quietest half); the keys dropped."""
        quiet = [
            k
            for k, v in self._seen.items()
            if now - max(v.last, v.locked_until) > FORGET_SECONDS and v.locked_until <= now
        ]
        for key in quiet:
            del self._seen[key]
        if len(self._seen) >= MAX_TRACKED:  # a flood of fresh names: keep the most recent half
            ordered = sorted(self._seen.items(), key=lambda item: item[1].last)
            half = len(ordered) // 2
            quiet += [key for key, _ in ordered[:half]]
            self._seen = dict(ordered[half:])
        return quiet
