"""Cold start: the node saves its indexes with their change cursor and resumes from them.

Real node homes, real SQLite, real index files. Changes committed while the node was down
(new indicators, revocations) must show after the resume; anything wrong with the files means
a rebuild from the database with a warning, never a wrong answer.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.app.snapshots import INDEX_DIR
from node.model import Signal, Tlp
from tests.support.feeds import md5_signal, pdq_signal, vpdq_signal

KEPT, REVOKED_WHILE_DOWN, ADDED_WHILE_DOWN = pdq_signal(1), pdq_signal(2), pdq_signal(3)
VIDEO, MD5 = vpdq_signal(4), md5_signal(5)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    init_home(tmp_path / "home", name="Example NGO")
    return tmp_path / "home"


def contribute(home: Path, *signals: Signal) -> None:
    node = AccordNode.open(home)
    node.contribute(signals=[str(s) for s in signals], category="csam", tlp=Tlp.GREEN)
    node.close()


def revoke(home: Path, signal: Signal) -> None:
    node = AccordNode.open(home)
    node.revoke([str(signal)])
    node.close()


def served_then_stopped(home: Path) -> int:
    """A server's life: open the lists, save them at shutdown; returns the saved cursor."""
    node = AccordNode.open(home)
    node.open_lists()
    cursor = node.save_indexes()
    node.close()
    assert cursor is not None
    return cursor


def matched(node: AccordNode, signal: Signal) -> bool:
    return bool(node.matcher.match([signal])[0].matches)


def test_restart_resumes_from_the_saved_index_and_sees_changes_made_while_down(home: Path) -> None:
    contribute(home, KEPT, REVOKED_WHILE_DOWN, VIDEO, MD5)
    served_then_stopped(home)
    # While the server is down the CLI keeps writing the database.
    revoke(home, REVOKED_WHILE_DOWN)
    revoke(home, MD5)
    contribute(home, ADDED_WHILE_DOWN)

    node = AccordNode.open(home)
    listed, resumed = node.open_lists()
    assert resumed and node.lists.ready
    assert listed == 3  # kept pdq, added pdq, video (+ its md5/sha256: none, signals only)
    assert matched(node, KEPT) and matched(node, ADDED_WHILE_DOWN) and matched(node, VIDEO)
    assert not matched(node, REVOKED_WHILE_DOWN) and not matched(node, MD5)
    # Changes after the resume still arrive through the normal refresh.
    revoke(home, VIDEO)
    node.refresher.refresh()
    assert not matched(node, VIDEO)
    node.close()


def test_exact_lists_are_read_back_from_the_store_on_resume(home: Path) -> None:
    contribute(home, MD5, KEPT)
    served_then_stopped(home)
    node = AccordNode.open(home)
    assert node.open_lists() == (2, True)
    assert matched(node, MD5) and matched(node, KEPT)
    node.close()


def test_an_unchanged_node_does_not_save_again(home: Path) -> None:
    contribute(home, KEPT)
    node = AccordNode.open(home)
    node.open_lists()
    assert node.save_indexes() is not None
    assert node.save_indexes() is None  # nothing committed since
    contribute(home, ADDED_WHILE_DOWN)
    node.refresher.refresh()
    assert node.save_indexes() is not None
    node.close()


def corrupt_truncate(index: Path) -> None:
    victim = max((index / "pdq").glob("*.npy"), key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])


def corrupt_flip(index: Path) -> None:
    victim = next((index / "video").glob("*.npy"))
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))


def corrupt_manifest(index: Path) -> None:
    (index / "pdq" / "manifest.json").write_text("{not json")


@pytest.mark.parametrize("damage", [corrupt_truncate, corrupt_flip, corrupt_manifest])
def test_a_damaged_index_falls_back_to_a_rebuild_with_a_warning(
    home: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    contribute(home, KEPT, REVOKED_WHILE_DOWN, VIDEO)
    served_then_stopped(home)
    revoke(home, REVOKED_WHILE_DOWN)
    damage(home / INDEX_DIR)  # type: ignore[operator]
    node = AccordNode.open(home)
    with caplog.at_level(logging.WARNING, logger="node.app.snapshots"):
        listed, resumed = node.open_lists()
    assert not resumed and listed == 2
    assert "rebuilding from the store" in caplog.text
    assert KEPT.value not in caplog.text  # the warning never carries hash values
    assert matched(node, KEPT) and matched(node, VIDEO) and not matched(node, REVOKED_WHILE_DOWN)
    node.close()


def test_an_index_ahead_of_its_database_or_of_another_node_is_not_used(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    contribute(home, KEPT)
    served_then_stopped(home)
    # Another node's home with the first node's index files copied in.
    init_home(tmp_path / "other", name="Other")
    contribute(tmp_path / "other", ADDED_WHILE_DOWN, VIDEO)
    (tmp_path / "other" / INDEX_DIR).mkdir()
    for part in ("pdq", "video"):
        (home / INDEX_DIR / part).rename(tmp_path / "other" / INDEX_DIR / part)
    node = AccordNode.open(tmp_path / "other")
    with caplog.at_level(logging.WARNING):
        assert node.open_lists() == (2, False)
    assert "another node identity" in caplog.text
    assert not matched(node, KEPT) and matched(node, ADDED_WHILE_DOWN)
    node.close()

    # A database restored from an older backup: the saved cursor is beyond it.
    contribute(home, ADDED_WHILE_DOWN, VIDEO)
    served_then_stopped(home)
    (home / "accord.db").unlink()
    for suffix in ("-wal", "-shm"):
        (home / f"accord.db{suffix}").unlink(missing_ok=True)
    node = AccordNode.open(home)
    with caplog.at_level(logging.WARNING):
        assert node.open_lists() == (0, False)
    assert "ahead of the database" in caplog.text
    assert not matched(node, KEPT)
    node.close()


def test_a_full_build_uses_the_bulk_path_and_matches_like_incremental_updates(home: Path) -> None:
    signals = [pdq_signal(100 + n) for n in range(40)]
    contribute(home, *signals, MD5)
    for signal in signals[::5]:
        revoke(home, signal)
    node = AccordNode.open(home)
    assert node.load_lists() == 33  # 32 pdq + md5
    assert node.lists.pdq.stats()["segments"] == 1 and node.lists.pdq.stats()["tail_rows"] == 0
    for n, signal in enumerate(signals):
        assert matched(node, signal) == (n % 5 != 0)
    node.close()
