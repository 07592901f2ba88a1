"""Repeatability (issue 6): the same feed synced three times, or into a database restored from
a backup and synced again, gives the same derived state, byte for byte."""

from __future__ import annotations

from pathlib import Path

from node.app import restore_database
from node.model import Tlp
from tests.support.nodes import LiveNode, state_digest


def _feed(tmp_path: Path) -> tuple[LiveNode, list[LiveNode]]:
    origin = LiveNode.start(tmp_path / "origin", "Origin", max_page_bytes=4096)
    receivers = [LiveNode.start(tmp_path / f"r{n}", f"R{n}") for n in range(3)]
    for n, receiver in enumerate(receivers):
        origin.pin(receiver, f"r{n}")
        receiver.pin(origin, "origin", endpoint=origin.address)
    for seed in range(8):
        if seed % 3 == 0:
            origin.publish(seed, tlp=Tlp.AMBER, to=_keys(receivers))
        else:
            origin.publish(seed)
    own = origin.node.store.reader.execute("SELECT value FROM indicators LIMIT 3").fetchall()
    origin.node.revoke([f"pdq:{value}" for (value,) in own])  # versions and revocations too
    return origin, receivers


def _keys(receivers: list[LiveNode]) -> frozenset:  # type: ignore[type-arg]
    return frozenset(r.node.key_id for r in receivers)


def test_the_same_feed_synced_three_times_gives_identical_state(tmp_path: Path) -> None:
    origin, receivers = _feed(tmp_path)
    try:
        digests = set()
        for receiver in receivers:
            [report] = receiver.node.sync()
            head = origin.node.store.head(origin.node.key_id)
            assert head is not None and report.ok and report.accepted == head.seq
            digests.add(state_digest(receiver.node.home.db_path))
        assert len(digests) == 1  # three receivers, one state
        first = receivers[0]
        for _ in range(3):  # and syncing again changes nothing, refuses nothing
            [again] = first.node.sync()
            assert again.ok and again.accepted == 0
        assert {state_digest(first.node.home.db_path)} == digests
        assert first.node.store.rejection_counts() == {}
    finally:
        for live in (origin, *receivers):
            live.stop()


def test_a_receiver_restored_from_a_backup_syncs_back_to_the_same_state(tmp_path: Path) -> None:
    origin, receivers = _feed(tmp_path)
    receiver = receivers[0]
    try:
        [report] = receiver.node.sync()
        assert report.ok
        expected = state_digest(receiver.node.home.db_path)
        receiver.node.backup(tmp_path / "mid.db")
        origin.publish(99)  # the feed moves on after the backup
        receiver.node.sync()
        expected_after = state_digest(receiver.node.home.db_path)
        assert expected_after != expected
        root = receiver.node.home.root
        receiver.stop()
        restore_database(root, tmp_path / "mid.db")
        restored = LiveNode.open(root, serve=False)
        assert state_digest(root / "accord.db") == expected  # the backup's state, exactly
        [resync] = restored.node.sync()
        assert resync.ok and resync.accepted == 1
        assert state_digest(root / "accord.db") == expected_after
        restored.stop()
    finally:
        for live in (origin, *receivers[1:]):
            live.stop()
