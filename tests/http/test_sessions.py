"""People's sessions on the real HTTP API: login, cookie flags, no enumeration, lockout, CSRF,
logout and removal ending a session, the audit line, and the limit on callers without a token."""

from __future__ import annotations

import json
import sqlite3
import ssl
import statistics
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
COOKIE = "accord_session"
OPEN = {"anonymous_rate_burst": 1000, "anonymous_rate_per_second": 1000.0}


@dataclass
class Site:
    """A node with two people and a service account, its HTTP API on a loopback port."""

    node: AccordNode
    server: HttpServer
    token: str

    @property
    def url(self) -> str:
        scheme = "http" if self.server.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.server.port}"

    def client(self) -> httpx.Client:
        verify: ssl.SSLContext | bool = True
        if self.server.tls is not None:
            verify = ssl.create_default_context(cafile=str(self.node.home.tls_cert_path))
            verify.check_hostname = False  # the certificate names accord-node.invalid; pinned as the root
        return httpx.Client(base_url=self.url, timeout=30, verify=verify)

    def login(self, name: str = "alice", password: str = PASSWORD, **headers: str) -> httpx.Response:
        with self.client() as client:
            return client.post("/v1/login", json={"name": name, "password": password}, headers=headers)

    def call(self, method: str, path: str, *, cookie: str | None = None, **headers: str) -> httpx.Response:
        sent = dict(headers)
        if cookie is not None:
            sent["Cookie"] = f"{COOKIE}={cookie}"
        with self.client() as client:
            return client.request(method, path, headers=sent, json={"signals": ["md5:" + "ab" * 16]})


def cookie_of(response: httpx.Response) -> str:
    header = response.headers["set-cookie"]
    return header.split(";")[0].split("=", 1)[1]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "node", name="Sessions")
    opened = AccordNode.open(tmp_path / "node")
    yield opened
    opened.close()


@pytest.fixture
def start(node: AccordNode) -> Iterator[Any]:
    servers: list[HttpServer] = []

    def started(tls: str = "auto", **http: object) -> Site:
        node.config = replace(
            node.config,
            http=replace(node.config.http, **{**OPEN, **http}),
            network=replace(node.config.network, tls=tls),
        )
        node.add_api_account("alice", role=Role.REVIEWER, max_tlp=Tlp.AMBER, password=PASSWORD)
        node.add_api_account("bob", role=Role.ADMIN, max_tlp=Tlp.GREEN, password=PASSWORD + "!")
        token = node.add_api_account("pipeline", role=Role.MATCHER).token
        assert token is not None
        server = http_server(node, "127.0.0.1:0")
        server.start()
        servers.append(server)
        return Site(node=node, server=server, token=token)

    yield started
    for server in servers:
        server.stop()


# --- login ----------------------------------------------------------------------------------


