"""Faults injected at random points of a pull (issue 6): a real TCP proxy between two real
nodes drops, resets or stalls the connection mid-page. Every sync keeps what it committed, the
next one resumes from the committed cursor, nothing is fetched twice beyond the page in
flight, no gap appears, and the final state equals a clean sync's.

CI runs :data:`CI_SEEDS`; ``pytest -m slow`` runs :data:`SLOW_SEEDS` as well.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.model import KeyId, SignedEntry
from node.sync.ingest import Prepared
from tests.support.faults import FaultProxy
from tests.support.nodes import LiveNode, state_digest

ENTRIES = 40  # one entry per page (max_page_bytes 1 KiB), ~5 KiB each
FAULTS = 4
CI_SEEDS = (1, 2, 3)
SLOW_SEEDS = tuple(range(100, 120))


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    live = LiveNode.start(tmp_path_factory.mktemp("faults") / "origin", "Origin", max_page_bytes=1024)
    for seed in range(ENTRIES):
        live.publish(seed)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def clean_digest(origin: LiveNode, tmp_path_factory: pytest.TempPathFactory) -> str:
    receiver = _receiver(origin, tmp_path_factory.mktemp("clean"), endpoint=origin.address)
    [report] = receiver.node.sync()
    assert report.ok and report.accepted == ENTRIES
    digest = state_digest(receiver.node.home.db_path)
    receiver.stop()
    return digest


def _receiver(origin: LiveNode, root: Path, *, endpoint: str) -> LiveNode:
    receiver = LiveNode.start(root / "receiver", "Receiver")
    if receiver.node.key_id not in origin.node.store.pinned_keys():
        origin.pin(receiver, f"r-{receiver.node.key_id[:8]}")
    receiver.pin(origin, "origin", endpoint=endpoint)
    config = receiver.node.config
    receiver.node.config = replace(config, sync=replace(config.sync, page_timeout_seconds=1.0))
    return receiver


def _count_received(receiver: LiveNode) -> Counter[tuple[KeyId, int]]:
    """Counts every entry the receiver's pull takes in (each is prepared exactly once)."""
    received: Counter[tuple[KeyId, int]] = Counter()
    ingestor = receiver.node.ingestor
    prepare = ingestor.prepare

    def counted(item: SignedEntry, *, pinned: dict[KeyId, bytes]) -> Prepared:
        prepared = prepare(item, pinned=pinned)
        if prepared.header is not None:
            received[(prepared.header.origin, prepared.header.seq)] += 1
        return prepared

    ingestor.prepare = counted  # type: ignore[method-assign]
    return received


def _committed(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [row[0] for row in conn.execute("SELECT seq FROM entries ORDER BY seq")]


def run_with_faults(origin: LiveNode, clean_digest: str, root: Path, seed: int) -> tuple[int, int]:
    """One seed: sync through the proxy until complete. Returns (faults injected, re-fetched)."""
    proxy = FaultProxy(origin.address, seed=seed, faults=FAULTS, spacing=(4_000, 50_000), stall_seconds=3)
    receiver = _receiver(origin, root, endpoint=proxy.address)
    received = _count_received(receiver)
    try:
        committed: list[int] = []
        errors: list[str] = []
        for _ in range(3 * FAULTS + 2):
            [report] = receiver.node.sync()
            now = _committed(receiver.node.home.db_path)
            assert now == list(range(1, len(now) + 1))  # no gap, no duplicate
            assert len(now) >= len(committed)  # the committed cursor never moves back
            committed = now
            if report.ok:
                break
            assert report.error is not None and proxy.address in report.error
            errors.append(report.error)
        assert committed == list(range(1, ENTRIES + 1))
        assert state_digest(receiver.node.home.db_path) == clean_digest
        assert receiver.node.store.rejection_counts() == {}  # nothing replayed: no entry came twice
        refetched = sum(n - 1 for n in received.values())
        faults = len(proxy.injected)
        assert refetched <= faults  # at most the page in flight per fault
        print(f"seed {seed}: {[f.kind for f in proxy.injected]}; {len(errors)} syncs failed, then resumed")
        return faults, refetched
    finally:
        proxy.close()
        receiver.stop()


def _run_seeds(origin: LiveNode, clean_digest: str, root: Path, seeds: tuple[int, ...]) -> None:
    totals: Counter[str] = Counter()
    for seed in seeds:
        faults, refetched = run_with_faults(origin, clean_digest, root / f"seed{seed}", seed)
        totals["faults"] += faults
        totals["refetched"] += refetched
    print(
        f"faults: {len(seeds)} seeds, {totals['faults']} faults injected,"
        f" {totals['refetched']} pages re-fetched"
    )
    assert totals["faults"] >= len(seeds) * (FAULTS - 1)  # the plan lands inside the stream


def test_random_faults_mid_pull_resume_from_the_committed_cursor(
    origin: LiveNode, clean_digest: str, tmp_path: Path
) -> None:
    _run_seeds(origin, clean_digest, tmp_path, CI_SEEDS)


@pytest.mark.slow
def test_random_faults_over_many_seeds(origin: LiveNode, clean_digest: str, tmp_path: Path) -> None:
    _run_seeds(origin, clean_digest, tmp_path, SLOW_SEEDS)
