"""Two real ``accord serve`` processes on loopback share a signed hash list and match against it.

Steps 5-8 of the walking skeleton, driven through the CLI as an operator would: the NGO
contributes media, the platform's scheduled pull brings it over, a resized JPEG matches by PDQ
and an unrelated image does not, the NGO revokes and the platform stops matching.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.rpc.client import LocalClient
from tests.support.media import make_image, make_variant
from tests.support.processes import ServeProcess, accord, accord_json, free_port, wait_for

FAST = {
    "ACCORD_SYNC_INTERVAL_SECONDS": "1",
    "ACCORD_SYNC_JITTER_SECONDS": "0.2",
    "ACCORD_SYNC_REFRESH_SECONDS": "0.2",
}


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[dict[str, ServeProcess]]:
    ngo_home, platform_home = tmp_path / "ngo", tmp_path / "platform"
    assert accord("init", "--home", ngo_home, "--name", "Example NGO").returncode == 0
    assert accord("init", "--home", platform_home, "--name", "Platform").returncode == 0
    ngo_key = accord_json("identity", "--home", ngo_home)["public_key"]
    platform_key = accord_json("identity", "--home", platform_home)["public_key"]
    ngo_port = free_port()
    assert accord("partner", "add", "--home", ngo_home, "platform", "--key", platform_key).returncode == 0
    added = accord(
        "partner",
        "add",
        "--home",
        platform_home,
        "ngo",
        "--key",
        ngo_key,
        "--endpoint",
        f"127.0.0.1:{ngo_port}",
    )
    assert added.returncode == 0, added.stderr
    nodes = {
        "ngo": ServeProcess(ngo_home, listen=ngo_port, local=free_port(), log=tmp_path / "ngo.log", env=FAST),
        "platform": ServeProcess(
            platform_home, listen=free_port(), local=free_port(), log=tmp_path / "platform.log", env=FAST
        ),
    }
    yield nodes
    for node in nodes.values():
        node.stop()


def matches(home: Path, *files: Path) -> int:
    return accord("match", "--home", home, *files).returncode


def test_two_nodes_share_match_and_revoke(federation: dict[str, ServeProcess], tmp_path: Path) -> None:
    ngo, platform = federation["ngo"], federation["platform"]
    original = make_image(tmp_path / "original.png", seed=11)
    variant = make_variant(original, tmp_path / "resized.jpg", scale=0.5, quality=70)
    unrelated = make_image(tmp_path / "unrelated.png", seed=12)

    contributed = accord("contribute", "--home", ngo.home, original, "--category", "csam", "--tlp", "green")
    assert contributed.returncode == 0, contributed.stderr

    # The platform's scheduled pull brings the entry over; the resized JPEG then matches by PDQ.
    wait_for(lambda: matches(platform.home, variant) == 0, timeout=30)
    [md5, sha256, pdq] = accord_json("match", "--home", platform.home, variant)
    assert md5["matches"] == [] and sha256["matches"] == []
    [hit] = pdq["matches"]
    assert (hit["origin_name"], hit["category"], hit["tlp"]) == ("ngo", "csam", "green")
    assert 0 < hit["distance"] <= 31
    assert matches(platform.home, unrelated) == 1

    # The running platform's own Match API sees it too (its lists tail the database).
    client = LocalClient(f"127.0.0.1:{platform.local}", timeout=5)
    wait_for(lambda: bool(client.match([pdq["signal"]]).results[0].matches), timeout=10)

    # Revocation at the origin: the platform stops matching after its next pull.
    pdq_value = accord_json("hash", original)[0]["pdq"]
    assert accord("revoke", "--home", ngo.home, pdq_value).returncode == 0
    wait_for(lambda: matches(platform.home, variant) == 1, timeout=30)
    wait_for(lambda: not client.match([pdq["signal"]]).results[0].matches, timeout=10)
    client.close()

    status = accord_json("status", "--home", platform.home)
    [partner] = status["partners"]
    assert partner["name"] == "ngo" and partner["head_seq"] == 2 and partner["last_success"]
    assert partner["received"] == 2 and partner["rejected"] == 0

    assert ngo.stop() == 0 and platform.stop() == 0
    # Restricted hash values never reach the logs at INFO.
    for log in (ngo.log, platform.log):
        text = log.read_text()
        assert "SERVING" in text
        assert pdq_value.split(":")[1] not in text


def test_sync_in_the_foreground_reports_and_survives_a_dead_partner(
    federation: dict[str, ServeProcess], tmp_path: Path
) -> None:
    ngo, platform = federation["ngo"], federation["platform"]
    listing = tmp_path / "hashes.txt"
    listing.write_text("".join(f"md5 {n:032x}\n" for n in range(1, 101)))
    assert accord("contribute", "--home", ngo.home, "--list", listing, "--category", "tvec").returncode == 0

    for _ in range(20):  # the running platform pulls every second: when ours meets its pull, ours steps aside
        report = accord_json("sync", "--home", platform.home)
        if not report[0]["skipped"]:
            break
        time.sleep(0.2)
    assert report[0]["partner"] == "ngo" and report[0]["ok"] is True, report
    assert accord("match", "--home", platform.home, "--signal", f"md5:{7:032x}").returncode == 0

    ngo.stop()
    down = accord("sync", "--home", platform.home)
    assert down.returncode == 4
    assert "nothing is listening at" in down.stdout  # down, not "answered" anything
    status = accord_json("status", "--home", platform.home)
    assert status["partners"][0]["last_error"]


def test_a_sync_while_another_process_pulls_the_same_partner_steps_aside(
    federation: dict[str, ServeProcess],
) -> None:
    from node.app.locks import partner_lock

    platform = federation["platform"]
    busy = None
    for _ in range(50):  # the running server pulls every second: take the lock between its pulls
        with partner_lock(platform.home, "ngo") as held:  # as the running server's scheduled pull would
            if held:
                busy = accord("sync", "--home", platform.home)
                busy_json = accord_json("sync", "--home", platform.home)
                break
        time.sleep(0.1)
    assert busy is not None
    assert busy.returncode == 0
    assert "already running" in busy.stdout
    assert busy_json[0]["skipped"] is True and busy_json[0]["ok"] is False and busy_json[0]["error"] is None
    assert accord("sync", "--home", platform.home).returncode == 0


def test_sigterm_stops_a_node_within_the_grace_period(federation: dict[str, ServeProcess]) -> None:
    import time

    node = federation["ngo"]
    started = time.monotonic()
    assert node.stop() == 0
    assert time.monotonic() - started < 5 + 1  # network.grace_seconds + 1
    assert "shutting down" in node.log.read_text()
