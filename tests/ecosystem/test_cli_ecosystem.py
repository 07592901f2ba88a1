"""The ecosystem commands end to end: help pages, analyst accounts, and ``serve --taxii``."""

from __future__ import annotations

import json
import ssl
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from taxii2client.v21 import Collection

from node.cli.main import cli
from tests.support.processes import ServeProcess, accord, accord_json, free_port

COMMANDS = [
    ["analyst"],
    ["analyst", "add"],
    ["analyst", "list"],
    ["analyst", "remove"],
    ["partner", "add-taxii"],
    ["partner", "sources"],
    ["partner", "accept"],
    ["partner", "remove-source"],
    ["import-misp"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_ecosystem_command_documents_itself(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="accord")
    assert result.exit_code == 0 and "Usage: accord" in result.output
    if command != ["analyst"]:
        assert "--home" in result.output


def test_serve_help_names_the_taxii_option() -> None:
    assert "--taxii" in CliRunner().invoke(cli, ["serve", "--help"]).output


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    assert accord("init", "--home", root, "--name", "Example NGO").returncode == 0
    return root


def test_analyst_accounts_print_a_token_once_and_list_without_it(home: Path) -> None:
    added = accord("analyst", "add", "--home", home, "alice", "--max-tlp", "green")
    assert added.returncode == 0 and "shown only now" in added.stderr
    token = added.stdout.strip()
    assert token.startswith("accord_") and len(token) > 40
    listed = accord("analyst", "list", "--home", home, "--json")
    assert token not in listed.stdout
    assert json.loads(listed.stdout) == [
        {
            "name": "alice",
            "partner": None,
            "max_tlp": "green",
            "added_at": json.loads(listed.stdout)[0]["added_at"],
        }
    ]
    assert accord("analyst", "add", "--home", home, "alice").returncode == 3
    assert accord("analyst", "add", "--home", home, "bob", "--partner", "nobody").returncode == 3
    assert accord("analyst", "add", "--home", home, "bad name").returncode == 2
    assert accord("analyst", "remove", "--home", home, "alice").returncode == 0
    assert accord("analyst", "remove", "--home", home, "alice").returncode == 3
    assert accord_json("analyst", "list", "--home", home) == []


def test_serve_with_taxii_answers_an_analyst_and_refuses_strangers(home: Path, tmp_path: Path) -> None:
    token = accord("analyst", "add", "--home", home, "alice").stdout.strip()
    signal = "md5:" + "ab" * 16
    assert accord("contribute", "--home", home, "--signal", signal, "--category", "csam").returncode == 0
    port = free_port()
    server = ServeProcess(
        home,
        listen=free_port(),
        local=free_port(),
        log=tmp_path / "serve.log",
        extra=("--taxii", f"127.0.0.1:{port}"),
    )
    try:
        assert f"TAXII 2.1 on http://127.0.0.1:{port}/taxii2/" in (tmp_path / "serve.log").read_text()
        url = f"http://127.0.0.1:{port}/accord/collections/all/"
        with Collection(url, user="alice", password=token) as collection:
            objects = collection.get_objects()["objects"]
        assert any(o["type"] == "indicator" and "ab" * 16 in o["pattern"] for o in objects)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=30)
        caught.value.close()
        assert caught.value.code == 401
    finally:
        assert server.stop() == 0


def test_serve_with_taxii_off_loopback_serves_tls_with_the_node_certificate(
    home: Path, tmp_path: Path
) -> None:
    token = accord("analyst", "add", "--home", home, "alice").stdout.strip()
    port = free_port()
    server = ServeProcess(
        home,
        listen=free_port(),
        local=free_port(),
        log=tmp_path / "serve.log",
        extra=("--taxii", f"0.0.0.0:{port}"),
    )
    try:
        assert f"TAXII 2.1 on https://0.0.0.0:{port}/taxii2/" in (tmp_path / "serve.log").read_text()
        context = ssl.create_default_context(cafile=str(home / "tls.crt"))
        context.check_hostname = False  # the certificate names accord-node.invalid; pinned as the only root
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}/taxii2/", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            assert json.loads(response.read())["api_roots"] == [f"https://127.0.0.1:{port}/accord/"]
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/taxii2/", timeout=30)  # no plaintext there
    finally:
        assert server.stop() == 0


def test_a_source_secret_lives_in_a_private_file_not_in_the_database(home: Path, tmp_path: Path) -> None:
    secret = "s3cret-token-for-the-hub"
    added = accord(
        "partner",
        "add-taxii",
        "--home",
        home,
        "hub",
        "http://127.0.0.1:9/api1/",
        "--collection",
        "c1",
        "--token",
        secret,
    )
    assert added.returncode == 0, added.stderr
    path = home / "source-secrets" / "hub"
    assert path.read_text() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for db_file in home.glob("accord.db*"):
        assert secret.encode() not in db_file.read_bytes()
    assert accord("partner", "remove-source", "--home", home, "hub").returncode == 0
    assert not path.exists()
    assert accord("partner", "remove-source", "--home", home, "hub").returncode == 3