def test_login_sets_a_signed_httponly_strict_cookie_that_ends_with_the_session(start: Any) -> None:
    site = start()
    answer = site.login()
    assert answer.status_code == 200
    body = answer.json()
    assert (body["account"], body["role"], body["max_tlp"]) == ("alice", "reviewer", "amber")
    assert body["csrf_token"] and body["expires_at"]
    flags = [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "max-age=28800" in flags
    assert "secure" not in flags  # plain HTTP on loopback: a Secure cookie would never come back
    cookie = cookie_of(answer)
    assert site.call("GET", "/v1/session", cookie=cookie).json()["csrf_token"] == body["csrf_token"]
    assert site.call("GET", "/v1/indicators", cookie=cookie).status_code == 200  # a reviewer reads
    session_id = cookie.rpartition(".")[0]
    with sqlite3.connect(site.node.home.db_path) as db:
        stored = [row[0] for row in db.execute("SELECT id_hash FROM http_sessions")]
    assert stored and session_id not in stored  # only a hash of the session id is kept


def test_over_tls_the_cookie_is_secure(start: Any) -> None:
    site = start(tls="always")
    assert site.url.startswith("https://")
    answer = site.login()
    assert answer.status_code == 200
    assert "secure" in [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]


def test_a_forged_or_unsigned_cookie_is_refused(start: Any) -> None:
    site = start()
    cookie = cookie_of(site.login())
    session_id, _, mac = cookie.rpartition(".")
    forged = f"{session_id}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    for value in (forged, session_id, "", "x.y"):
        refused = site.call("GET", "/v1/session", cookie=value)
        assert refused.status_code == 401 and refused.json()["reason"] == "unauthenticated"


def test_unknown_names_and_wrong_passwords_get_one_answer_after_the_same_work(start: Any) -> None:
    site = start(login_max_failures=100, login_max_failures_per_address=100)
    answers = {
        "wrong password": site.login("alice", "not the password at all"),
        "unknown name": site.login("mallory", "not the password at all"),
        "no password (a token account)": site.login("pipeline", "not the password at all"),
    }
    bodies = {json.dumps(a.json(), sort_keys=True) for a in answers.values()}
    assert {a.status_code for a in answers.values()} == {401} and len(bodies) == 1
    assert "alice" not in next(iter(bodies)) and "mallory" not in next(iter(bodies))

    def seconds(name: str) -> float:
        begun = time.perf_counter()
        site.login(name, "not the password at all")
        return time.perf_counter() - begun

    known = statistics.median(seconds("alice") for _ in range(5))
    unknown = statistics.median(seconds(f"nobody-{n}") for n in range(5))
    # argon2 runs for both (~0.1 s); without the dummy hash an unknown name answered in ~1 ms.
    assert 1 / 3 < unknown / known < 3, (known, unknown)


def test_bad_login_requests_are_400_and_need_json(start: Any) -> None:
    site = start()
    with site.client() as client:
        form = client.post("/v1/login", data={"name": "alice", "password": PASSWORD})
        extra = client.post("/v1/login", json={"name": "alice", "password": PASSWORD, "role": "admin"})
        typed = client.post("/v1/login", json={"name": ["alice"], "password": PASSWORD})
    assert [r.status_code for r in (form, extra, typed)] == [400, 400, 400]


# --- lockout --------------------------------------------------------------------------------


def test_failed_logins_lock_a_name_out_whether_it_exists_or_not(start: Any) -> None:
    site = start(login_max_failures=3, login_max_failures_per_address=100)
    for _ in range(3):
        assert site.login("alice", "guess").status_code == 401
        assert site.login("mallory", "guess").status_code == 401
    locked = site.login("alice", PASSWORD)  # even the right password, while locked
    ghost = site.login("mallory", PASSWORD)
    assert locked.status_code == ghost.status_code == 429
    assert locked.json() == ghost.json() and int(locked.headers["retry-after"]) >= 59
    assert site.login("bob", PASSWORD + "!").status_code == 200  # another name is not affected


def test_failed_logins_lock_an_address_out_whatever_it_claims_to_forward(start: Any) -> None:
    site = start(login_max_failures=100, login_max_failures_per_address=4)
    for n in range(4):
        failed = site.login(f"guess-{n}", "guess", **{"X-Forwarded-For": f"198.51.100.{n}"})
        assert failed.status_code == 401
    refused = site.login("alice", PASSWORD, **{"X-Forwarded-For": "203.0.113.9"})
    assert refused.status_code == 429 and refused.json()["reason"] == "rate_limited"


# --- CSRF -----------------------------------------------------------------------------------


def test_a_cookie_authenticated_change_without_the_csrf_token_is_403(start: Any) -> None:
    site = start()
    first = site.login()
    cookie, csrf = cookie_of(first), first.json()["csrf_token"]
    other = site.login()  # a second session of the same account has its own token
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": other.json()["csrf_token"]}):
        for path in ("/v1/logout", "/v1/match"):
            refused = site.call("POST", path, cookie=cookie, **headers)
            assert refused.status_code == 403, (path, headers)
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"] == "urn:accord:problem:csrf"
    assert site.call("GET", "/v1/session", cookie=cookie).status_code == 200  # still logged in
    assert site.call("POST", "/v1/logout", cookie=cookie, **{"X-CSRF-Token": csrf}).status_code == 204


def test_a_bearer_request_needs_no_csrf_token(start: Any) -> None:
    site = start()
    answer = site.call("POST", "/v1/match", Authorization=f"Bearer {site.token}")
    assert answer.status_code in (200, 503)  # 503 while the lists load; never 403
    assert answer.status_code != 403


# --- ending sessions ------------------------------------------------------------------------


def test_logout_ends_the_session_and_clears_the_cookie(start: Any) -> None:
    site = start()
    answer = site.login()
    cookie = cookie_of(answer)
    out = site.call("POST", "/v1/logout", cookie=cookie, **{"X-CSRF-Token": answer.json()["csrf_token"]})
    assert out.status_code == 204 and 'accord_session=""' in out.headers["set-cookie"]
    assert site.call("GET", "/v1/session", cookie=cookie).status_code == 401  # the old cookie is dead
    with site.client() as client:
        bearer = client.post("/v1/logout", headers={"Authorization": f"Bearer {site.token}"})
    assert bearer.status_code == 400  # a token is not a session: revoked with accord account remove


def test_removing_an_account_or_expiry_ends_its_sessions(start: Any) -> None:
    site = start()
    alice, bob = cookie_of(site.login()), cookie_of(site.login("bob", PASSWORD + "!"))
    site.node.remove_api_account("alice")
    assert site.call("GET", "/v1/session", cookie=alice).status_code == 401
    assert site.login().status_code == 401
    with sqlite3.connect(site.node.home.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM http_sessions WHERE account = 'alice'").fetchone() == (0,)
        db.execute("UPDATE http_sessions SET expires_at = '2000-01-01T00:00:00.000Z'")
    assert site.call("GET", "/v1/session", cookie=bob).status_code == 401


# --- audit and anonymous limits -------------------------------------------------------------


def test_every_state_changing_call_is_audited_with_its_account_never_a_body(start: Any) -> None:
    site = start()
    answer = site.login()
    cookie, csrf = cookie_of(answer), answer.json()["csrf_token"]
    site.login("alice", "a wrong password here")
    site.call("GET", "/v1/session", cookie=cookie)  # a read: not audited
    site.call("POST", "/v1/match", Authorization=f"Bearer {site.token}")  # a read by POST: not audited
    site.call("POST", "/v1/logout", cookie=cookie)  # refused (no CSRF token): audited as refused
    site.call("POST", "/v1/logout", cookie=cookie, **{"X-CSRF-Token": csrf})
    rows = [(r.actor, json.loads(r.details)) for r in site.node.audit.records() if r.action == "http-call"]
    assert rows == [
        ("api:alice", {"method": "POST", "path": "/v1/login", "status": 200}),
        ("api:-", {"method": "POST", "path": "/v1/login", "status": 401}),
        ("api:alice", {"method": "POST", "path": "/v1/logout", "status": 403}),
        ("api:alice", {"method": "POST", "path": "/v1/logout", "status": 204}),
    ]
    everything = " ".join(r.details for r in site.node.audit.records())
    assert PASSWORD not in everything and "a wrong password" not in everything and "ab" * 16 not in everything
    assert site.node.audit.verify().broken is None


def test_requests_without_a_valid_token_are_limited_per_client_address(start: Any) -> None:
    site = start(anonymous_rate_burst=3, anonymous_rate_per_second=0.01)
    with site.client() as client:
        assert [client.get("/v1/health").status_code for _ in range(3)] == [503, 503, 503]
        for headers in ({}, {"X-Forwarded-For": "192.0.2.7"}, {"Authorization": "Bearer accord_api_wrong"}):
            refused = client.get(
                "/v1/health" if not headers.get("Authorization") else "/v1/session", headers=headers
            )
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        served = client.get("/v1/session", headers={"Authorization": f"Bearer {site.token}"})
    assert served.status_code == 200 and served.json()["account"] == "pipeline"  # a valid token is not
