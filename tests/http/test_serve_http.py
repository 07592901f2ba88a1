"""``accord serve --http``: the real process serves the HTTP API beside gRPC, and stops cleanly."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.feeds import pdq_signal
from tests.support.processes import ServeProcess, accord, accord_json, free_port


def test_serve_with_http_matches_what_the_node_published(tmp_path: Path) -> None:
    home = tmp_path / "ngo"
    assert accord("init", "--home", home, "--name", "NGO").returncode == 0
    signal = pdq_signal(7)
    contributed = accord(
        "contribute", "--home", home, "--signal", str(signal), "--category", "csam", "--tlp", "green"
    )
    assert contributed.returncode == 0, contributed.stderr
    token = accord_json("account", "add", "--home", home, "pipeline", "--role", "matcher")["token"]
    port = free_port()
    server = ServeProcess(
        home,
        listen=free_port(),
        local=free_port(),
        log=tmp_path / "serve.log",
        extra=("--http", f"127.0.0.1:{port}"),
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            health = client.get("/v1/health")
            matched = client.post(
                "/v1/match", json={"signals": [str(signal)]}, headers={"Authorization": f"Bearer {token}"}
            )
    finally:
        assert server.stop() == 0
    log = (tmp_path / "serve.log").read_text()
    assert f"HTTP API on http://127.0.0.1:{port}/v1/" in log
    assert health.json() == {"status": "serving"}
    assert [m["category"] for m in matched.json()["results"][0]["matches"]] == ["csam"]
    assert token not in log and signal.value not in log


def test_serve_refuses_an_http_address_it_cannot_bind(tmp_path: Path) -> None:
    home = tmp_path / "ngo"
    assert accord("init", "--home", home, "--name", "NGO").returncode == 0
    result = accord(
        "serve",
        "--home",
        home,
        "--listen",
        "127.0.0.1:0",
        "--local-listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:99999",
    )
    assert result.returncode == 2
    assert "cannot listen on 127.0.0.1:99999 for the HTTP API" in result.stderr
