"""Backup and restore (issue 6): a consistent copy while serving, and a restored node that
learns its own feed back from a partner instead of forking it."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.app import restore_database
from node.app.locks import serve_lock
from node.cli.main import cli
from node.config import load_config
from node.errors import AlreadyExists, ConfigError, InvalidInput, NodeBusy, RestoredFeed
from node.feed import public_key_to_text
from node.model import Tlp
from tests.support.feeds import identity
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


def test_with_two_partners_the_majority_is_both_and_an_unpinned_one_stops_counting(
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


# --- restore never forks (issue 12): a quorum, and no head of ours beyond what we hold --------


def _withhold_own_feed_after(live: LiveNode, origin: str, seq: int) -> None:
    """Play a hostile partner: it keeps showing our signed head but no longer serves the entries."""
    with sqlite3.connect(live.node.store.path, isolation_level=None) as conn:
        conn.execute("DELETE FROM entries WHERE origin = ? AND seq > ?", (origin, seq))


def test_a_head_of_our_feed_beyond_the_restored_position_blocks_publishing_until_it_comes_back(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    ngo, platform = pair  # the platform will be behind: it synced before the backup only
    lab = LiveNode.start(tmp_path / "lab", "Lab")  # the lab holds more, and will withhold it
    hub = LiveNode.start(tmp_path / "hub", "Hub")  # the hub holds more, and returns it
    for partner in (lab, hub):
        partner.pin(ngo, "ngo", endpoint=ngo.address)
    ngo.pin(lab, "lab", endpoint=lab.address)
    ngo.pin(hub, "hub")  # it pulls from us; we do not pull from it (yet)
    ngo.publish(1)
    platform.node.sync()
    ngo.node.backup(tmp_path / "b.db")
    ngo.publish(2)
    ngo.publish(3)
    for partner in (lab, hub):
        assert [r.accepted for r in partner.node.sync()] == [3]
    held_by_hub = own_entries(ngo)
    _withhold_own_feed_after(lab, ngo.node.key_id, 1)
    root = ngo.node.home.root
    ngo.stop()
    restore_database(root, tmp_path / "b.db")
    restored = LiveNode.open(root)

    reports = {r.partner: r for r in restored.node.sync()}
    assert reports["platform"].ok and reports["lab"].ok  # both answered: the quorum (2 of 2) is met
    with pytest.raises(
        RestoredFeed, match=r"lab \(seq 3\) showed a head of it signed with this node's own key"
    ):
        restored.publish(2)  # a second seq 2: the lab and the hub hold another
    assert reports["lab"].rejected == {"withheld": 1}  # it showed seq 3 and served nothing
    code, output = cli_run("restore", "confirm", "--home", root, "--force")
    assert code == 4 and "--force cannot override" in output and "entries 2..3" in output
    code, output = cli_run("contribute", "--home", root, "--signal", "md5:" + "a" * 32, "--category", "csam")
    assert code == 4 and "fork" in output
    assert [s for s, _, _ in own_entries(restored)] == [1]  # nothing was published
    assert restored.node.store.restored_at() is not None

    restored.node.remove_partner("hub")  # now pull from the hub too: it holds them and returns them
    restored.pin(hub, "hub", endpoint=hub.address)
    [from_hub] = restored.node.sync("hub")
    assert from_hub.ok and from_hub.accepted == 2
    assert own_entries(restored) == held_by_hub
    assert restored.node.store.restored_at() is None
    assert restored.publish(4).seqs == (4,)
    hub.node.remove_partner("ngo")  # the restored node serves on a new port
    hub.pin(restored, "ngo", endpoint=restored.address)
    assert [r.accepted for r in hub.node.sync()] == [1]
    assert hub.node.store.evidence_count() == 0  # seq 4 chains onto the real seq 3: no fork
    for live in (restored, lab, hub):
        live.stop()


def test_a_quorum_of_partners_is_enough_and_fewer_is_not(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    ngo, _ = pair
    lab = LiveNode.start(tmp_path / "lab", "Lab")
    lab.pin(ngo, "ngo")  # it serves the ngo (and pulls nothing)
    ngo.pin(lab, "lab", endpoint=lab.address)
    ngo.node.add_partner("gone", public_key=_key_of(9), endpoint="127.0.0.1:1")
    ngo.publish(1)
    ngo.node.backup(tmp_path / "b.db")
    root = ngo.node.home.root
    ngo.stop()
    restore_database(root, tmp_path / "b.db")
    restored = LiveNode.open(root, serve=False)

    assert restored.node.sync("platform")[0].ok
    with pytest.raises(RestoredFeed, match=r"shown by platform, not yet by gone, lab \(a quorum"):
        restored.publish(2)
    code, output = cli_run("restore", "confirm", "--home", root)  # the quorum (2 of 3) is not met
    assert code == 4 and "not yet by gone, lab (2 of 3 must show theirs" in output
    reports = {r.partner: r for r in restored.node.sync()}
    assert not reports["gone"].ok and reports["lab"].ok  # one partner down: a majority answered
    assert restored.node.store.restored_at() is None
    assert restored.publish(2).seqs == (2,)
    restored.stop()
    lab.stop()


def test_restore_quorum_all_waits_for_every_partner_and_bad_values_are_refused(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ngo, _ = pair
    ngo.node.add_partner("gone", public_key=_key_of(9), endpoint="127.0.0.1:1")
    ngo.publish(1)
    ngo.node.backup(tmp_path / "b.db")
    root = ngo.node.home.root
    ngo.stop()
    restore_database(root, tmp_path / "b.db")
    for bad in ("0", "most", "-1", "1.5", ""):
        with pytest.raises(ConfigError, match=r"sync\.restore_quorum"):
            load_config(root, env={"ACCORD_SYNC_RESTORE_QUORUM": bad})

    monkeypatch.setenv("ACCORD_SYNC_RESTORE_QUORUM", "all")
    restored = LiveNode.open(root, serve=False)
    restored.node.sync()  # the platform answers, 'gone' cannot: not all of them
    with pytest.raises(RestoredFeed, match="not yet by gone"):
        restored.publish(2)
    restored.stop()
    monkeypatch.setenv("ACCORD_SYNC_RESTORE_QUORUM", "1")  # the platform's answer is enough now
    code, output = cli_run("restore", "confirm", "--home", root)
    assert code == 0 and "partners platform showed this node's feed head" in output
    restored = LiveNode.open(root, serve=False)
    assert [r.action for r in restored.node.audit.records()][-1] == "restore-confirm"
    assert restored.publish(2).seqs == (2,)
    restored.stop()


def test_the_override_is_audited_says_what_it_risks_and_allows_publishing(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    ngo, _ = pair
    code, output = cli_run("restore", "confirm", "--home", ngo.node.home.root)
    assert code == 0 and "not waiting on a restore" in output
    ngo.node.add_partner("gone", public_key=_key_of(9), endpoint="127.0.0.1:1")
    ngo.publish(1)
    ngo.node.backup(tmp_path / "b.db")
    root = ngo.node.home.root
    ngo.stop()
    restore_database(root, tmp_path / "b.db")
    restored = LiveNode.open(root, serve=False)
    restored.node.sync()  # the platform answers, 'gone' cannot: 1 of 2, short of a majority
    restored.stop()

    code, output = cli_run("restore", "confirm", "--home", root, "--force")
    assert code == 0, output
    assert "without the quorum (audited)" in output and "forks the feed" in output
    code, output = cli_run("audit", "list", "--home", root, "--json")
    [row] = [r for r in json.loads(output) if r["action"] == "restore-override"]
    details = json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
    assert details["confirmed"] == ["platform"] and details["waiting"] == ["gone"]
    assert details["quorum"] == 2 and "quarantine" in details["risk"]
    assert cli_run("audit", "verify", "--home", root)[0] == 0
    code, output = cli_run("contribute", "--home", root, "--signal", "md5:" + "a" * 32, "--category", "csam")
    assert code == 0, output


def _key_of(seed: int) -> str:
    """The public key of a partner that never answers (pinned with an unreachable endpoint)."""
    return public_key_to_text(identity(seed).public_key)


def test_restore_and_restore_confirm_document_themselves_and_the_old_form_still_restores(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    for command in (["restore"], ["restore", "confirm"]):
        code, output = cli_run(*command, "--help")
        assert code == 0 and "Usage: " in output
    assert "accord restore [--home DIR] PATH" in cli_run("restore", "--help")[1]
    assert "--force" in cli_run("restore", "confirm", "--help")[1]
    ngo, _ = pair
    ngo.publish(1)
    ngo.node.backup(tmp_path / "b.db")
    root = ngo.node.home.root
    ngo.stop()
    code, output = cli_run("--home", root, "restore", tmp_path / "b.db")  # --home before the command
    assert code == 0 and "own feed head 1" in output
    code, output = cli_run("restore", "--home", root, "confirm")  # options before the subcommand
    assert code == 4 and "not yet by" in output
    code, output = cli_run("restore", "--home", root, tmp_path / "missing.db")
    assert code == 3 and "no backup file" in output
