"""The pull scheduler with a real APScheduler and tiny intervals. Every wait is bounded."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pytest
from apscheduler.schedulers import SchedulerNotRunningError

from node.scheduler import ScheduleSettings, SyncScheduler

FAST = ScheduleSettings(interval=0.2, jitter=0, max_backoff=0.2, refresh=0.05)


def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class Calls:
    """Thread-safe record of what the scheduler called."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pulls: Counter[str] = Counter()
        self.refreshes = 0

    def pull(self, peer: str) -> bool:
        with self._lock:
            self.pulls[peer] += 1
        return True

    def refresh(self) -> int:
        with self._lock:
            self.refreshes += 1
        return 0

    def count(self, peer: str) -> int:
        with self._lock:
            return self.pulls[peer]


Factory = Callable[..., SyncScheduler]


@pytest.fixture
def make_scheduler() -> Iterator[Factory]:
    made: list[SyncScheduler] = []

    def make(
        *,
        peers: Callable[[], Sequence[str]],
        pull: Callable[[str], bool],
        refresh: Callable[[], int] = lambda: 0,
        settings: ScheduleSettings = FAST,
    ) -> SyncScheduler:
        scheduler = SyncScheduler(settings=settings, peers=peers, pull=pull, refresh=refresh)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        with contextlib.suppress(SchedulerNotRunningError):  # stopped by the test already
            scheduler.stop()


def test_each_peer_is_pulled_repeatedly(make_scheduler: Factory) -> None:
    calls = Calls()
    make_scheduler(peers=lambda: ["a", "b"], pull=calls.pull, refresh=calls.refresh).start()
    assert wait_until(lambda: calls.count("a") >= 3 and calls.count("b") >= 3)
    assert set(calls.pulls) == {"a", "b"}


def test_refresh_runs_repeatedly(make_scheduler: Factory) -> None:
    calls = Calls()
    make_scheduler(peers=list, pull=calls.pull, refresh=calls.refresh).start()
    assert wait_until(lambda: calls.refreshes >= 5)
    assert calls.pulls == Counter()


def test_a_failing_refresh_keeps_being_retried(make_scheduler: Factory) -> None:
    attempts: list[float] = []

    def refresh() -> int:
        attempts.append(time.monotonic())
        raise RuntimeError("database locked")

    make_scheduler(peers=list, pull=lambda _: True, refresh=refresh).start()
    assert wait_until(lambda: len(attempts) >= 3)


def test_a_raising_peer_does_not_stop_the_others(make_scheduler: Factory) -> None:
    calls = Calls()

    def pull(peer: str) -> bool:
        calls.pull(peer)
        if peer == "broken":
            raise ConnectionError("peer down")
        return True

    make_scheduler(peers=lambda: ["broken", "good"], pull=pull).start()
    assert wait_until(lambda: calls.count("good") >= 4 and calls.count("broken") >= 2, timeout=2.5)


@pytest.mark.parametrize("raises", [False, True], ids=["returns-false", "raises"])
def test_a_failing_peer_is_backed_off(make_scheduler: Factory, raises: bool) -> None:
    calls = Calls()

    def pull(peer: str) -> bool:
        calls.pull(peer)
        if peer == "failing" and raises:
            raise ConnectionError("peer down")
        return peer != "failing"

    settings = ScheduleSettings(interval=0.1, jitter=0, max_backoff=10, refresh=1)
    make_scheduler(peers=lambda: ["failing", "good"], pull=pull, settings=settings).start()
    assert wait_until(lambda: calls.count("good") >= 12, timeout=2.5)
    # Delays of 0.1, 0.2, 0.4, 0.8 s: a handful of attempts while the good peer is pulled every 0.1 s.
    assert 1 <= calls.count("failing") <= calls.count("good") // 2


def test_a_pull_never_overlaps_itself(make_scheduler: Factory) -> None:
    lock = threading.Lock()
    running = Counter[str]()
    peak = Counter[str]()
    finished = Counter[str]()

    def slow_pull(peer: str) -> bool:
        with lock:
            running[peer] += 1
            peak[peer] = max(peak[peer], running[peer])
        time.sleep(0.5)
        with lock:
            running[peer] -= 1
            finished[peer] += 1
        return True

    make_scheduler(peers=lambda: ["slow"], pull=slow_pull).start()
    assert wait_until(lambda: finished["slow"] >= 3, timeout=2.8)
    assert peak["slow"] == 1


def test_reconcile_follows_the_partner_list(make_scheduler: Factory) -> None:
    calls = Calls()
    peers = ["a", "b"]
    scheduler = make_scheduler(peers=lambda: list(peers), pull=calls.pull)
    scheduler.start()
    assert wait_until(lambda: calls.count("a") >= 1 and calls.count("b") >= 1)

    peers[:] = ["a", "c"]  # b removed, c added
    scheduler.reconcile()
    assert wait_until(lambda: calls.count("c") >= 2)
    time.sleep(0.05)  # a pull of b already running when it was removed may still finish
    b_after_removal = calls.count("b")
    a_before = calls.count("a")
    time.sleep(0.5)
    assert calls.count("b") == b_after_removal
    assert calls.count("a") > a_before


def test_reconcile_twice_does_not_duplicate_jobs(make_scheduler: Factory) -> None:
    calls = Calls()
    scheduler = make_scheduler(peers=lambda: ["a"], pull=calls.pull)
    scheduler.start()
    scheduler.reconcile()
    scheduler.reconcile()
    time.sleep(1.0)
    # One job every 0.2 s: about 5 pulls in a second; three jobs would make about 15.
    assert 2 <= calls.count("a") <= 8


def test_stop_stops_calls(make_scheduler: Factory) -> None:
    calls = Calls()
    scheduler = make_scheduler(peers=lambda: ["a"], pull=calls.pull, refresh=calls.refresh)
    scheduler.start()
    assert wait_until(lambda: calls.count("a") >= 2 and calls.refreshes >= 2)
    scheduler.stop()
    time.sleep(0.1)  # a job already handed to the pool may still run once
    pulls, refreshes = calls.count("a"), calls.refreshes
    time.sleep(0.5)
    assert (calls.count("a"), calls.refreshes) == (pulls, refreshes)
