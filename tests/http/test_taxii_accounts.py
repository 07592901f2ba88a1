"""TAXII on the one account model: analyst accounts carried over by m020 keep their tokens, the
server runs on the HTTP API's uvicorn machinery and serves TLS with the node's certificate."""

from __future__ import annotations

import base64
import json
import sqlite3
import ssl
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from node.app import AccordNode, init_home
from node.app.accounts import hash_api_token
from node.app.http_api import http_server, taxii_server
from node.errors import Unauthenticated
from node.model import Tlp
from node.model.accounts import Role
from node.store.schema import migrations

TOKENS = {"alice": "accord_old-alice-token", "chief": "accord_old-chief-token", "api": "accord_old-clash"}


@pytest.fixture
def upgraded(tmp_path: Path) -> Path:
    """A home whose database stopped before m020, holding TAXII analysts and one HTTP account."""
    root = tmp_path / "node"
    init_home(root, name="Upgraded")
    for suffix in ("", "-wal", "-shm"):
        (root / f"accord.db{suffix}").unlink(missing_ok=True)
    db = Database(root / "accord.db")
    migrations.apply(db, stop_before="m020_httpauth_accounts")
    rows = [
        ("alice", hash_api_token(TOKENS["alice"]), None, None, "2026-01-01T00:00:00.000Z"),
        ("chief", hash_api_token(TOKENS["chief"]), "red", None, "2026-01-02T00:00:00.000Z"),
        ("ops", hash_api_token(TOKENS["api"]), "green", None, "2026-01-03T00:00:00.000Z"),
    ]
    db.conn.executemany(
        "INSERT INTO analysts (name, token_hash, max_tlp, partner, added_at) VALUES (?,?,?,?,?)", rows
    )
    db.conn.execute(
        "INSERT INTO http_accounts (name, role, max_tlp, token_hash, added_at) VALUES (?,?,?,?,?)",
        ("ops", "admin", "red", hash_api_token("accord_api_ops"), "2026-01-04T00:00:00.000Z"),
    )
    db.conn.commit()
    db.close()
    return root


def test_m020_moves_every_taxii_analyst_into_the_one_account_model(upgraded: Path) -> None:
    node = AccordNode.open(upgraded)
    try:
        accounts = {a.name: a for a in node.api_accounts()}
        assert set(accounts) == {"alice", "chief", "ops", "ops.taxii"}  # the clash renamed, not lost
        assert accounts["alice"].role is Role.ANALYST and accounts["alice"].max_tlp is Tlp.AMBER_STRICT
        assert accounts["chief"].max_tlp is Tlp.RED and accounts["ops"].role is Role.ADMIN
        # the old tokens work unchanged, on TAXII (Basic with the name) and on the HTTP API
        assert node.bridges.viewer(TOKENS["chief"], "chief").max_tlp is Tlp.RED
        assert node.bridges.viewer(TOKENS["api"], "ops.taxii").max_tlp is Tlp.GREEN
        assert node.authenticate_api_token(TOKENS["alice"]).name == "alice"
        with pytest.raises(Unauthenticated):
            node.bridges.viewer(TOKENS["chief"], "alice")  # Basic needs the account's own name
        # an unset maximum follows taxii.analyst_max_tlp, as it always did
        node.config = replace(node.config, taxii=replace(node.config.taxii, analyst_max_tlp="green"))
        assert node.bridges.viewer(TOKENS["alice"], None).max_tlp is Tlp.GREEN
        assert [a.name for a in node.bridges.analysts()] == ["alice", "chief", "ops.taxii"]
    finally:
        node.close()
    with sqlite3.connect(upgraded / "accord.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "analysts" not in tables and "http_sessions" in tables


def test_a_matcher_service_token_reads_nothing_over_taxii(upgraded: Path) -> None:
    node = AccordNode.open(upgraded)
    try:
        token = node.add_api_account("pipeline", role=Role.MATCHER).token
        assert token is not None
        with pytest.raises(Unauthenticated):
            node.bridges.viewer(token, None)
        analyst = node.add_api_account("reader", role=Role.ANALYST, max_tlp=Tlp.AMBER).token
        assert analyst is not None and node.bridges.viewer(analyst, "reader").max_tlp is Tlp.AMBER
    finally:
        node.close()


def _get(url: str, headers: dict[str, str], context: ssl.SSLContext | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/taxii+json;version=2.1", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_taxii_serves_tls_with_the_node_certificate_to_a_migrated_account(upgraded: Path) -> None:
    node = AccordNode.open(upgraded)
    node.config = replace(node.config, network=replace(node.config.network, tls="always"))
    server = taxii_server(node, "127.0.0.1:0")
    server.start()
    try:
        assert server.tls is not None
        context = ssl.create_default_context(cafile=str(node.home.tls_cert_path))
        context.check_hostname = False  # the certificate names accord-node.invalid; pinned as the root
        base = f"https://127.0.0.1:{server.port}"
        basic = "Basic " + base64.b64encode(f"chief:{TOKENS['chief']}".encode()).decode()
        status, body = _get(f"{base}/taxii2/", {"Authorization": basic}, context)
        assert status == 200 and body["api_roots"] == [f"{base}/accord/"]
        status, body = _get(
            f"{base}/accord/collections/", {"Authorization": f"Bearer {TOKENS['alice']}"}, context
        )
        assert status == 200 and body["collections"]
        status, body = _get(f"{base}/accord/collections/", {"Authorization": "Bearer accord_nope"}, context)
        assert status == 401 and body["http_status"] == "401"
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/taxii2/", timeout=30)  # no plaintext
    finally:
        server.stop()
        node.close()


def test_one_token_reads_both_the_http_api_and_taxii(upgraded: Path) -> None:
    node = AccordNode.open(upgraded)
    api, taxii = http_server(node, "127.0.0.1:0"), taxii_server(node, "127.0.0.1:0")
    api.start()
    taxii.start()
    try:
        bearer = {"Authorization": f"Bearer {TOKENS['chief']}"}
        status, body = _get(f"http://127.0.0.1:{api.port}/v1/session", bearer)
        assert status == 200 and body["account"] == "chief" and body["csrf_token"] is None
        status, _ = _get(f"http://127.0.0.1:{taxii.port}/accord/collections/", bearer)
        assert status == 200
    finally:
        taxii.stop()
        api.stop()
        node.close()


def test_taxii_limits_callers_without_valid_credentials_per_address(upgraded: Path) -> None:
    node = AccordNode.open(upgraded)
    node.config = replace(
        node.config,
        http=replace(node.config.http, anonymous_rate_burst=2, anonymous_rate_per_second=0.01),
    )
    server = taxii_server(node, "127.0.0.1:0")
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/accord/collections/"
        statuses = [_get(url, {"Authorization": "Bearer accord_guess"})[0] for _ in range(3)]
        assert statuses == [401, 401, 429]
        assert _get(url, {"Authorization": f"Bearer {TOKENS['alice']}"})[0] == 200  # a valid token is not
    finally:
        server.stop()
        node.close()
