"""Attested originals between two real nodes (issue 15): an origin attests a photo, a partner
syncs; the original's bytes are *authentic*, an altered copy only *similar, possibly altered*,
and a block-list match on the same query is reported apart from the attestation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from node.cli.main import cli
from node.hashing import hash_file
from node.model import MatchResult, Tlp
from node.model.provenance import ATTESTED_CATEGORY
from node.rpc.client import LocalClient
from node.rpc.convert import match_result_from_proto
from tests.support.media import make_image, render_image
from tests.support.nodes import LiveNode

PUBLISHED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[LiveNode, LiveNode]]:
    campaign = LiveNode.start(tmp_path / "campaign", "Campaign")
    platform = LiveNode.start(tmp_path / "platform", "Platform")
    campaign.pin(platform, "platform")
    platform.pin(campaign, "campaign", endpoint=campaign.address)
    yield campaign, platform
    platform.stop()
    campaign.stop()


def _altered(original: Path, target: Path) -> Path:
    """A local edit: a 60x60 patch from another picture pasted over a region, as a face swap
    would (the rest untouched). It stays within PDQ distance 31 of the original (14-24 here)."""
    with Image.open(original) as image:
        edited = image.convert("RGB")
    edited.paste(render_image(seed=999, size=(60, 60)), (300, 200))
    edited.save(target, format="PNG")
    return target


def _attest(node: LiveNode, path: Path, **extra: object) -> None:
    node.node.attest(
        path,
        publisher="Campaign X press office",
        published_at=PUBLISHED,
        where="https://campaign.example/press/2026-11-02",
        description="Candidate's rally photo, as released",
        labels=["election:us-2026", "jurisdiction:us-pa"],
        **extra,  # type: ignore[arg-type]
    )


def _by_type(results: list[MatchResult]) -> dict[str, MatchResult]:
    return {r.query.type.value: r for r in results}


def test_the_original_is_authentic_and_an_altered_copy_only_similar(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    campaign, platform = pair
    original = make_image(tmp_path / "rally.png", seed=21)
    altered = _altered(original, tmp_path / "rally-edited.png")
    _attest(campaign, original)
    [report] = platform.node.sync()
    assert report.ok and report.accepted == 1
    platform.node.load_lists()

    exact = _by_type(platform.node.match(_signals(original)))
    assert all(r.matches == () for r in exact.values())  # never a block-list match
    [md5] = exact["md5"].attestations
    assert md5.authentic and md5.verdict == "authentic" and md5.origin_name == "campaign"
    assert md5.attestation.publisher == "Campaign X press office"
    assert md5.attestation.published_at == PUBLISHED
    assert md5.note.labels == ("election:us-2026", "jurisdiction:us-pa")
    assert md5.note.description == "Candidate's rally photo, as released"
    [pdq] = exact["pdq"].attestations
    # PDQ distance 0 is not authentic: a local face swap can keep it.
    assert pdq.distance == 0 and not pdq.authentic and pdq.verdict == "similar"

    edited = _by_type(platform.node.match(_signals(altered)))
    assert edited["md5"].attestations == () and edited["sha256"].attestations == ()
    [similar] = edited["pdq"].attestations
    assert 0 < similar.distance <= 31 and not similar.authentic
    assert "possibly altered" in similar.explanation()
    assert similar.attestation.record_id == md5.attestation.record_id


def test_a_block_list_match_and_an_attestation_are_reported_apart(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    campaign, platform = pair
    original = make_image(tmp_path / "rally.png", seed=22)
    altered = _altered(original, tmp_path / "deepfake.png")
    _attest(campaign, original)
    # The altered copy circulates as a deepfake: the campaign also lists it on a block list.
    campaign.node.contribute(files=[altered], category="election-deepfake", tlp=Tlp.GREEN)
    platform.node.sync()
    platform.node.load_lists()

    results = _by_type(platform.node.match(_signals(altered)))
    [listed] = results["md5"].matches
    assert listed.category == "election-deepfake"
    assert results["md5"].attestations == ()
    pdq = results["pdq"]
    assert [m.category for m in pdq.matches] == ["election-deepfake"]  # the attestation is not a match
    [attested] = pdq.attestations
    assert attested.verdict == "similar" and attested.distance > 0
    stored = platform.node.store.reader.execute(
        "SELECT count(*) FROM indicators WHERE category = ?", (ATTESTED_CATEGORY,)
    ).fetchone()
    assert stored == (3,)  # md5, sha256 and pdq of the record


def test_match_api_and_cli_carry_attestations(pair: tuple[LiveNode, LiveNode], tmp_path: Path) -> None:
    campaign, platform = pair
    original = make_image(tmp_path / "rally.png", seed=23)
    _attest(campaign, original)
    platform.node.sync()
    platform.node.load_lists()
    assert platform.servers is not None
    client = LocalClient(f"127.0.0.1:{platform.servers.local_port}", timeout=10)
    try:
        response = client.match([], media=original.read_bytes())
    finally:
        client.close()
    results = _by_type([match_result_from_proto(r) for r in response.results])
    [sha] = results["sha256"].attestations
    assert sha.authentic and sha.attestation.where == "https://campaign.example/press/2026-11-02"
    assert sha.note.labels == ("election:us-2026", "jurisdiction:us-pa")

    runner = CliRunner()
    home = str(platform.node.home.root)
    text = runner.invoke(cli, ["match", "--home", home, "--offline", str(original)])
    assert text.exit_code == 1, text.output  # no block-list match: an attestation is not one
    assert "authentic: the md5 equals the attested original's" in text.output
    assert "Campaign X press office" in text.output
    as_json = runner.invoke(cli, ["match", "--home", home, "--offline", "--json", str(original)])
    rows = json.loads(as_json.output)
    verdicts = {row["signal_type"]: [a["verdict"] for a in row["attestations"]] for row in rows}
    assert verdicts == {"md5": ["authentic"], "sha256": ["authentic"], "pdq": ["similar"]}


def test_attest_cli_refuses_hostile_text_before_publishing(
    pair: tuple[LiveNode, LiveNode], tmp_path: Path
) -> None:
    campaign, _ = pair
    original = make_image(tmp_path / "rally.png", seed=24)
    home = str(campaign.node.home.root)
    base = ["attest", "--home", home, str(original), "--published-at", "2026-11-02T09:30:00Z", "--where", "x"]
    runner = CliRunner()
    escape = runner.invoke(cli, [*base, "--publisher", "Campaign\x1b[2J"])
    assert escape.exit_code == 2 and "control or format characters" in escape.output
    label = runner.invoke(cli, [*base, "--publisher", "P", "--label", "color:red"])
    assert label.exit_code == 2 and "a label is entity:" in label.output
    contributed = runner.invoke(
        cli, ["contribute", "--home", home, str(original), "--category", ATTESTED_CATEGORY]
    )
    assert contributed.exit_code == 2 and "reserved" in contributed.output
    assert campaign.node.store.reader.execute("SELECT count(*) FROM indicators").fetchone() == (0,)
    ok = runner.invoke(cli, [*base, "--publisher", "P", "--label", "x-rally", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["signals"] == ["md5", "sha256", "pdq"]


def _signals(path: Path) -> list:  # type: ignore[type-arg]
    hashes = hash_file(path)
    return [s for s in (hashes.md5, hashes.sha256, hashes.pdq) if s is not None]
