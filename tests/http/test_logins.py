"""The login throttle on its own, with an injected clock: lockouts, their growth, forgetting."""

from __future__ import annotations

import pytest

from node.errors import RateLimited
from node.http.logins import FORGET_SECONDS, MAX_LOCKOUT_SECONDS, LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, *, per_name: int = 3, per_address: int = 100) -> LoginThrottle:
    return LoginThrottle(
        max_failures=per_name, max_failures_per_address=per_address, lockout_seconds=60.0, clock=clock
    )


def locked_for(gate: LoginThrottle, name: str, address: str = "192.0.2.1") -> float:
    try:
        gate.check(name, address)
    except RateLimited as exc:
        return exc.retry_after
    return 0.0


def test_a_lockout_doubles_each_time_up_to_an_hour_and_names_are_case_folded() -> None:
    clock = Clock()
    gate = throttle(clock)
    waits = []
    for _ in range(8):
        for _ in range(3):
            gate.failed("Alice", "192.0.2.1")
        waits.append(locked_for(gate, "alice"))
        clock.now += waits[-1]  # wait the lockout out, then fail again
        assert locked_for(gate, "ALICE") == 0.0
    assert waits == [60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, MAX_LOCKOUT_SECONDS, MAX_LOCKOUT_SECONDS]
    assert gate.failures == 24


def test_a_success_clears_the_name_but_never_the_address() -> None:
    clock = Clock()
    gate = throttle(clock, per_name=3, per_address=4)
    gate.failed("alice", "192.0.2.1")
    gate.failed("alice", "192.0.2.1")
    gate.succeeded("alice")
    gate.failed("alice", "192.0.2.1")
    gate.failed("alice", "192.0.2.1")
    assert locked_for(gate, "alice", "198.51.100.1") == 0.0  # the name's count restarted at the success
    assert locked_for(gate, "bob", "192.0.2.1") == 60.0  # the address's four failures still count


def test_quiet_failures_are_forgotten_and_unknown_names_lock_like_known_ones() -> None:
    clock = Clock()
    gate = throttle(clock)
    gate.failed("nobody", "192.0.2.1")
    gate.failed("nobody", "192.0.2.1")
    clock.now += FORGET_SECONDS + 1
    gate.failed("nobody", "192.0.2.1")
    assert locked_for(gate, "nobody") == 0.0  # the first two were forgotten
    gate.failed("nobody", "192.0.2.1")
    gate.failed("nobody", "192.0.2.1")
    with pytest.raises(RateLimited, match="account name or from this address"):
        gate.check("nobody", "203.0.113.5")
