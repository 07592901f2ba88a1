"""C2PA recorded with a contribution, between two real nodes (issue 15): an NGO contributes an
AI-generated image signed with C2PA; after a sync the platform shows the origin's reading
(valid, not trusted by the origin, AI-generated) in ``accord show``, ``GET /v1/indicators/{id}``
and beside its matches (CLI and Match API), and a stripped copy matches exactly as before."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from node.app.http_api import http_server
from node.model import Tlp
from node.model.accounts import Role
from node.rpc.client import LocalClient
from node.rpc.convert import match_result_from_proto
from tests.support.cli import run
from tests.support.credentials import AI_SOURCE, make_signer, strip
from tests.support.media import render_image
from tests.support.nodes import LiveNode


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[LiveNode, LiveNode]]:
    ngo = LiveNode.start(tmp_path / "ngo", "NGO")
    platform = LiveNode.start(tmp_path / "platform", "Platform")
    ngo.pin(platform, "platform")
    platform.pin(ngo, "ngo", endpoint=ngo.address)
    yield ngo, platform
    platform.stop()
    ngo.stop()


def _ai_image(path: Path) -> Path:
    out = io.BytesIO()
    render_image(seed=71, size=(320, 240)).save(out, format="PNG")
    signed = make_signer("ImageGen signing key").sign(
        out.getvalue(), source_type=AI_SOURCE, generator="ImageGen"
    )
    path.write_bytes(signed)
    return path


def _reading(c2pa: dict[str, object] | None) -> tuple[object, ...]:
    assert c2pa is not None
    return c2pa["valid"], c2pa["trusted"], c2pa["ai_generated"], c2pa["signer"]


ORIGINS_READING = (True, False, True, "ImageGen signing key")  # intact; the NGO configured no anchor


def test_the_platform_shows_the_origins_c2pa_reading(pair: tuple[LiveNode, LiveNode], tmp_path: Path) -> None:
    ngo, platform = pair
    fake = _ai_image(tmp_path / "fake.png")
    sha256 = "sha256:" + hashlib.sha256(fake.read_bytes()).hexdigest()
    done = run("contribute", "--home", ngo.node.home.root, fake, "--category", "election-deepfake")
    assert done.exit_code == 0, done.output
    assert "recorded with its indicators: C2PA valid" in done.output

    platform.node.sync()
    platform.node.load_lists()
    home = platform.node.home.root

    [row] = json.loads(run("show", "--home", home, sha256, "--json").stdout)
    assert row["origin_name"] == "ngo" and _reading(row["c2pa"]) == ORIGINS_READING
    text = run("show", "--home", home, sha256).output
    assert "C2PA valid (signer not trusted by the origin)" in text and "declares itself AI-generated" in text

    # HTTP: the same shape as `accord show --json`.
    token = platform.node.add_api_account("analyst", role=Role.ANALYST, max_tlp=Tlp.AMBER).token
    server = http_server(platform.node, "127.0.0.1:0")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            answer = client.get(f"/v1/indicators/{row['id']}", headers={"Authorization": f"Bearer {token}"})
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    assert [_reading(r["c2pa"]) for r in answer.json()] == [ORIGINS_READING]

    # Beside the matches: the CLI (its own reading of the query file, and the origin's) ...
    matched = run("match", "--home", home, "--offline", "--json", fake)
    results = {r["signal_type"]: r for r in json.loads(matched.stdout)}
    [match] = results["sha256"]["matches"]
    assert match["category"] == "election-deepfake" and _reading(match["c2pa"]) == ORIGINS_READING
    assert results["sha256"]["c2pa"]["valid"] is True  # the platform's own reading of the file
    table = run("match", "--home", home, "--offline", fake).output
    assert "'ngo' recorded with its indicator: C2PA valid (signer not trusted by the origin)" in table

    # ... and the Match API, through the protobuf message.
    assert platform.servers is not None
    client = LocalClient(f"127.0.0.1:{platform.servers.local_port}", timeout=10)
    try:
        response = client.match([sha256])
    finally:
        client.close()
    [result] = [match_result_from_proto(r) for r in response.results]
    [hit] = result.matches
    assert hit.c2pa is not None and (hit.c2pa.valid, hit.c2pa.trusted, hit.c2pa.ai_generated) == (
        True,
        False,
        True,
    )

    # A stripped copy (no manifest) matches by PDQ exactly as a copy of any image would.
    stripped = strip(fake.read_bytes(), tmp_path / "stripped.png")
    again = json.loads(run("match", "--home", home, "--offline", "--json", stripped).stdout)
    by_type = {r["signal_type"]: r for r in again}
    assert by_type["sha256"]["matches"] == [] and by_type["pdq"]["c2pa"] is None
    [near] = by_type["pdq"]["matches"]
    assert near["category"] == "election-deepfake" and near["distance"] == 0  # the same pixels
    assert _reading(near["c2pa"]) == ORIGINS_READING  # what the origin read, whatever this copy carries
