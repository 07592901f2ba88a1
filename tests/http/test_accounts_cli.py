"""``accord account add|list|remove``: a token shown once, stored only as a hash, audited."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.app import AccordNode
from node.app.accounts import hash_api_token
from node.cli.main import cli
from node.errors import Unauthenticated
from node.model import Tlp
from node.model.accounts import Role
from tests.support.cli import run


def test_add_prints_the_token_once_and_keeps_only_its_hash(fresh_home: Path) -> None:
    added = run("account", "add", "--home", fresh_home, "pipeline", "--role", "matcher", "--json")
    assert added.exit_code == 0, added.output
    card = json.loads(added.stdout)
    token = card.pop("token")
    assert card == {"name": "pipeline", "role": "matcher", "max_tlp": "amber+strict"}
    assert token.startswith("accord_api_") and len(token) > 40
    listed = run("account", "list", "--home", fresh_home, "--json")
    assert token not in listed.output and hash_api_token(token) not in listed.output
    assert [a["name"] for a in json.loads(listed.stdout)] == ["pipeline"]
    database = (fresh_home / "accord.db").read_bytes() + _wal(fresh_home)
    assert token.encode() not in database
    with sqlite3.connect(fresh_home / "accord.db") as db:
        stored = db.execute("SELECT token_hash FROM http_accounts WHERE name = 'pipeline'").fetchone()
    assert stored == (hash_api_token(token),)
    node = AccordNode.open(fresh_home)
    try:
        account = node.authenticate_api_token(token)
        assert (account.name, account.role, account.max_tlp) == ("pipeline", Role.MATCHER, Tlp.AMBER_STRICT)
    finally:
        node.close()


def _wal(home: Path) -> bytes:
    wal = home / "accord.db-wal"
    return wal.read_bytes() if wal.exists() else b""


def test_text_output_prints_the_token_alone_on_stdout(fresh_home: Path) -> None:
    added = run("account", "add", "--home", fresh_home, "boss", "--role", "admin", "--max-tlp", "red")
    assert added.exit_code == 0
    assert added.stdout.strip().startswith("accord_api_") and len(added.stdout.strip().split()) == 1
    assert "shown only now" in added.stderr
    table = run("account", "list", "--home", fresh_home)
    assert "boss" in table.output and "admin" in table.output and "red" in table.output


def test_duplicates_bad_roles_and_unknown_names_are_refused(fresh_home: Path) -> None:
    assert run("account", "add", "--home", fresh_home, "a", "--role", "analyst").exit_code == 0
    assert run("account", "add", "--home", fresh_home, "a", "--role", "analyst").exit_code == 3
    assert run("account", "add", "--home", fresh_home, "b", "--role", "root").exit_code == 2
    assert run("account", "add", "--home", fresh_home, "no spaces", "--role", "analyst").exit_code == 2
    assert run("account", "remove", "--home", fresh_home, "nobody").exit_code == 3


def test_remove_revokes_the_token_and_both_are_audited_without_it(fresh_home: Path) -> None:
    added = run("account", "add", "--home", fresh_home, "temp", "--role", "reviewer", "--json")
    token = json.loads(added.stdout)["token"]
    assert run("account", "remove", "--home", fresh_home, "temp").exit_code == 0
    node = AccordNode.open(fresh_home)
    try:
        with pytest.raises(Unauthenticated):
            node.authenticate_api_token(token)
        records = [(r.action, r.details) for r in node.audit.records()]
    finally:
        node.close()
    assert [a for a, _ in records] == ["account-add", "account-remove"]
    assert all(token not in d and hash_api_token(token) not in d for _, d in records)
    assert run("audit", "verify", "--home", fresh_home).exit_code == 0


def test_a_person_gets_a_password_prompted_twice_and_no_token(fresh_home: Path) -> None:
    password = "a long enough passphrase"
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["account", "add", "--home", str(fresh_home), "alice", "--role", "reviewer", "--password"],
        input=f"{password}\n{password}\n",
    )
    assert added.exit_code == 0, added.output
    assert "accord_api_" not in added.output and "POST /v1/login" in added.stderr
    mismatched = runner.invoke(
        cli,
        ["account", "add", "--home", str(fresh_home), "bob", "--role", "admin", "--password"],
        input=f"{password}\n{password}x\n{password}\n{password}\n",
    )
    assert mismatched.exit_code == 0 and "do not match" in mismatched.output  # asked again
    node = AccordNode.open(fresh_home)
    try:
        assert node.log_in("alice", password).account.role is Role.REVIEWER
        assert node.log_in("bob", password).account.role is Role.ADMIN
        records = [r.details for r in node.audit.records()]
    finally:
        node.close()
    assert all(password not in d for d in records)
    with sqlite3.connect(fresh_home / "accord.db") as db:
        stored = db.execute(
            "SELECT token_hash, password_hash FROM http_accounts WHERE name = 'alice'"
        ).fetchone()
    assert stored[0] is None and stored[1].startswith("$argon2id$") and password not in stored[1]


def test_a_password_file_and_the_password_rules(fresh_home: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from a file, long enough\n", encoding="utf-8")
    added = run(
        "account", "add", "--home", fresh_home, "ops", "--role", "admin", "--password-file", secret, "--json"
    )
    assert added.exit_code == 0 and json.loads(added.stdout)["token"] is None
    short = tmp_path / "short"
    short.write_text("short\n", encoding="utf-8")
    refused = CliRunner().invoke(
        cli,
        ["account", "add", "--home", str(fresh_home), "x", "--role", "admin", "--password-file", str(short)],
    )
    assert refused.exit_code == 2 and "at least 12 characters" in refused.output
    both = CliRunner().invoke(
        cli,
        [
            "account",
            "add",
            "--home",
            str(fresh_home),
            "y",
            "--role",
            "admin",
            "--password",
            "--password-file",
            str(secret),
        ],
    )
    assert both.exit_code == 2
    node = AccordNode.open(fresh_home)
    try:
        assert node.log_in("ops", "from a file, long enough").account.name == "ops"
        with pytest.raises(Unauthenticated):
            node.log_in("ops", "from a file, long enough\n")
        assert [a.name for a in node.api_accounts()] == ["ops"]  # nothing half-made by the refusals
    finally:
        node.close()
