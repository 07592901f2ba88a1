"""The match log is counted in memory and written in one transaction per flush: nothing is
written per matching call, and a flush adds to what earlier flushes wrote (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from node.store import Store
from node.sync.matchlog import MatchLog


def logged(store: Store) -> list[tuple[str, str, int, str]]:
    return [
        tuple(r)
        for r in store.reader.execute("SELECT indicator_id, day, count, last_at FROM match_log ORDER BY 1, 2")
    ]


def test_matches_are_written_per_indicator_and_day_at_the_flush(store: Store) -> None:
    now = [datetime(2026, 12, 6, 23, 59, 58, tzinfo=UTC)]
    log = MatchLog(store=store, clock=lambda: now[0])
    log.record(["indicator--a", "indicator--a", "indicator--b"])
    now[0] += timedelta(seconds=1)
    log.record(["indicator--a"])
    assert logged(store) == []  # nothing written per call
    assert log.flush() == 2
    assert logged(store) == [
        ("indicator--a", "2026-12-06", 3, "2026-12-06T23:59:59.000Z"),
        ("indicator--b", "2026-12-06", 1, "2026-12-06T23:59:58.000Z"),
    ]
    now[0] += timedelta(seconds=2)  # the next UTC day
    log.record(["indicator--a"])
    assert log.flush() == 1 and log.flush() == 0
    assert [r[1:3] for r in logged(store) if r[0] == "indicator--a"] == [("2026-12-06", 3), ("2026-12-07", 1)]


def test_a_flush_adds_to_what_the_store_counted_before(store: Store) -> None:
    store.record_matches(["indicator--a"])  # written directly, as before this log existed
    log = MatchLog(store=store, clock=lambda: datetime.now(UTC))
    log.record(["indicator--a", "indicator--a"])
    log.flush()
    assert sum(r[2] for r in logged(store)) == 3
