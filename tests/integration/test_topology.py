"""Federation topologies with real ``accord serve`` processes on loopback.

Four nodes (origin, an allowed recipient reached only through a hub, a non-recipient, the hub)
carry canary hashes at every TLP level: nothing restricted reaches the non-recipient by any
path, the hub never relays AMBER+STRICT or RED, AMBER travels only among recipients, and no
canary value appears in any log. Three nodes in a line carry a revocation across two hops, and
replaying the older entry cannot bring the signal back.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.errors import PeerError
from node.feed import NodeIdentity
from node.model import Seq
from node.model.clock import format_timestamp, utc_now
from node.rpc.client import PeerClient
from node.store import Store
from tests.support.processes import ServeProcess, accord, accord_json, free_port, wait_for

INTERVAL = 1.0
FAST = {
    "ACCORD_SYNC_INTERVAL_SECONDS": str(INTERVAL),
    "ACCORD_SYNC_JITTER_SECONDS": "0.1",
    "ACCORD_SYNC_REFRESH_SECONDS": "0.2",
}
LEVELS = ("clear", "green", "amber", "amber+strict", "red")


class Federation:
    """Homes, ports and running processes of a test federation."""

    def __init__(self, root: Path, names: tuple[str, ...]) -> None:
        self.root = root
        self.ports = {name: free_port() for name in names}
        self.keys: dict[str, str] = {}
        self.processes: dict[str, ServeProcess] = {}
        for name in names:
            assert accord("init", "--home", self.home(name), "--name", name).returncode == 0
            self.keys[name] = accord_json("identity", "--home", self.home(name))["public_key"]

    def home(self, name: str) -> Path:
        return self.root / name

    def pin(self, node: str, partner: str, *, pull: bool) -> None:
        endpoint = ("--endpoint", f"127.0.0.1:{self.ports[partner]}") if pull else ()
        added = accord(
            "partner", "add", "--home", self.home(node), partner, "--key", self.keys[partner], *endpoint
        )
        assert added.returncode == 0, added.stderr

    def start(self) -> None:
        for name, port in self.ports.items():
            self.processes[name] = ServeProcess(
                self.home(name), listen=port, local=free_port(), log=self.root / f"{name}.log", env=FAST
            )

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def query(self, name: str, sql: str, *args: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(f"file:{self.home(name) / 'accord.db'}?mode=ro", uri=True) as conn:
            return conn.execute(sql, args).fetchall()

    def head(self, name: str, origin: str) -> int:
        key = accord_json("identity", "--home", self.home(origin))["key_id"]
        rows = self.query(name, "SELECT seq FROM heads WHERE origin = ?", key)
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def matches(self, name: str, signal: str) -> bool:
        result = accord("match", "--home", self.home(name), "--signal", signal)
        assert result.returncode in (0, 1), result.stderr
        return result.returncode == 0

    def synced_since(self, name: str, moment: str) -> bool:
        """Every partner this node pulls from answered it successfully after ``moment``."""
        pulled = self.query(name, "SELECT COUNT(*) FROM partners WHERE endpoint IS NOT NULL")[0][0]
        fresh = self.query(name, "SELECT COUNT(*) FROM sync_state WHERE last_success > ?", moment)[0][0]
        return fresh == pulled


def everything_in(fed: Federation, name: str) -> str:
    """Every value in every table of a node's database, as text (blobs decoded)."""
    parts: list[str] = []
    tables = [r[0] for r in fed.query(name, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for row in fed.query(name, f'SELECT * FROM "{table}"'):  # table names from sqlite_master
            for value in row:
                parts.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return "\n".join(parts)


@pytest.fixture
def four(tmp_path: Path) -> Iterator[Federation]:
    fed = Federation(tmp_path, ("origin", "hub", "recipient", "stranger"))
    # Syncs in every direction a node can reach; the recipient cannot reach the origin at all
    # and knows it only as a pinned origin, so whatever it gets of it came through the hub.
    for node, partner, pull in [
        ("origin", "hub", True),
        ("origin", "recipient", False),
        ("origin", "stranger", False),
        ("hub", "origin", True),
        ("hub", "recipient", True),
        ("hub", "stranger", True),
        ("recipient", "hub", True),
        ("recipient", "stranger", True),
        ("recipient", "origin", False),
        ("stranger", "origin", True),
        ("stranger", "hub", True),
        ("stranger", "recipient", True),
    ]:
        fed.pin(node, partner, pull=pull)
    fed.start()
    yield fed
    fed.stop()


def test_canaries_reach_only_whom_their_tlp_allows(four: Federation) -> None:
    canaries = {level: f"md5:{secrets.token_hex(16)}" for level in LEVELS}
    for level in LEVELS:  # seq 1..5 in this order; restricted ones to the recipient and the hub
        recipients = ("--to", "recipient", "--to", "hub") if level in ("amber", "amber+strict", "red") else ()
        published = accord(
            "contribute", "--home", four.home("origin"), "--signal", canaries[level], "--category", "csam",
            "--tlp", level, *recipients,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr

    wait_for(lambda: four.head("hub", "origin") == 5, timeout=60)
    wait_for(lambda: four.head("recipient", "origin") == 3, timeout=60)
    wait_for(lambda: four.head("stranger", "origin") == 2, timeout=60)
    settled = format_timestamp(utc_now())  # then two more rounds of pulls in every direction
    for _ in range(2):
        wait_for(lambda since=settled: all(four.synced_since(n, since) for n in four.ports), timeout=60)
        settled = format_timestamp(utc_now())

    # The hub holds everything; it never relays AMBER+STRICT or RED, so the recipient, which
    # reaches the origin only through the hub, stops at the AMBER entry it may relay.
    assert four.head("hub", "origin") == 5
    assert four.head("recipient", "origin") == 3
    assert four.query("recipient", "SELECT via FROM entries WHERE tlp = 'amber'") == [("hub",)]
    assert four.query("recipient", "SELECT COUNT(*) FROM entries WHERE tlp IN ('amber+strict', 'red')") == [
        (0,)
    ]
    assert all(four.matches("recipient", canaries[level]) for level in ("clear", "green", "amber"))
    assert not any(four.matches("recipient", canaries[level]) for level in ("amber+strict", "red"))
    # The stranger gets CLEAR and GREEN and nothing restricted, by any path and in any table.
    assert four.head("stranger", "origin") == 2
    stranger_db = everything_in(four, "stranger")
    leaked = [level for level in LEVELS[2:] if canaries[level].split(":")[1] in stranger_db]
    assert leaked == []
    assert [four.matches("stranger", canaries[level]) for level in LEVELS] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert four.query("stranger", "SELECT COUNT(*) FROM entries WHERE tlp NOT IN ('clear', 'green')") == [
        (0,)
    ]

    four.stop()
    for name in four.ports:
        text = (four.root / f"{name}.log").read_text()
        assert "SERVING" in text
        assert [level for level in LEVELS if canaries[level].split(":")[1] in text] == []


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Federation]:
    """a → b → c: c reaches a only through b."""
    fed = Federation(tmp_path, ("a", "b", "c"))
    fed.pin("a", "b", pull=False)
    fed.pin("b", "a", pull=True)
    fed.pin("b", "c", pull=False)
    fed.pin("c", "b", pull=True)
    fed.pin("c", "a", pull=False)
    fed.start()
    yield fed
    fed.stop()


def test_a_revocation_crosses_three_hops_and_a_replay_cannot_undo_it(
    line: Federation, capsys: pytest.CaptureFixture[str]
) -> None:
    signal = f"md5:{secrets.token_hex(16)}"
    added = accord("contribute", "--home", line.home("a"), "--signal", signal, "--category", "ncii")
    assert added.returncode == 0, added.stderr
    wait_for(lambda: line.matches("c", signal), timeout=60)

    value, sql = signal.split(":")[1], "SELECT revoked FROM indicators WHERE value = ?"
    revoking = time.monotonic()  # includes the revoke command's own start-up and commit
    assert accord("revoke", "--home", line.home("a"), signal).returncode == 0
    delays = {"a": time.monotonic() - revoking}
    for name in ("b", "c"):  # measured on the databases: polling them costs milliseconds
        wait_for(lambda name=name: line.query(name, sql, value) == [(1,)], timeout=60, interval=0.05)
        delays[name] = time.monotonic() - revoking
    assert not line.matches("b", signal) and not line.matches("c", signal)
    with capsys.disabled():
        figures = ", ".join(f"{n} after {d:.2f} s" for n, d in delays.items())
        print(f"\nrevocation committed at {figures} (sync interval {INTERVAL} s)")
    assert delays["c"] - delays["a"] < 30  # generous: the figure above is what to read

    # Replaying the older entry that added the signal, to the hub (push) and to the third node
    # (ingest, as a pull would): refused as replayed, and the signal stays revoked.
    identity = NodeIdentity.load(line.home("a") / "identity.key")
    store = Store(line.home("a") / "accord.db")
    add = store.entries_after(identity.key_id, Seq(0), limit=1)[0].envelope
    store.close()
    with PeerClient(
        f"127.0.0.1:{line.ports['b']}", identity=identity, timeout=10, max_message_bytes=1 << 22
    ) as client:
        reply = client.push([add], per_message=1)
    assert (reply.accepted, dict(reply.refused)) == (0, {"replayed": 1})
    time.sleep(3 * INTERVAL)  # a few more rounds of pulls along the line
    assert not line.matches("b", signal) and not line.matches("c", signal)
    assert line.head("c", "a") == 2
    stranger = NodeIdentity.generate()  # and a push from a key c has not pinned is refused outright
    with (
        PeerClient(
            f"127.0.0.1:{line.ports['c']}", identity=stranger, timeout=10, max_message_bytes=1 << 22
        ) as client,
        pytest.raises(PeerError, match="UNAUTHENTICATED"),
    ):
        client.push([add], per_message=1)
