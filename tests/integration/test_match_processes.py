"""``accord serve --match-workers N``: the Match API from N processes, each on its own port.

Real ``accord serve`` processes on loopback with a real database. What a caller needs: every
match process answers exactly as the node's own local port does; what is committed beside
``serve`` (a contribution, a revocation, a reviewer's safelist entry) reaches every process
within a few refreshes; the matches they make are counted by the node; a dead process comes
back on its port; none outlives ``serve``; and a port that cannot be used stops the start
with a message that says which and why, before the node reports SERVING.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.json_format import MessageToDict

from node.app.match_workers import MatchProcesses
from node.errors import ConfigError, InvalidInput, PeerError
from node.model import Signal, SignalType
from node.rpc.client import LocalClient, local_target
from node.rpc.local import ONLY_MATCH
from node.rpc.pb import local_pb2, local_pb2_grpc
from tests.support.feeds import md5_signal, pdq_signal
from tests.support.processes import ServeProcess, accord, accord_json, free_port, wait_for

WORKERS = {"ACCORD_NETWORK_MATCH_LISTEN": "127.0.0.1:0", "ACCORD_SYNC_REFRESH_SECONDS": "0.2"}


def near(signal: Signal, bits: int) -> Signal:
    """``signal`` with its first ``bits`` bits flipped (a re-encoded copy of the same image)."""
    value = int(signal.value, 16) ^ ((1 << 256) - 1 ^ ((1 << (256 - bits)) - 1))
    return Signal(SignalType.PDQ, f"{value:064x}")


def addresses(node: ServeProcess) -> list[str]:
    """The match processes' addresses, as ``serve`` announced them."""
    for line in node.log.read_text().splitlines():
        if "Match API also on " in line:
            return line.split("Match API also on ", 1)[1].split(" (", 1)[0].split(", ")
    raise AssertionError(f"no match processes announced:\n{node.log.read_text()}")


def answer(address: str, signals: list[str]) -> list[dict[str, object]]:
    """The Match results for ``signals`` from ``address``, as comparable dicts."""
    client = LocalClient(address, timeout=10)
    try:
        return [MessageToDict(r) for r in client.match(signals).results]
    finally:
        client.close()


def matched(address: str, signal: str) -> bool:
    client = LocalClient(address, timeout=10)
    try:
        return bool(client.match([signal]).results[0].matches)
    finally:
        client.close()


