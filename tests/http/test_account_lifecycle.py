"""A person's own credentials on the real HTTP API: changing a password (and what a stolen session
may not do with it), logging out everywhere, and login lockouts that outlive a restart."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.app import AccordNode, init_home
from node.app.http_api import http_server
from node.http.server import HttpServer
from node.model import Tlp
from node.model.accounts import Role

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different long passphrase"
BOB_PASSWORD = "bob's own long passphrase"
OPEN: dict[str, Any] = {"anonymous_rate_burst": 1000, "anonymous_rate_per_second": 1000.0}


@dataclass
class Site:
    """A node with two people and a service account, its HTTP API on a loopback port."""

    node: AccordNode
    server: HttpServer
    token: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.server.port}", timeout=30)

    def login(self, name: str = "alice", password: str = PASSWORD) -> httpx.Response:
        with self.client() as client:
            return client.post("/v1/login", json={"name": name, "password": password})

    def session(self, name: str = "alice", password: str = PASSWORD) -> tuple[str, str]:
        """A new session: its cookie value and its CSRF token."""
        answer = self.login(name, password)
        assert answer.status_code == 200, answer.text
        return answer.headers["set-cookie"].split(";")[0].split("=", 1)[1], answer.json()["csrf_token"]

    def post(
        self, path: str, session: tuple[str, str] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers: dict[str, str] = kwargs.pop("headers", {})
        if session is not None:
            headers["Cookie"] = f"accord_session={session[0]}"
            if csrf:
                headers["X-CSRF-Token"] = session[1]
        with self.client() as client:
            return client.post(path, headers=headers, **kwargs)

    def change(
        self, session: tuple[str, str] | None, current: str, new: str, **kwargs: Any
    ) -> httpx.Response:
        return self.post("/v1/password", session, json={"current": current, "new": new}, **kwargs)

    def alive(self, session: tuple[str, str]) -> bool:
        with self.client() as client:
            answer = client.get("/v1/session", headers={"Cookie": f"accord_session={session[0]}"})
        assert answer.status_code in (200, 401), answer.text
        return answer.status_code == 200


def password_hash(home: Path, name: str) -> str:
    with sqlite3.connect(home / "accord.db") as db:
        row = db.execute("SELECT password_hash FROM http_accounts WHERE name = ?", (name,)).fetchone()
    return str(row[0])


def failure_rows(home: Path) -> dict[tuple[str, str], tuple[int, int]]:
    with sqlite3.connect(home / "accord.db") as db:
        rows = db.execute("SELECT kind, key, count, lockouts FROM http_login_failures").fetchall()
    return {(kind, key): (count, lockouts) for kind, key, count, lockouts in rows}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    init_home(tmp_path / "node", name="Lifecycle")
    node = AccordNode.open(tmp_path / "node")
    try:
        node.add_api_account("alice", role=Role.REVIEWER, max_tlp=Tlp.AMBER, password=PASSWORD)
        node.add_api_account("bob", role=Role.ADMIN, max_tlp=Tlp.GREEN, password=BOB_PASSWORD)
    finally:
        node.close()
    return tmp_path / "node"


@pytest.fixture
def start(home: Path) -> Iterator[Any]:
    """Open the node and serve its HTTP API; called again, it stops the last one first (a restart)."""
    running: list[Site] = []

    def stop_last() -> None:
        if running:
            site = running.pop()
            site.server.stop()
            site.node.close()

    def started(**http: Any) -> Site:
        stop_last()
        node = AccordNode.open(home)
        node.config = replace(node.config, http=replace(node.config.http, **{**OPEN, **http}))
        accounts = {a.name for a in node.api_accounts()}
        token = "" if "pipeline" in accounts else node.add_api_account("pipeline", role=Role.MATCHER).token
        server = http_server(node, "127.0.0.1:0")
        server.start()
        running.append(Site(node=node, server=server, token=token or ""))
        return running[-1]

    yield started
    stop_last()


def audit_rows(site: Site, action: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r.actor, json.loads(r.details)) for r in site.node.audit.records() if r.action == action]


# --- changing a password --------------------------------------------------------------------


def test_a_person_changes_their_password_and_every_other_session_ends(start: Any, home: Path) -> None:
    site = start()
    here, elsewhere, bobs = site.session(), site.session(), site.session("bob", BOB_PASSWORD)
    before = password_hash(home, "alice")
    changed = site.change(here, PASSWORD, NEW_PASSWORD)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"account": "alice", "sessions_ended": 1}
    assert site.alive(here) and not site.alive(elsewhere)  # the stolen copy elsewhere is dead
    assert site.alive(bobs)  # another account's sessions are untouched
    assert site.login("alice", PASSWORD).status_code == 401
    assert site.login("alice", NEW_PASSWORD).status_code == 200
    after = password_hash(home, "alice")
    assert after != before and after.startswith("$argon2id$") and NEW_PASSWORD not in after
    assert audit_rows(site, "account-password") == [
        ("api:alice", {"account": "alice", "by": "self", "sessions_ended": 1})
    ]
    everything = " ".join(r.details for r in site.node.audit.records())
    assert PASSWORD not in everything and NEW_PASSWORD not in everything
    assert site.node.audit.verify().broken is None


def test_a_wrong_current_password_counts_as_a_failed_login_and_locks_out(start: Any, home: Path) -> None:
    site = start(login_max_failures=3, login_max_failures_per_address=100)
    session = site.session()
    wrong_login = site.login("alice", "not the password at all")  # failure 1 of the name
    guesses = [site.change(session, f"guess number {n}", NEW_PASSWORD) for n in range(2)]  # 2 and 3
    assert [g.status_code for g in guesses] == [401, 401]
    assert {json.dumps(g.json(), sort_keys=True) for g in guesses} == {
        json.dumps(wrong_login.json(), sort_keys=True)
    }  # the same answer as a wrong login
    locked = site.change(session, PASSWORD, NEW_PASSWORD)  # even the right one, while locked
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 59
    assert site.login("alice", PASSWORD).status_code == 429  # the login is locked out too
    assert site.alive(session)  # the session itself is not ended by the guesses
    assert site.node.log_in("alice", PASSWORD).account.name == "alice"  # the password did not change
    assert not audit_rows(site, "account-password")


def test_a_weak_new_password_is_400_and_no_oracle_for_the_current_one(start: Any) -> None:
    site = start(login_max_failures=1, login_max_failures_per_address=100)
    session = site.session()
    for current in (PASSWORD, "a wrong current password"):
        weak = site.change(session, current, "short")
        assert weak.status_code == 400 and "at least 12 characters" in weak.json()["detail"]
        long = site.change(session, current, "x" * 1025)
        assert long.status_code == 400 and "at most 1024 characters" in long.json()["detail"]
    assert site.login().status_code == 200  # none of those counted as a failed login (limit 1)


def test_password_changes_need_a_session_csrf_and_exactly_the_json_body(start: Any) -> None:
    site = start(login_max_failures=1, login_max_failures_per_address=100)
    session = site.session()
    bearer = site.change(None, PASSWORD, NEW_PASSWORD, headers={"Authorization": f"Bearer {site.token}"})
    assert bearer.status_code == 400 and "API token has no password" in bearer.json()["detail"]
    no_csrf = site.post("/v1/password", session, csrf=False, json={"current": PASSWORD, "new": NEW_PASSWORD})
    assert no_csrf.status_code == 403 and no_csrf.json()["reason"] == "csrf"
    anonymous = site.change(None, PASSWORD, NEW_PASSWORD)
    assert anonymous.status_code == 401
    bodies: list[dict[str, Any]] = [
        {"data": {"current": PASSWORD, "new": NEW_PASSWORD}},  # a form: never
        {"json": {"current": PASSWORD, "new": NEW_PASSWORD, "name": "bob"}},
        {"json": {"current": PASSWORD}},
        {"json": {"current": [PASSWORD], "new": NEW_PASSWORD}},
        {"json": [PASSWORD, NEW_PASSWORD]},
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
    ]
    for body in bodies:
        assert site.post("/v1/password", session, **body).status_code == 400, body
    huge = site.post("/v1/password", session, json={"current": PASSWORD, "new": "y" * 20_000})
    assert huge.status_code == 413
    assert site.node.log_in("alice", PASSWORD).account.name == "alice"  # nothing changed
    assert site.login().status_code == 200  # and no refusal counted as a failed login (limit 1)


# --- logging out everywhere -----------------------------------------------------------------


def test_log_out_everywhere_ends_every_session_of_the_account(start: Any) -> None:
    site = start()
    here, elsewhere, bobs = site.session(), site.session(), site.session("bob", BOB_PASSWORD)
    assert site.post("/v1/sessions/end-all", here, csrf=False).status_code == 403  # CSRF like any change
    bearer = site.post("/v1/sessions/end-all", headers={"Authorization": f"Bearer {site.token}"})
    assert bearer.status_code == 400
    ended = site.post("/v1/sessions/end-all", here)
    assert ended.status_code == 200 and ended.json() == {"account": "alice", "sessions_ended": 2}
    assert 'accord_session=""' in ended.headers["set-cookie"]
    assert not site.alive(here) and not site.alive(elsewhere) and site.alive(bobs)
    assert audit_rows(site, "account-logout") == [("api:alice", {"account": "alice", "sessions_ended": 2})]
    assert site.login().status_code == 200  # the password still works: only sessions ended


# --- lockouts that outlive a restart ----------------------------------------------------------


def test_a_lockout_survives_a_restart_until_it_ends_and_a_success_clears_the_name(
    start: Any, home: Path
) -> None:
    # A short lockout so the test can wait it out; long enough for a restart on a busy machine.
    limits = {"login_max_failures": 3, "login_max_failures_per_address": 100, "login_lockout_seconds": 6.0}
    site = start(**limits)
    for _ in range(3):
        assert site.login("alice", "a wrong guess here").status_code == 401
    assert site.login().status_code == 429
    site = start(**limits)  # a restart: the node closed and opened again, a new guard, the same home
    locked = site.login()  # the RIGHT password, still refused after the restart
    assert locked.status_code == 429, "a restart handed out fresh guesses"
    assert failure_rows(home) == {("name", "alice"): (0, 1), ("address", "127.0.0.1"): (3, 0)}
    assert 1 <= int(locked.headers["retry-after"]) <= 6
    deadline = time.monotonic() + 15
    while (answer := site.login()).status_code == 429 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert answer.status_code == 200
    assert failure_rows(home) == {("address", "127.0.0.1"): (3, 0)}  # the name's row went with its success


def test_a_restart_keeps_counting_toward_the_next_lockout(start: Any, home: Path) -> None:
    limits = {"login_max_failures": 3, "login_max_failures_per_address": 100}
    site = start(**limits)
    for _ in range(2):
        assert site.login("Mallory", "a wrong guess here").status_code == 401  # a name nobody has
    site = start(**limits)
    assert site.login("mallory", "a wrong guess here").status_code == 401  # the third, after a restart
    locked = site.login("MALLORY", PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 59
