"""url: and domain: signals through contribute, scan and the HTTP API (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from node.app import AccordNode
from node.model import Tlp
from node.model.accounts import Role
from tests.http.conftest import start_server
from tests.support.cli import run
from tests.support.model_files import model_tensors, write_safetensors


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "ngo"
    assert run("init", "--home", path, "--name", "Example NGO").exit_code == 0
    listed = run(
        "contribute", "--home", path, "--signal", "domain:nudify.example", "--signal",
        "url:https://free-undress.example/app?id=7", "--category", "nudify-service",
    )  # fmt: skip
    assert listed.exit_code == 0 and "2 added" in listed.stdout, listed.output
    return path


def test_a_public_suffix_is_refused_by_contribute_with_the_reason(home: Path) -> None:
    for suffix in ("domain:vercel.app", "domain:co.uk"):
        refused = run("contribute", "--home", home, "--signal", suffix, "--category", "nudify-service")
        assert refused.exit_code != 0 and "public suffix" in refused.output


def test_the_new_categories_are_in_the_shared_vocabulary(home: Path) -> None:
    typo = run("contribute", "--home", home, "--signal", "domain:a.example", "--category", "nudify-servce")
    assert typo.exit_code != 0 and "did you mean 'nudify-service'" in typo.output


def test_contribute_shares_a_model_file_by_its_tensors(home: Path, tmp_path: Path) -> None:
    model = write_safetensors(tmp_path / "m.safetensors", model_tensors(4))
    added = run("contribute", "--home", home, model, "--category", "abusive-model")
    assert added.exit_code == 0 and "3 added" in added.stdout, added.output
    checkpoint = tmp_path / "m.ckpt"
    checkpoint.write_bytes(b"PK\x03\x04" + b"\0" * 60)
    pickled = run("contribute", "--home", home, checkpoint, "--category", "abusive-model")
    assert pickled.exit_code == 2 and "never unpickled" in pickled.output and "2 added" in pickled.stdout


def test_scan_matches_a_url_column(home: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "links.csv"
    manifest.write_text(
        "id,url\n"
        "deep,https://cdn.app.NUDIFY.example/x/../upload\n"
        "exact,HTTPS://free-undress.example:443/app?id=7#top\n"
        "lookalike,https://notnudify.example/\n"
        "broken,ftp://nudify.example/\n"
    )
    out = tmp_path / "report.jsonl"
    result = run("scan", "--home", home, manifest, "--out", out)
    assert result.exit_code == 0, result.output
    assert "scanned 4 item(s): 2 matched, 1 without a usable signal" in result.stdout
    report = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in report] == ["deep", "exact"]
    assert {m["category"] for r in report for m in r["matches"]} == {"nudify-service"}


def test_http_match_takes_url_and_domain_signals(home: Path) -> None:
    node = AccordNode.open(home)
    try:
        node.load_lists()
        token = node.add_api_account("matcher", role=Role.MATCHER, max_tlp=Tlp.AMBER).token
        server = start_server(node)
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {token}"}
            ) as client:
                body = {"signals": ["url:https://a.nudify.example/", "domain:nudify.example.org"]}
                response = client.post("/v1/match", json=body)
                bad = client.post("/v1/match", json={"signals": ["domain:com"]})
        finally:
            server.stop()
    finally:
        node.close()
    assert response.status_code == 200, response.text
    hit, miss = response.json()["results"]
    assert hit["signal_type"] == "url" and [m["category"] for m in hit["matches"]] == ["nudify-service"]
    assert miss["matches"] == []
    assert "public suffix" in bad.text
