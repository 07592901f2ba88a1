"""Backup and restore (issue 6): a consistent copy while serving, and a restored node that
learns its own feed back from a partner instead of forking it."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.app import restore_database
from node.app.locks import serve_lock
from node.cli.main import cli
from node.errors import AlreadyExists, InvalidInput, NodeBusy, RestoredFeed
from node.model import Tlp
from tests.support.nodes import LiveNode, state_digest
from tests.support.processes import ServeProcess, accord, free_port


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[LiveNode, LiveNode]]:
    ngo = LiveNode.start(tmp_path / "ngo", "NGO")
    platform = LiveNode.start(tmp_path / "platform", "Platform")
    platform.pin(ngo, "ngo", endpoint=ngo.address)
    ngo.pin(platform, "platform", endpoint=platform.address)
    yield ngo, platform
    for live in (ngo, platform):
        if live.servers is not None or not _closed(live):
            live.stop()


def _closed(live: LiveNode) -> bool:
    try:
        live.node.store.heads()
    except sqlite3.ProgrammingError:
        return True
    return False


def own_entries(live: LiveNode) -> list[tuple[int, str, str | None]]:
    rows = live.node.store.reader.execute(
        "SELECT seq, digest, prev FROM entries WHERE origin = ? ORDER BY seq", (live.node.key_id,)
    )
    return [(int(s), str(d), p) for s, d, p in rows]


def cli_run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_a_restored_node_learns_its_own_head_from_a_partner_before_publishing(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    ngo, platform = pair
    ngo.publish(1)
    ngo.node.backup(tmp_path / "after-1.db")
    ngo.publish(2)  # seq 2 GREEN; seq 3 RED to the platform: it may still go back to its origin
    ngo.publish(3, tlp=Tlp.RED, to=frozenset({platform.node.key_id}))
    assert [r.accepted for r in platform.node.sync()] == [3]
    held_by_partner = own_entries(ngo)
    root = ngo.node.home.root
    ngo.stop()

    code, output = cli_run("restore", "--home", root, tmp_path / "after-1.db")
    assert code == 0, output
    assert "own feed head 1" in output
    assert stat.S_IMODE((root / "identity.key").stat().st_mode) == 0o600
    restored = LiveNode.open(root)
    assert [s for s, _, _ in own_entries(restored)] == [1]

    with pytest.raises(RestoredFeed):
        restored.publish(4)
    code, output = cli_run("contribute", "--home", root, "--signal", "md5:" + "a" * 32, "--category", "csam")
    assert code == 4
    assert "restored from a backup" in output and "accord sync" in output
    assert own_entries(restored) == held_by_partner[:1]  # the refusal wrote nothing

    [report] = restored.node.sync()
    assert report.ok and report.accepted == 2
    assert own_entries(restored) == held_by_partner  # seq 2 and 3 came back, byte for byte
    assert restored.node.store.restored_at() is None
    published = restored.publish(4)
    assert published.seqs == (4,)
    assert own_entries(restored)[-1][2] == held_by_partner[-1][1]  # prev = digest of seq 3
    restored.node.revoke([f"pdq:{_own_signal(restored, seq=2)}"])  # relearned rows are ours to revoke

    platform.node.remove_partner("ngo")  # the restarted node serves on a new port
    platform.pin(restored, "ngo", endpoint=restored.address)
    assert [r.accepted for r in platform.node.sync()] == [2]
    for live in (restored, platform):
        assert live.node.store.evidence_count() == 0  # no equivocation anywhere
        assert live.node.store.rejection_counts() == {}
    restored.stop()


def _own_signal(live: LiveNode, *, seq: int) -> str:
    row = live.node.store.reader.execute(
        "SELECT value FROM indicators WHERE origin = ? AND entry_seq = ? AND local = 1 LIMIT 1",
        (live.node.key_id, seq),
    ).fetchone()
    return str(row[0])


def test_every_partner_with_an_endpoint_must_answer_before_publishing(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    ngo, _ = pair
    lab = LiveNode.start(tmp_path / "lab", "Lab")
    ngo.pin(lab, "lab", endpoint="127.0.0.1:1")  # unreachable: it cannot confirm our head
    ngo.publish(1)
    ngo.node.backup(tmp_path / "b.db")
    root = ngo.node.home.root
    ngo.stop()
    restore_database(root, tmp_path / "b.db")
    restored = LiveNode.open(root, serve=False)

    reports = {r.partner: r for r in restored.node.sync()}
    assert reports["platform"].ok and not reports["lab"].ok
    with pytest.raises(RestoredFeed):
        restored.publish(2)
    restored.node.remove_partner("lab")
    restored.node.sync()
    assert restored.publish(2).seqs == (2,)
    restored.stop()
    lab.stop()


def test_restore_refuses_a_running_node_and_leaves_its_database(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    ngo, _ = pair
    ngo.publish(1)
    ngo.node.backup(tmp_path / "b.db")
    ngo.publish(2)
    root = ngo.node.home.root
    with serve_lock(root) as held:  # what a running 'accord serve' holds
        assert held
        code, output = cli_run("restore", "--home", root, tmp_path / "b.db")
        assert code == 3
        assert "running" in output
        with pytest.raises(NodeBusy):
            restore_database(root, tmp_path / "b.db")
    assert [s for s, _, _ in own_entries(ngo)] == [1, 2]


def test_restore_refuses_another_nodes_backup_and_garbage(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    ngo, platform = pair
    platform.publish(1)
    platform.node.backup(tmp_path / "platform.db")
    (tmp_path / "garbage.db").write_bytes(b"not a database" * 100)
    root = ngo.node.home.root
    ngo.stop()
    with pytest.raises(InvalidInput, match="another node's backup"):
        restore_database(root, tmp_path / "platform.db")
    code, output = cli_run("restore", "--home", root, tmp_path / "garbage.db")
    assert code == 2 and "not an Accord database backup" in output
    code, output = cli_run("restore", "--home", root, tmp_path / "missing.db")
    assert code == 3


def test_backup_is_0600_refuses_to_overwrite_and_restores_an_identical_state(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    ngo, platform = pair
    ngo.publish(1)
    platform.node.sync()
    target = tmp_path / "platform.db"
    code, output = cli_run("backup", "--home", platform.node.home.root, target)
    assert code == 0, output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(AlreadyExists):
        platform.node.backup(target)
    assert state_digest(target) == state_digest(platform.node.home.db_path)
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file


def test_backup_while_serving_and_restore_refused_under_a_running_serve(tmp_path: Path) -> None:
    home = tmp_path / "node"
    assert accord("init", "--home", home, "--name", "served").returncode == 0
    assert (
        accord("contribute", "--home", home, "--signal", "md5:" + "b" * 32, "--category", "csam").returncode
        == 0
    )
    node = ServeProcess(home, listen=free_port(), local=free_port(), log=tmp_path / "serve.log")
    try:
        backup = accord("backup", "--home", home, tmp_path / "live.db")
        assert backup.returncode == 0, backup.stderr
        refused = accord("restore", "--home", home, tmp_path / "live.db")
        assert refused.returncode == 3
        assert "a node is running" in refused.stderr
        second = accord(
            "serve",
            "--home",
            home,
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--local-listen",
            f"127.0.0.1:{free_port()}",
            timeout=30,
        )
        assert second.returncode == 3 and "another 'accord serve' is running" in second.stderr
    finally:
        assert node.stop() == 0
    assert accord("restore", "--home", home, tmp_path / "live.db").returncode == 0
