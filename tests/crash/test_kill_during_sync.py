"""Crash safety (DESIGN §8, issue 6): SIGKILL a receiving node at random points while it syncs
a large feed, restart it, and prove nothing acknowledged was lost or duplicated.

``pytest -m slow tests/crash`` runs ``ACCORD_CRASH_HASHES`` (default 100,000) hashes and at least
10 kills over 3 seeds; it is not yet part of the default CI run (too slow at this size). Each kill is checked:
``PRAGMA integrity_check`` is ok, every origin's entries are exactly seq 1..head (no gap, no
duplicate), and the head never moves backwards. The final state's digest must equal a clean,
uninterrupted sync's.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ACCORD, ServeProcess, accord, accord_json, free_port

HASHES = int(os.environ.get("ACCORD_CRASH_HASHES", "100000"))
KILLS = int(os.environ.get("ACCORD_CRASH_KILLS", "12"))
SEEDS = (11, 12, 13)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("crash")
    home = root / "origin"
    assert accord("init", "--home", home, "--name", "origin").returncode == 0
    listing = root / "hashes.txt"
    with listing.open("w") as out:
        for n in range(HASHES):
            out.write(f"pdq {hashlib.sha256(n.to_bytes(8, 'big')).hexdigest()}\n")
    published = accord("contribute", "--home", home, "--list", listing, "--category", "csam", timeout=900)
    assert published.returncode == 0, published.stderr
    node = ServeProcess(home, listen=free_port(), local=free_port(), log=root / "origin.log")
    yield node
    node.stop()


def receiver(root: Path, origin: ServeProcess) -> Path:
    home = root / "receiver"
    assert accord("init", "--home", home, "--name", "receiver").returncode == 0
    key = accord_json("identity", "--home", origin.home)["public_key"]
    assert (
        accord(
            "partner",
            "add",
            "--home",
            home,
            "origin",
            "--key",
            key,
            "--endpoint",
            f"127.0.0.1:{origin.listen}",
        ).returncode
        == 0
    )
    receiver_key = accord_json("identity", "--home", home)["public_key"]
    accord("partner", "add", "--home", origin.home, f"r{root.name[-8:]}", "--key", receiver_key)
    return home


def check_consistent(db: Path, last_head: int) -> int:
    """The invariants that must hold after any kill; returns the current head."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        seqs = [row[0] for row in conn.execute("SELECT seq FROM entries ORDER BY seq")]
        head = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM heads").fetchone()[0]
        derived = conn.execute("SELECT COUNT(*) FROM indicators").fetchone()[0]
        carried = conn.execute("SELECT COALESCE(SUM(objects), 0) FROM entries").fetchone()[0]
    assert seqs == list(range(1, head + 1))  # no gap, no duplicate, head matches the entries
    assert derived == carried  # every committed entry's indicators, and nothing more
    assert head >= last_head  # nothing acknowledged was lost
    return int(head)


def state_digest(db: Path) -> str:
    """Digest of the derived state (what matching and queries read), independent of timing."""
    digest = hashlib.sha256()
    with sqlite3.connect(db) as conn:
        for query in (
            "SELECT origin, seq, digest FROM heads ORDER BY origin",
            "SELECT origin, seq, digest, payload FROM entries ORDER BY origin, seq",
            "SELECT id, origin, signal_type, value, category, tlp, modified, revoked"
            " FROM indicators ORDER BY id",
        ):
            for row in conn.execute(query):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def sync_process(home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*ACCORD, "sync", "--home", str(home)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.slow  # minutes at 100,000 hashes: run with `pytest -m slow tests/crash`
def test_sigkill_during_sync_loses_and_duplicates_nothing(origin: ServeProcess, tmp_path: Path) -> None:
    clean = receiver(tmp_path / "clean", origin)
    assert accord("sync", "--home", clean, timeout=600).returncode == 0
    expected = state_digest(clean / "accord.db")
    origin_head = accord_json("status", "--home", origin.home)["own_head_seq"]

    kills = 0
    for seed in SEEDS:
        rng = random.Random(seed)
        home = receiver(tmp_path / f"seed{seed}", origin)
        head = 0
        for _ in range(-(-KILLS // len(SEEDS))):
            process = sync_process(home)
            time.sleep(rng.uniform(0.3, 3.0))  # interpreter start-up, then somewhere in the sync
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
            head = check_consistent(home / "accord.db", head)
        assert accord("sync", "--home", home, timeout=600).returncode == 0  # restart and finish
        assert check_consistent(home / "accord.db", head) == origin_head
        assert state_digest(home / "accord.db") == expected
    assert kills >= min(10, KILLS)
    print(f"crash harness: {HASHES} hashes, {kills} SIGKILLs over {len(SEEDS)} seeds, 0 lost, 0 duplicated")
