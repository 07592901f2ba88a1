"""Per-peer exponential backoff with an injected clock."""

from __future__ import annotations

import pytest

from node.scheduler import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_peer_is_due_initially(clock: FakeClock) -> None:
    backoff = Backoff(interval=60, cap=900, clock=clock)
    assert backoff.due("a")


def test_a_failure_delays_the_next_attempt(clock: FakeClock) -> None:
    backoff = Backoff(interval=60, cap=900, clock=clock)
    delay = backoff.record("a", ok=False)
    assert 54 <= delay <= 66
    assert not backoff.due("a")
    start = clock.now
    clock.now = start + delay - 0.01
    assert not backoff.due("a")
    clock.now = start + delay  # computed as the backoff computes it: no float drift
    assert backoff.due("a")


def test_delays_double_up_to_the_cap(clock: FakeClock) -> None:
    backoff = Backoff(interval=10, cap=100, clock=clock)
    delays = [backoff.record("a", ok=False) for _ in range(8)]
    expected = [10, 20, 40, 80, 100, 100, 100, 100]
    for delay, nominal in zip(delays, expected, strict=True):
        assert nominal * 0.9 <= delay <= nominal * 1.1


def test_the_delay_is_jittered(clock: FakeClock) -> None:
    delays = {Backoff(interval=10, cap=100, clock=clock).record("a", ok=False) for _ in range(20)}
    assert len(delays) > 1


def test_success_resets(clock: FakeClock) -> None:
    backoff = Backoff(interval=10, cap=1000, clock=clock)
    for _ in range(5):
        backoff.record("a", ok=False)
    assert not backoff.due("a")
    assert backoff.record("a", ok=True) == 0.0
    assert backoff.due("a")
    assert 9 <= backoff.record("a", ok=False) <= 11  # starts again from the interval


def test_peers_are_independent(clock: FakeClock) -> None:
    backoff = Backoff(interval=10, cap=1000, clock=clock)
    for _ in range(3):
        backoff.record("a", ok=False)
    assert not backoff.due("a")
    assert backoff.due("b")
    assert 9 <= backoff.record("b", ok=False) <= 11
    backoff.record("b", ok=True)
    assert not backoff.due("a")


def test_a_long_outage_stays_capped(clock: FakeClock) -> None:
    backoff = Backoff(interval=60, cap=900, clock=clock)
    for _ in range(1100):
        delay = backoff.record("a", ok=False)
        clock.now += delay
    assert 810 <= delay <= 990
