"""The match tape: every matching call's record reaches the counters exactly once, in order,
even while other threads append during a fold."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from node.sync.tape import MatchTape, Taped

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_records_are_folded_once_in_the_order_they_were_made() -> None:
    folded: list[Taped] = []
    tape = MatchTape(folded.extend)
    for n in range(5):
        tape.append([f"i{n}"], [f"i{n}"] if n % 2 else [], T0 + timedelta(seconds=n))
    assert folded == []  # nothing is counted on the match path
    assert tape.fold() == 5
    assert [t.indicator_ids[0] for t in folded] == ["i0", "i1", "i2", "i3", "i4"]
    assert [bool(t.others) for t in folded] == [False, True, False, True, False]
    assert tape.fold() == 0 and len(folded) == 5


def test_a_tape_nobody_folds_folds_itself_past_its_bound() -> None:
    folded: list[Taped] = []
    tape = MatchTape(folded.extend, max_taped=3)
    for n in range(4):
        tape.append([f"i{n}"], [], T0)
    assert len(folded) == 4  # the fourth append folded all four


def test_appends_racing_folds_are_neither_lost_nor_counted_twice() -> None:
    seen: list[str] = []

    def slow_fold(items: Sequence[Taped]) -> None:
        for item in items:
            seen.extend(item.indicator_ids)

    tape = MatchTape(slow_fold, max_taped=10_000_000)
    stop = threading.Event()

    def folder() -> None:
        while not stop.is_set():
            tape.fold()

    def matcher(k: int) -> None:
        for n in range(20_000):
            tape.append([f"{k}-{n}"], [], T0)

    folders = [threading.Thread(target=folder) for _ in range(2)]
    matchers = [threading.Thread(target=matcher, args=(k,)) for k in range(3)]
    for t in folders + matchers:
        t.start()
    for t in matchers:
        t.join()
    stop.set()
    for t in folders:
        t.join()
    tape.fold()
    assert len(seen) == 60_000 and len(set(seen)) == 60_000
    for k in range(3):  # each thread's records in the order it made them
        mine = [int(s.split("-")[1]) for s in seen if s.startswith(f"{k}-")]
        assert mine == sorted(mine)