def scraped(node: ServeProcess, name: str) -> float:
    """The value of metric ``name`` on the node's ``/metrics``."""
    lines = node.log.read_text().splitlines()
    address = next(line.split("metrics on ", 1)[1].strip() for line in lines if "metrics on " in line)
    with urllib.request.urlopen(address, timeout=10) as page:  # loopback, the node's own
        for line in page.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def children(pid: int) -> list[int]:
    """The match processes of ``serve`` (its spawned children, not multiprocessing's tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "node"
    assert accord("init", "--home", root, "--name", "Platform").returncode == 0
    return root


@pytest.fixture
def serving(home: Path, tmp_path: Path) -> Iterator[ServeProcess]:
    partner = tmp_path / "partner"
    assert accord("init", "--home", partner, "--name", "NGO").returncode == 0
    card = accord_json("identity", "--home", partner)
    pinned = accord(
        "partner",
        "add",
        "--home",
        home,
        "NGO",
        "--key",
        card["public_key"],
        "--encryption-key",
        card["encryption_key"],
    )
    assert pinned.returncode == 0, pinned.stderr
    listed = [pdq_signal(1), pdq_signal(2), md5_signal(3), pdq_signal(4)]
    contributed = accord(
        "contribute", "--home", home, *(a for s in listed for a in ("--signal", str(s))), "--category", "csam"
    )
    assert contributed.returncode == 0, contributed.stderr
    red = accord(
        "contribute",
        "--home",
        home,
        "--signal",
        str(pdq_signal(5)),
        "--category",
        "ncii",
        "--tlp",
        "red",
        "--to",
        "NGO",
    )
    assert red.returncode == 0, red.stderr
    revoked = accord_json("query", "--home", home, "--signal", str(pdq_signal(4)))
    assert accord("revoke", "--home", home, revoked["rows"][0]["id"]).returncode == 0
    node = ServeProcess(
        home,
        listen=free_port(),
        local=free_port(),
        log=tmp_path / "serve.log",
        env={**WORKERS, "ACCORD_NETWORK_METRICS_LISTEN": f"127.0.0.1:{free_port()}"},
        extra=("--match-workers", "2"),
        ready_timeout=60,
    )
    try:
        yield node
    finally:
        node.stop(30)


def test_every_match_process_answers_as_the_nodes_local_port_does(serving: ServeProcess) -> None:
    workers = addresses(serving)
    assert len(workers) == 2 and len(set(workers)) == 2
    queries = [
        str(pdq_signal(1)),  # listed
        str(near(pdq_signal(2), 20)),  # a near copy of a listed image
        str(md5_signal(3)),  # an exact hash
        str(pdq_signal(4)),  # revoked: must not match
        str(pdq_signal(5)),  # TLP:RED, the node's own
        str(pdq_signal(99)),  # never listed
        "pdq:not-a-hash",  # refused in its own result, the batch still answered
    ]
    expected = answer(f"127.0.0.1:{serving.local}", queries)
    assert [bool(r.get("matches")) for r in expected] == [True, True, True, False, True, False, False]
    assert "error" in expected[-1]
    for address in workers:
        assert answer(address, queries) == expected
    # One channel over both processes, round-robin, gets the same answers call after call.
    for _ in range(4):
        assert answer(",".join(workers), queries) == expected


def test_a_match_port_answers_match_only(serving: ServeProcess) -> None:
    """Status and Query (which can list what the node holds) stay on the local port."""
    with grpc.insecure_channel(addresses(serving)[0]) as channel:
        stub = local_pb2_grpc.LocalStub(channel)
        for call, request in (
            (stub.Status, local_pb2.StatusRequest()),
            (stub.Query, local_pb2.QueryRequest()),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                call(request, timeout=10)
            assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED
            assert refused.value.details() == ONLY_MATCH


def test_an_oversized_or_empty_match_is_refused_by_a_match_process(serving: ServeProcess) -> None:
    address = addresses(serving)[0]
    client = LocalClient(address, timeout=10)
    try:
        with pytest.raises(PeerError, match="INVALID_ARGUMENT"):
            client.match([])  # nothing to match
        with pytest.raises(PeerError, match="INVALID_ARGUMENT"):
            client.match([str(pdq_signal(1))] * 10_001)  # beyond limits.max_batch_signals
        with pytest.raises(PeerError, match="RESOURCE_EXHAUSTED"):
            client.match([], media=bytes(33 * 1024 * 1024))  # beyond network.max_message_bytes
    finally:
        client.close()
    assert matched(address, str(pdq_signal(1)))  # and it still answers


def test_commits_beside_serve_reach_every_match_process(serving: ServeProcess, home: Path) -> None:
    workers = addresses(serving)
    added = str(pdq_signal(10))
    assert not any(matched(a, added) for a in workers)
    assert accord("contribute", "--home", home, "--signal", added, "--category", "csam").returncode == 0
    wait_for(lambda: all(matched(a, added) for a in workers), timeout=10)

    indicator = accord_json("query", "--home", home, "--signal", added)["rows"][0]["id"]
    assert accord("revoke", "--home", home, indicator).returncode == 0
    wait_for(lambda: not any(matched(a, added) for a in workers), timeout=10)

    # A reviewer's false positive, decided by the CLI beside serve, is suppressed everywhere.
    listed = str(pdq_signal(1))
    item = accord_json("review", "submit", "--home", home, "upload-1", "--signal", listed, "--rule", "manual")
    decided = accord("review", "decide", "--home", home, str(item["id"]), "false-positive", "--safelist")
    assert decided.returncode == 0, decided.stderr
    everywhere = [*workers, f"127.0.0.1:{serving.local}"]
    wait_for(lambda: not any(matched(a, listed) for a in everywhere), timeout=10)
    result = answer(workers[0], [listed])[0]
    assert result.get("suppressed")


def test_matches_answered_by_match_processes_are_counted_by_the_node(
    serving: ServeProcess, home: Path
) -> None:
    listed = str(pdq_signal(1))
    for address in addresses(serving):
        for _ in range(3):
            assert matched(address, listed)

    def counted() -> bool:
        shown = accord_json("show", "--home", home, listed)
        return shown[0]["matches"] is not None and shown[0]["matches"]["count"] == 6

    wait_for(counted, timeout=10)


def test_a_killed_match_process_comes_back_on_its_port(serving: ServeProcess, home: Path) -> None:
    workers = addresses(serving)
    before = children(serving.process.pid)
    assert len(before) == 2
    assert scraped(serving, "accord_match_processes") == 2
    assert scraped(serving, "accord_match_process_restarts_total") == 0
    # A match process never reads the node's private keys: it restarts without them.
    keys = [home / "identity.key", home / "encryption.key"]
    for key in keys:
        key.rename(key.with_suffix(".aside"))
    os.kill(before[0], signal.SIGKILL)
    wait_for(lambda: "restarting it" in serving.log.read_text(), timeout=15)
    listed = str(pdq_signal(1))

    def answering() -> bool:
        try:
            return all(matched(a, listed) for a in workers)
        except PeerError:
            return False

    wait_for(answering, timeout=60)
    for key in keys:
        key.with_suffix(".aside").rename(key)
    after = children(serving.process.pid)
    assert len(after) == 2 and before[0] not in after and before[1] in after
    assert scraped(serving, "accord_match_processes") == 2
    assert scraped(serving, "accord_match_process_restarts_total") == 1


def test_match_processes_do_not_outlive_a_killed_serve(serving: ServeProcess) -> None:
    workers = children(serving.process.pid)
    assert len(workers) == 2
    serving.process.kill()  # no chance to stop them in order
    serving.process.wait()
    wait_for(lambda: not any(alive(p) for p in workers), timeout=30)


def test_serve_stops_its_match_processes_in_order(serving: ServeProcess) -> None:
    workers = children(serving.process.pid)
    started = time.monotonic()
    assert serving.stop(30) == 0
    assert time.monotonic() - started < 10  # inside Docker's 10 s stop window
    assert not any(alive(p) for p in workers)
    assert "did not stop in time" not in serving.log.read_text(), serving.log.read_text()


def start_with_match_port(home: Path, match_listen: str) -> subprocess.CompletedProcess[str]:
    """``accord serve --match-workers 1`` with ``network.match_listen``, run until it exits."""
    return accord(
        "serve",
        "--home",
        home,
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--local-listen",
        f"127.0.0.1:{free_port()}",
        "--match-workers",
        "1",
        env={"ACCORD_NETWORK_MATCH_LISTEN": match_listen},
        timeout=60,
    )


def test_a_busy_match_port_stops_the_start_with_its_reason(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = start_with_match_port(home, f"127.0.0.1:{port}")
    assert started.returncode != 0
    assert f"match process 0 cannot listen on 127.0.0.1:{port}: Address already in use" in started.stderr
    assert "SERVING" not in started.stderr


def test_a_match_port_off_loopback_is_refused(home: Path) -> None:
    started = start_with_match_port(home, "0.0.0.0:7710")
    assert started.returncode != 0
    assert "network.match_listen must be a loopback address" in started.stderr


def test_several_endpoints_become_one_round_robin_target() -> None:
    assert local_target("127.0.0.1:7701") == ("127.0.0.1:7701", [])
    assert local_target("127.0.0.1:7710, 127.0.0.1:7711") == (
        "ipv4:127.0.0.1:7710,127.0.0.1:7711",
        [("grpc.lb_policy_name", "round_robin")],
    )
    assert local_target("[::1]:7710,[::1]:7711")[0] == "ipv6:[::1]:7710,[::1]:7711"
    with pytest.raises(InvalidInput, match="IP addresses"):
        local_target("localhost:7710,localhost:7711")
    with pytest.raises(InvalidInput, match="mix"):
        local_target("127.0.0.1:7710,[::1]:7711")


def test_match_ports_must_fit_below_65536(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no 2 ports from 65535 up"):
        MatchProcesses(
            root=tmp_path, origin="0" * 64, count=2, listen="127.0.0.1:65535", count_matches=lambda *_: None
        )
