"""Process-wide settings held while jobs run (node/sync/process_wide.py): the collector paused,
and during a pull the GIL changing hands every millisecond. The process gets its own settings
back when the last overlapping job ends, whatever happened to the jobs."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.sync.process_wide import PULL_SWITCH_INTERVAL, collector_paused, quick_handover
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


SETTINGS = {
    "collector": (collector_paused, lambda: not gc.isenabled(), gc.isenabled),
    "switch interval": (
        quick_handover,
        lambda: sys.getswitchinterval() == pytest.approx(PULL_SWITCH_INTERVAL),
        lambda: sys.getswitchinterval() == pytest.approx(0.005),
    ),
}


@pytest.mark.parametrize("setting", SETTINGS)
def test_spans_nest_overlap_across_threads_and_restore_when_the_last_ends(setting: str) -> None:
    span, changed, restored = SETTINGS[setting]
    assert restored()
    with span():
        assert changed()
        with span():
            assert changed()
        assert changed()  # the outer span is still open
    assert restored()

    def failing_job() -> None:
        with span():
            assert changed()
            raise RuntimeError("a pull that failed")

    with pytest.raises(RuntimeError):
        failing_job()
    assert restored()

    inside, leave = threading.Event(), threading.Event()

    def other_job() -> None:
        with span():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=other_job)
    with span():
        other.start()
        assert inside.wait(10)
    assert changed()  # the other thread's span is still open
    leave.set()
    other.join(10)
    assert restored()


def test_a_pause_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_operator_s_shorter_interval_is_kept() -> None:
    sys.setswitchinterval(0.0005)
    with quick_handover():
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    assert sys.getswitchinterval() == pytest.approx(0.0005)
