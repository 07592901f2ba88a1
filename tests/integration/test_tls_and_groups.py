"""Real ``accord`` processes on loopback: TLS with pinned certificates, and RED to a sharing group.

The NGO serves its partner API over TLS (forced on loopback with ``ACCORD_NETWORK_TLS=always``);
partners pin its certificate fingerprint and pull with ``accord sync``. A wrong pin or a peer
that does not speak TLS is refused with exit 4 and counted; nothing is stored. A RED entry
addressed to a sharing group reaches its members; a pinned partner outside it holds the header
and the sealed body, never the value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ServeProcess, accord, accord_json, free_port

TLS = {"ACCORD_NETWORK_TLS": "always"}
RED_SIGNAL = "md5:" + "7e" * 16
GREEN_SIGNAL = "md5:" + "6a" * 16


def init(home: Path, name: str) -> dict[str, str]:
    created = accord("init", "--home", home, "--name", name)
    assert created.returncode == 0, created.stderr
    card: dict[str, str] = accord_json("identity", "--home", home)
    return card


def pin(home: Path, name: str, card: dict[str, str], *extra: str) -> None:
    keys = ["--key", card["public_key"], "--encryption-key", card["encryption_key"]]
    added = accord("partner", "add", "--home", home, name, *keys, *extra)
    assert added.returncode == 0, added.stderr


def entries_held(home: Path) -> int:
    with sqlite3.connect(home / "accord.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])


@pytest.fixture
def ngo(tmp_path: Path) -> Iterator[tuple[ServeProcess, dict[str, str]]]:
    home = tmp_path / "ngo"
    card = init(home, "Example NGO")
    process = ServeProcess(home, listen=free_port(), local=free_port(), log=tmp_path / "ngo.log", env=TLS)
    yield process, card
    process.stop()


def test_a_pinned_partner_syncs_over_tls_and_a_wrong_pin_is_refused_and_counted(
    ngo: tuple[ServeProcess, dict[str, str]], tmp_path: Path
) -> None:
    server, card = ngo
    assert f"TLS, certificate {card['tls_fingerprint']}" in server.log.read_text()
    platform = tmp_path / "platform"
    pin(server.home, "platform", init(platform, "Platform"))
    endpoint = f"127.0.0.1:{server.listen}"
    pin(platform, "ngo", card, "--endpoint", endpoint, "--cert-fingerprint", card["tls_fingerprint"])
    assert (
        accord("contribute", "--home", server.home, "--signal", GREEN_SIGNAL, "--category", "csam").returncode
        == 0
    )

    synced = accord("sync", "--home", platform)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "1 entries" in synced.stdout and entries_held(platform) == 1

    # The NGO publishes more; the platform now pins a certificate the NGO does not present.
    assert (
        accord(
            "contribute",
            "--home",
            server.home,
            "--signal",
            RED_SIGNAL.replace("7e", "5b"),
            "--category",
            "csam",
        ).returncode
        == 0
    )
    wrong = "sha256:" + "00" * 32
    assert accord("partner", "pin", "--home", platform, "ngo", "--cert-fingerprint", wrong).returncode == 0
    refused = accord("sync", "--home", platform)
    assert refused.returncode == 4
    assert f"not the pinned {wrong}" in refused.stdout
    assert entries_held(platform) == 1  # nothing stored
    status = accord_json("status", "--home", platform)
    assert status["rejections"] == {"tls_pin_mismatch": 1}
    assert "not the pinned" in status["partners"][0]["last_error"]


def test_a_peer_without_tls_is_refused_when_tls_is_required(tmp_path: Path) -> None:
    ngo_home, platform = tmp_path / "ngo", tmp_path / "platform"
    card = init(ngo_home, "Example NGO")
    pin(ngo_home, "platform", init(platform, "Platform"))
    port = free_port()
    # Plaintext, loudly (insecure_plaintext); the platform pins the certificate, so it insists on TLS.
    insecure = {"ACCORD_NETWORK_INSECURE_PLAINTEXT": "true"}
    server = ServeProcess(ngo_home, listen=port, local=free_port(), log=tmp_path / "ngo.log", env=insecure)
    try:
        log = server.log.read_text()
        assert "(plaintext)" in log and "WARNING" in log and "INSECURE" in log
        pin(
            platform,
            "ngo",
            card,
            "--endpoint",
            f"127.0.0.1:{port}",
            "--cert-fingerprint",
            card["tls_fingerprint"],
        )
        refused = accord("sync", "--home", platform)
        assert refused.returncode == 4 and "TLS handshake" in refused.stdout
        # Without a pin, a node that requires TLS everywhere refuses to fall back to plaintext.
        accord("partner", "remove", "--home", platform, "ngo")
        pin(platform, "ngo", card, "--endpoint", f"127.0.0.1:{port}")
        plaintext = accord("sync", "--home", platform, env=TLS)
        assert plaintext.returncode == 4 and "without TLS" in plaintext.stdout
        assert accord_json("status", "--home", platform)["rejections"] == {"tls_required": 1}
        assert entries_held(platform) == 0
    finally:
        server.stop()


def test_a_red_entry_to_a_group_reaches_its_members_and_others_only_sealed(
    ngo: tuple[ServeProcess, dict[str, str]], tmp_path: Path
) -> None:
    server, card = ngo
    partners = {name: tmp_path / name for name in ("alpha", "beta", "gamma")}
    for name, home in partners.items():
        pin(server.home, name, init(home, name))
        endpoint = f"127.0.0.1:{server.listen}"
        pin(home, "ngo", card, "--endpoint", endpoint, "--cert-fingerprint", card["tls_fingerprint"])
    assert accord("group", "add", "--home", server.home, "hotlines", "alpha", "beta").returncode == 0
    published = accord(
        "contribute",
        "--home",
        server.home,
        "--signal",
        RED_SIGNAL,
        "--category",
        "csam",
        "--tlp",
        "red",
        "--group",
        "hotlines",
    )
    assert published.returncode == 0, published.stderr

    for home in partners.values():
        synced = accord("sync", "--home", home)
        assert synced.returncode == 0, synced.stdout + synced.stderr
    for member in ("alpha", "beta"):
        [result] = accord_json("match", "--home", partners[member], "--signal", RED_SIGNAL, "--offline")
        assert [(m["origin_name"], m["tlp"]) for m in result["matches"]] == [("ngo", "red")]
    assert accord("match", "--home", partners["gamma"], "--signal", RED_SIGNAL, "--offline").returncode == 1
    # Feed format 2: gamma holds the RED entry's header (its feed of the NGO is not frozen) and
    # the body only as ciphertext: the value is nowhere in its database, indicators or exports.
    assert entries_held(partners["gamma"]) == 1
    gamma_status = accord_json("status", "--home", partners["gamma"])
    [ngo_seen] = [p for p in gamma_status["partners"] if p["name"] == "ngo"]
    assert ngo_seen["head_seq"] == 1
    with sqlite3.connect(partners["gamma"] / "accord.db") as db:
        assert db.execute("SELECT COUNT(*) FROM indicators").fetchone()[0] == 0
    for held in partners["gamma"].glob("accord.db*"):
        assert RED_SIGNAL.split(":")[1].encode() not in held.read_bytes()
    exported = accord("export", "--home", partners["gamma"], "--out", "-", "--include-red")
    assert exported.returncode == 0 and RED_SIGNAL.split(":")[1] not in exported.stdout
    # The restricted value appears in no log of the serving node.
    assert RED_SIGNAL.split(":")[1] not in server.log.read_text()
