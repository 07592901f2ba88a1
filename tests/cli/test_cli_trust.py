"""TLS pinning, certificate rotation and sharing groups through the CLI, against real homes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result

from node.feed import TlsCredentials, decode_header, encryption_key_to_text, open_body, public_key_to_text
from node.model import Seq
from tests.support.cli import run
from tests.support.feeds import encryption_keys, identity

KEYS = {
    name: public_key_to_text(identity(n).public_key) for n, name in enumerate(("alpha", "beta", "gamma"), 20)
}
KEY_IDS = {name: identity(n).key_id for n, name in enumerate(("alpha", "beta", "gamma"), 20)}
ENCRYPTION = {name: encryption_keys(n) for n, name in enumerate(("alpha", "beta", "gamma"), 20)}
SIGNAL = "md5:" + "c" * 32


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "ngo"
    assert run("init", "--home", path, "--name", "Example NGO").exit_code == 0
    for name, key in KEYS.items():
        pin = ["--key", key, "--encryption-key", encryption_key_to_text(ENCRYPTION[name].public)]
        assert run("partner", "add", "--home", path, name, *pin).exit_code == 0
    return path


def contribute(home: Path, *extra: str) -> Result:
    return run("contribute", "--home", home, "--signal", SIGNAL, "--category", "csam", *extra)


def last_entry(home: Path) -> tuple[bytes, bytes, list[str]]:
    """The last entry's signed header payload, its body as it travels, and its recipients."""
    with sqlite3.connect(home / "accord.db") as db:
        payload, body, recipients = db.execute(
            "SELECT payload, body, recipients FROM entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    return payload, body, json.loads(recipients)


@pytest.mark.parametrize(
    "command",
    [
        ["group"],
        ["group", "add"],
        ["group", "list"],
        ["group", "remove"],
        ["tls"],
        ["tls", "rotate"],
        ["partner", "pin"],
    ],
    ids=" ".join,
)
def test_every_new_command_documents_itself(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage: accord" in result.output


def test_init_and_identity_print_the_tls_certificate_fingerprint(tmp_path: Path) -> None:
    created = run("init", "--home", tmp_path / "n", "--name", "N")
    card = json.loads(run("identity", "--home", tmp_path / "n", "--json").output)
    on_disk = TlsCredentials.load(tmp_path / "n" / "tls.key", tmp_path / "n" / "tls.crt").fingerprint
    assert card["tls_fingerprint"] == on_disk and on_disk in created.output
    assert (tmp_path / "n" / "tls.key").stat().st_mode & 0o777 == 0o600


def test_a_partner_is_pinned_with_its_certificate_and_repinned(home: Path) -> None:
    pin = "sha256:" + "ab" * 32
    added = run(
        "partner",
        "add",
        "--home",
        home,
        "hub",
        "--key",
        public_key_to_text(identity(30).public_key),
        "--endpoint",
        "192.0.2.1:7700",
        "--cert-fingerprint",
        "AB:" * 31 + "AB",
    )
    assert added.exit_code == 0 and pin in added.output
    listed = json.loads(run("partner", "list", "--home", home, "--json").output)
    assert {p["name"]: p["cert_fingerprint"] for p in listed}["hub"] == pin
    assert pin in run("partner", "list", "--home", home).output
    repinned = run("partner", "pin", "--home", home, "hub", "--cert-fingerprint", "sha256:" + "cd" * 32)
    assert repinned.exit_code == 0
    listed = json.loads(run("partner", "list", "--home", home, "--json").output)
    assert {p["name"]: p["cert_fingerprint"] for p in listed}["hub"] == "sha256:" + "cd" * 32


def test_a_remote_partner_without_a_pin_gets_a_warning(home: Path) -> None:
    key = public_key_to_text(identity(32).public_key)
    added = run("partner", "add", "--home", home, "far", "--key", key, "--endpoint", "192.0.2.7:7700")
    assert added.exit_code == 0 and "no TLS certificate pinned for far" in added.output
    near = run(
        "partner",
        "add",
        "--home",
        home,
        "near",
        "--key",
        public_key_to_text(identity(33).public_key),
        "--endpoint",
        "127.0.0.1:7700",
    )
    assert near.exit_code == 0 and "no TLS certificate" not in near.output


def test_bad_or_misplaced_pins_are_refused_clearly(home: Path) -> None:
    key = public_key_to_text(identity(31).public_key)
    bad = run("partner", "add", "--home", home, "hub", "--key", key, "--cert-fingerprint", "sha256:12")
    assert bad.exit_code == 2 and "certificate fingerprint is" in bad.output
    assert "hub" not in run("partner", "list", "--home", home).output  # nothing half-written
    unknown = run("partner", "pin", "--home", home, "nobody", "--cert-fingerprint", "sha256:" + "ab" * 32)
    assert unknown.exit_code == 3 and "no partner named 'nobody'" in unknown.output


def test_tls_rotate_prints_the_new_fingerprint_identity_then_shows(home: Path) -> None:
    before = json.loads(run("identity", "--home", home, "--json").output)["tls_fingerprint"]
    rotated = run("tls", "rotate", "--home", home)
    after = json.loads(run("identity", "--home", home, "--json").output)["tls_fingerprint"]
    assert rotated.exit_code == 0 and after != before and after in rotated.output


def test_groups_are_added_listed_and_removed(home: Path) -> None:
    assert run("group", "add", "--home", home, "trusted", "alpha", "beta").exit_code == 0
    assert run("group", "add", "--home", home, "trusted", "gamma").exit_code == 0
    listed = json.loads(run("group", "list", "--home", home, "--json").output)
    assert listed == [{"name": "trusted", "members": ["alpha", "beta", "gamma"]}]
    assert run("group", "remove", "--home", home, "trusted", "gamma").exit_code == 0
    assert "alpha, beta" in run("group", "list", "--home", home).output
    assert run("group", "remove", "--home", home, "trusted").exit_code == 0
    assert json.loads(run("group", "list", "--home", home, "--json").output) == []


def test_group_mistakes_are_refused_and_change_nothing(home: Path) -> None:
    unknown_partner = run("group", "add", "--home", home, "trusted", "alpha", "nobody")
    assert unknown_partner.exit_code == 3 and "'nobody'" in unknown_partner.output
    assert json.loads(run("group", "list", "--home", home, "--json").output) == []
    assert run("group", "remove", "--home", home, "ghosts").exit_code == 3
    run("group", "add", "--home", home, "trusted", "alpha")
    not_member = run("group", "remove", "--home", home, "trusted", "alpha", "beta")
    assert not_member.exit_code == 3 and "nothing removed" in not_member.output
    assert "alpha" in run("group", "list", "--home", home).output
    assert run("group", "add", "--home", home, "bad name", "alpha").exit_code == 2


def test_unpinning_a_partner_takes_it_out_of_its_groups(home: Path) -> None:
    run("group", "add", "--home", home, "trusted", "alpha", "beta")
    run("partner", "remove", "--home", home, "alpha")
    assert json.loads(run("group", "list", "--home", home, "--json").output)[0]["members"] == ["beta"]


def test_a_group_and_partners_resolve_to_key_ids_and_the_body_is_sealed_to_them(home: Path) -> None:
    run("group", "add", "--home", home, "trusted", "alpha", "beta")
    published = contribute(home, "--tlp", "red", "--group", "trusted", "--to", "gamma")
    assert published.exit_code == 0, published.output
    payload, body, recipients = last_entry(home)
    assert recipients == sorted(KEY_IDS.values())
    header = decode_header(payload)
    assert header.tlp.value == "red" and header.seal is not None
    assert b"recipients" not in payload  # the signed header names no recipient; every partner gets it
    assert SIGNAL.split(":")[1].encode() not in body  # the body travels sealed

    def opened_with(name: str) -> bytes | None:
        assert header.seal is not None
        return open_body(
            body,
            origin=header.origin,
            seq=Seq(header.seq),
            stanzas=header.seal.stanzas,
            plaintext_digest=header.seal.plaintext_digest,
            keys=[encryption_keys(40) if name == "outsider" else ENCRYPTION[name]],
        )

    for name in ("alpha", "beta", "gamma"):
        opened = opened_with(name)
        assert opened is not None and SIGNAL.split(":")[1].encode() in opened
    assert opened_with("outsider") is None


@pytest.mark.parametrize("tlp", ["amber", "amber+strict", "red"])
def test_restricted_entries_need_recipients(home: Path, tlp: str) -> None:
    unknown_group = contribute(home, "--tlp", tlp, "--group", "nobody")
    assert unknown_group.exit_code == 3 and "no sharing group named 'nobody'" in unknown_group.output
    unknown_partner = contribute(home, "--tlp", tlp, "--to", "nobody")
    assert unknown_partner.exit_code == 3
    nobody = contribute(home, "--tlp", tlp)
    assert nobody.exit_code == 2 and "recipient" in nobody.output
    run("group", "add", "--home", home, "emptied", "alpha")
    run("partner", "remove", "--home", home, "alpha")
    emptied = contribute(home, "--tlp", tlp, "--group", "emptied")
    assert emptied.exit_code == 2 and "recipient" in emptied.output
    with sqlite3.connect(home / "accord.db") as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone() == (0,)
