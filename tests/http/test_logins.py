"""The login throttle with an injected clock: lockouts, their growth, forgetting, and the counts
saved in a real node's database so that a restart keeps them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.app import AccordNode
from node.errors import RateLimited
from node.http.logins import FORGET_SECONDS, MAX_LOCKOUT_SECONDS, FailureStore, LoginThrottle


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


# --- counts that outlive a restart (saved in the node's database) -----------------------------


@pytest.fixture
def node(fresh_home: Path) -> Iterator[AccordNode]:
    opened = AccordNode.open(fresh_home)
    yield opened
    opened.close()


def saved(node: AccordNode) -> FailureStore:
    return FailureStore(
        load=node.login_failures, save=node.save_login_failures, forget=node.forget_login_failures
    )


def restarted(clock: Clock, node: AccordNode, *, per_name: int = 3) -> LoginThrottle:
    return LoginThrottle(
        max_failures=per_name,
        max_failures_per_address=100,
        lockout_seconds=60.0,
        clock=clock,
        store=saved(node),
    )


def test_a_restart_keeps_lockouts_and_their_growth(node: AccordNode) -> None:
    clock = Clock()
    gate = restarted(clock, node)
    for _ in range(3):
        gate.failed("Alice", "192.0.2.1")
    clock.now += 10
    gate = restarted(clock, node)  # a new throttle over the same database: a restart
    assert locked_for(gate, "alice") == 50.0  # the lockout's rest, not a fresh start
    clock.now += 50
    for _ in range(3):
        gate.failed("alice", "192.0.2.1")
    assert locked_for(restarted(clock, node), "ALICE") == 120.0  # the second lockout doubled
    assert gate.save_errors == 0


def test_a_success_deletes_the_names_row_and_forgotten_rows_are_pruned_at_start(node: AccordNode) -> None:
    clock = Clock()
    gate = restarted(clock, node)
    gate.failed("alice", "192.0.2.1")
    gate.failed("nobody", "198.51.100.7")
    keys = {(r.kind, r.key) for r in node.login_failures()}
    assert keys == {
        ("name", "alice"),
        ("name", "nobody"),
        ("address", "192.0.2.1"),
        ("address", "198.51.100.7"),
    }
    gate.succeeded("Alice")
    assert ("name", "alice") not in {(r.kind, r.key) for r in node.login_failures()}
    assert ("address", "192.0.2.1") in {(r.kind, r.key) for r in node.login_failures()}  # never the address
    clock.now += FORGET_SECONDS + 1
    restarted(clock, node)
    assert node.login_failures() == []  # quiet for long enough: forgotten, in the database too


def test_a_wall_clock_step_back_never_answers_more_than_the_longest_lockout(node: AccordNode) -> None:
    clock = Clock()
    gate = restarted(clock, node, per_name=1)
    gate.failed("alice", "192.0.2.1")
    clock.now -= 86_400  # the machine's clock was a day fast when the lockout was saved
    gate = restarted(clock, node, per_name=1)
    assert locked_for(gate, "alice") == MAX_LOCKOUT_SECONDS
    clock.now += MAX_LOCKOUT_SECONDS / 2
    assert locked_for(restarted(clock, node, per_name=1), "alice") == MAX_LOCKOUT_SECONDS / 2  # not again
    clock.now += MAX_LOCKOUT_SECONDS / 2
    assert locked_for(restarted(clock, node, per_name=1), "alice") == 0.0  # not a day: an hour at most
    clock.now = 1000.0 + 86_400  # the wall clock steps back while running, too
    gate = restarted(clock, node, per_name=1)
    gate.failed("bob", "192.0.2.9")
    clock.now -= 86_400
    assert locked_for(gate, "bob") == MAX_LOCKOUT_SECONDS
    clock.now += MAX_LOCKOUT_SECONDS
    assert locked_for(gate, "bob") == 0.0


def test_a_count_that_cannot_be_saved_still_locks_and_is_counted(fresh_home: Path) -> None:
    node = AccordNode.open(fresh_home)
    clock = Clock()
    gate = restarted(clock, node, per_name=1)
    node.close()  # the database went away under the throttle
    gate.failed("alice", "192.0.2.1")
    assert gate.save_errors == 1 and locked_for(gate, "alice") == 60.0


def test_a_flood_of_fresh_names_stays_bounded_in_the_database_too(
    node: AccordNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("node.http.logins.MAX_TRACKED", 8)
    clock = Clock()
    gate = restarted(clock, node)
    for n in range(40):
        clock.now += 1
        gate.failed(f"guess-{n}", "192.0.2.1")
    kept = {(r.kind, r.key) for r in node.login_failures()}
    assert len(kept) <= 8 and ("name", "guess-39") in kept  # the most recent are kept
    assert ("name", "guess-0") not in kept  # the quietest went from the database with the memory
    assert ("address", "192.0.2.1") in kept  # failing every time, it is never the quietest
