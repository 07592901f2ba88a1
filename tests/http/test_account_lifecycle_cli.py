"""``accord account password|logout``: an operator resets a forgotten password and ends sessions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.app import AccordNode
from node.cli.main import cli
from node.errors import Unauthenticated
from node.model.accounts import Role
from tests.support.cli import run

PASSWORD = "the forgotten long password"
NEW_PASSWORD = "the operator's new passphrase"


def _open(home: Path) -> AccordNode:
    return AccordNode.open(home)


@pytest.fixture
def people(fresh_home: Path) -> Path:
    """alice and bob (people) and pipeline (a token), alice with two sessions and bob with one."""
    node = _open(fresh_home)
    try:
        node.add_api_account("alice", role=Role.REVIEWER, password=PASSWORD)
        node.add_api_account("bob", role=Role.ADMIN, password=PASSWORD)
        node.add_api_account("pipeline", role=Role.MATCHER)
    finally:
        node.close()
    return fresh_home


def _sessions(home: Path, name: str, n: int) -> list[str]:
    node = _open(home)
    try:
        return [node.log_in(name, PASSWORD).id for _ in range(n)]
    finally:
        node.close()


def _alive(home: Path, session_id: str) -> bool:
    node = _open(home)
    try:
        node.session_account(session_id)
    except Unauthenticated:
        return False
    finally:
        node.close()
    return True


def _hash(home: Path, name: str) -> str | None:
    with sqlite3.connect(home / "accord.db") as db:
        row = db.execute("SELECT password_hash FROM http_accounts WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


def _audit(home: Path) -> list[tuple[str, str, dict[str, object]]]:
    node = _open(home)
    try:
        return [(r.action, r.actor, json.loads(r.details)) for r in node.audit.records()]
    finally:
        node.close()


def test_password_resets_a_forgotten_password_and_ends_every_session(people: Path) -> None:
    alices, bobs = _sessions(people, "alice", 2), _sessions(people, "bob", 1)
    reset = CliRunner().invoke(
        cli,
        ["account", "password", "--home", str(people), "alice", "--password"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert reset.exit_code == 0, reset.output
    assert "2 session(s) ended" in reset.stdout and NEW_PASSWORD not in reset.output
    assert not any(_alive(people, s) for s in alices) and _alive(people, bobs[0])
    node = _open(people)
    try:
        with pytest.raises(Unauthenticated):
            node.log_in("alice", PASSWORD)
        assert node.log_in("alice", NEW_PASSWORD).account.name == "alice"
    finally:
        node.close()
    rows = [(action, details) for action, _, details in _audit(people) if action == "account-password"]
    assert rows == [("account-password", {"account": "alice", "by": "operator", "sessions_ended": 2})]
    assert all(NEW_PASSWORD not in json.dumps(d) for _, _, d in _audit(people))
    assert run("audit", "verify", "--home", people).exit_code == 0


def test_password_from_a_file_with_json(people: Path, tmp_path: Path) -> None:
    secret = tmp_path / "new-password"
    secret.write_text(f"{NEW_PASSWORD}\nignored second line\n", encoding="utf-8")
    _sessions(people, "bob", 3)
    reset = run("account", "password", "--home", people, "bob", "--password-file", secret, "--json")
    assert reset.exit_code == 0, reset.output
    assert json.loads(reset.stdout) == {"name": "bob", "sessions_ended": 3}
    node = _open(people)
    try:
        assert node.log_in("bob", NEW_PASSWORD).account.name == "bob"
    finally:
        node.close()


def test_password_refuses_token_accounts_unknown_names_weak_passwords_and_no_source(
    people: Path, tmp_path: Path
) -> None:
    weak, good = tmp_path / "weak", tmp_path / "good"
    weak.write_text("short\n", encoding="utf-8")
    good.write_text(f"{NEW_PASSWORD}\n", encoding="utf-8")
    before = {name: _hash(people, name) for name in ("alice", "pipeline")}
    sessions = _sessions(people, "alice", 1)
    runner = CliRunner()

    def password(*args: str | Path) -> tuple[int, str]:
        result = runner.invoke(cli, ["account", "password", "--home", str(people), *map(str, args)])
        return result.exit_code, result.output

    code, output = password("pipeline", "--password-file", good)
    assert code == 2 and "API token and has no password" in output
    code, output = password("nobody", "--password-file", good)
    assert code == 3 and "no account named 'nobody'" in output
    code, output = password("alice", "--password-file", weak)
    assert code == 2 and "at least 12 characters" in output
    code, output = password("alice")
    assert code == 2 and "--password" in output
    code, output = password("alice", "--password", "--password-file", good)
    assert code == 2
    assert {name: _hash(people, name) for name in before} == before  # nothing changed by a refusal
    assert _alive(people, sessions[0])  # and no session ended
    assert not [a for a, _, _ in _audit(people) if a == "account-password"]


def test_logout_ends_every_session_of_an_account_and_says_how_many(people: Path) -> None:
    alices, bobs = _sessions(people, "alice", 3), _sessions(people, "bob", 1)
    out = run("account", "logout", "--home", people, "alice")
    assert out.exit_code == 0 and "ended 3 session(s) of account alice" in out.stdout
    assert not any(_alive(people, s) for s in alices) and _alive(people, bobs[0])
    again = run("account", "logout", "--home", people, "alice", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == {"name": "alice", "sessions_ended": 0}
    assert run("account", "logout", "--home", people, "nobody").exit_code == 3
    logouts = [(actor, d) for action, actor, d in _audit(people) if action == "account-logout"]
    assert [d for _, d in logouts] == [
        {"account": "alice", "sessions_ended": 3},
        {"account": "alice", "sessions_ended": 0},
    ]
    assert all(actor.startswith("user:") for actor, _ in logouts)  # the operator, not an API account
    node = _open(people)
    try:
        assert node.log_in("alice", PASSWORD).account.name == "alice"  # the password still works
    finally:
        node.close()
