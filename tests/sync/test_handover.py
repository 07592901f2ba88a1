"""While a pull runs, the GIL changes hands every millisecond (node/sync/handover.py), and the
process gets its own interval back afterwards, whatever happened to the pull."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.sync.handover import PULL_SWITCH_INTERVAL, quick_handover
from tests.sync.test_ingest_bulk import published_to_empty
from tests.sync.test_publish_pull_serve import StoreSource, puller


@pytest.fixture(autouse=True)
def default_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(before)


def test_a_pull_commits_with_the_quick_handover_and_restores_the_interval(tmp_path: Path) -> None:
    origin_store, receiver = published_to_empty(tmp_path)
    pulling = puller(receiver)
    commit = pulling._ingestor.commit
    seen: list[float] = []

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(sys.getswitchinterval())
        return commit(*args, **kwargs)

    pulling._ingestor.commit = watched  # type: ignore[method-assign]
    report = pulling.pull(receiver.partner("ngo"), StoreSource(origin_store))  # type: ignore[arg-type]
    assert report.ok and report.accepted == 3
    assert seen == [PULL_SWITCH_INTERVAL] * 3
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_the_interval_comes_back_after_a_failure_and_only_when_the_last_span_ends() -> None:
    def failing_pull() -> None:
        with quick_handover():
            assert sys.getswitchinterval() == pytest.approx(PULL_SWITCH_INTERVAL)
            raise RuntimeError("a pull that failed")

    with pytest.raises(RuntimeError):
        failing_pull()
    assert sys.getswitchinterval() == pytest.approx(0.005)

    inside, leave = threading.Event(), threading.Event()

    def other_pull() -> None:
        with quick_handover():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=other_pull)
    with quick_handover():
        other.start()
        assert inside.wait(10)
    assert sys.getswitchinterval() == pytest.approx(PULL_SWITCH_INTERVAL)  # the other pull runs on
    leave.set()
    other.join(10)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_an_operator_s_shorter_interval_is_kept() -> None:
    sys.setswitchinterval(0.0005)
    with quick_handover():
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    assert sys.getswitchinterval() == pytest.approx(0.0005)
