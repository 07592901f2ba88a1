"""C2PA credentials between two real nodes (issue 15): a newsroom attests a signed photo, its
record carries the manifest summary; a platform matching the media through the Match API gets
its own reading of the upload's manifest beside the attestation; a stripped or tampered
manifest changes nothing about the hash match."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli.main import cli
from node.rpc.client import LocalClient
from node.rpc.convert import credentials_from_proto, match_result_from_proto
from tests.support.credentials import AI_SOURCE, SigningAuthority, make_signer, strip, tamper
from tests.support.media import render_image
from tests.support.nodes import LiveNode


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[LiveNode, LiveNode, SigningAuthority]]:
    signer = make_signer("Newsroom Photo Desk")
    newsroom = LiveNode.start(tmp_path / "newsroom", "Newsroom")
    (tmp_path / "newsroom" / "anchors.pem").write_bytes(signer.ca_pem)  # the newsroom trusts its CA
    toml = tmp_path / "newsroom" / "accord.toml"
    text = toml.read_text()
    assert 'c2pa_trust_anchors = ""' in text  # init writes every key
    toml.write_text(text.replace('c2pa_trust_anchors = ""', 'c2pa_trust_anchors = "anchors.pem"'))
    config = newsroom.node.config
    newsroom.node.config = replace(config, match=replace(config.match, c2pa_trust_anchors="anchors.pem"))
    platform = LiveNode.start(tmp_path / "platform", "Platform")
    newsroom.pin(platform, "platform")
    platform.pin(newsroom, "newsroom", endpoint=newsroom.address)
    yield newsroom, platform, signer
    platform.stop()
    newsroom.stop()


def _signed(signer: SigningAuthority, path: Path, **options: str) -> Path:
    out = io.BytesIO()
    render_image(seed=51, size=(320, 240)).save(out, format="PNG")
    path.write_bytes(signer.sign(out.getvalue(), **options))
    return path


def _match_media(platform: LiveNode, data: bytes) -> tuple[dict[str, object], object]:
    assert platform.servers is not None
    client = LocalClient(f"127.0.0.1:{platform.servers.local_port}", timeout=10)
    try:
        response = client.match([], media=data)
    finally:
        client.close()
    results = {r.query.split(":")[0]: match_result_from_proto(r) for r in response.results}
    credentials = credentials_from_proto(response.credentials) if response.HasField("credentials") else None
    return results, credentials  # type: ignore[return-value]


def test_an_attested_signed_photo_carries_its_credentials_to_partners(
    pair: tuple[LiveNode, LiveNode, SigningAuthority], tmp_path: Path
) -> None:
    newsroom, platform, signer = pair
    photo = _signed(signer, tmp_path / "photo.png")
    report = newsroom.node.attest(
        photo,
        publisher="Newsroom",
        published_at=datetime(2026, 11, 2, tzinfo=UTC),
        where="https://news.example/1",
    )
    assert report.record.c2pa is not None and report.record.c2pa.trusted  # under the newsroom's anchor
    platform.node.sync()
    platform.node.load_lists()

    results, seen = _match_media(platform, photo.read_bytes())
    [sha] = results["sha256"].attestations  # type: ignore[attr-defined]
    assert sha.authentic
    recorded = sha.attestation.c2pa
    assert recorded is not None and recorded.trusted and recorded.signer == "Newsroom Photo Desk"
    # The platform's own reading: intact, but signed under no anchor the platform configured.
    assert seen is not None and seen.valid and not seen.trusted  # type: ignore[attr-defined]

    # Stripped (re-encoded) and tampered copies: the manifest is gone or broken, and the hash
    # matches are exactly what the bytes give, manifest or not.
    stripped = strip(photo.read_bytes(), tmp_path / "stripped.png")
    results, seen = _match_media(platform, stripped.read_bytes())
    assert seen is None
    [pdq] = results["pdq"].attestations  # type: ignore[attr-defined]
    assert pdq.verdict == "similar" and results["sha256"].attestations == ()  # type: ignore[attr-defined]
    broken = tamper(photo.read_bytes())
    results, seen = _match_media(platform, broken)
    assert seen is not None and not seen.valid and not seen.trusted  # type: ignore[attr-defined]
    assert results["sha256"].attestations == ()  # type: ignore[attr-defined]
    # Same pixels, so PDQ distance 0: similar, never authentic, whatever the broken manifest says.
    [pdq] = results["pdq"].attestations  # type: ignore[attr-defined]
    assert (pdq.verdict, pdq.distance) == ("similar", 0)


def test_hash_and_match_show_credentials_and_ai_declarations(
    pair: tuple[LiveNode, LiveNode, SigningAuthority], tmp_path: Path
) -> None:
    newsroom, platform, signer = pair
    fake = _signed(signer, tmp_path / "fake.png", source_type=AI_SOURCE, generator="ImageGen")
    runner = CliRunner()
    home = str(newsroom.node.home.root)
    hashed = runner.invoke(cli, ["hash", "--home", home, str(fake)])
    assert hashed.exit_code == 0, hashed.output
    assert "C2PA trusted" in hashed.output and "declares itself AI-generated" in hashed.output
    elsewhere = runner.invoke(cli, ["hash", "--home", str(platform.node.home.root), "--json", str(fake)])
    [row] = json.loads(elsewhere.output)
    assert row["c2pa"]["valid"] and not row["c2pa"]["trusted"] and row["c2pa"]["ai_generated"]
    assert row["c2pa"]["claim_generator"] == "ImageGen 1.0"

    done = runner.invoke(cli, ["contribute", "--home", home, str(fake), "--category", "election-deepfake"])
    assert done.exit_code == 0, done.output
    platform.node.sync()
    matched = runner.invoke(cli, ["match", "--home", str(platform.node.home.root), "--offline", str(fake)])
    assert matched.exit_code == 0, matched.output
    assert "declares itself AI-generated" in matched.output and "election-deepfake" in matched.output
