"""Video end to end: vPDQ hashing, publishing, matching, revocation and sync on generated videos.

Real MP4 files from tests/support/media.py, hashed by Meta's vpdq over FFmpeg, published as
signed STIX entries, and matched by the frame-share rule through the CLI, the Local API's media
bytes and a second node that pulled the feed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.model import Tlp
from node.rpc.client import LocalClient
from node.rpc.pb import local_pb2
from tests.integration.test_two_nodes import federation  # noqa: F401 - the two-node fixture
from tests.support.media import make_video, make_video_variant, require_video_tools
from tests.support.processes import ServeProcess, accord, accord_json, wait_for

require_video_tools()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    original = make_video(root / "original.mp4", seed=21, seconds=6)
    return {
        "original": original,
        "variant": make_video_variant(original, root / "variant.mp4", scale=0.5, crf=32),
        "unrelated": make_video(root / "unrelated.mp4", seed=22, seconds=6),
    }


def vpdq_matches(home: Path, video: Path, *extra: str) -> list[dict[str, object]]:
    results = accord_json("match", "--home", home, *extra, video)
    [vpdq] = [r for r in results if r["signal_type"] == "vpdq"]
    return vpdq["matches"]  # type: ignore[no-any-return]


def test_hash_contribute_match_and_revoke_a_video(tmp_path: Path, videos: dict[str, Path]) -> None:
    home = tmp_path / "ngo"
    assert accord("init", "--home", home, "--name", "NGO").returncode == 0
    [row] = accord_json("hash", "--json", videos["original"])
    assert row["content_type"] == "video" and row["vpdq_frames"] == 6
    assert row["vpdq"].startswith("vpdq:") and len(row["vpdq"]) == 5 + 6 * 64
    assert row["pdq"] is None

    published = accord("contribute", "--home", home, videos["original"], "--category", "tvec")
    assert published.returncode == 0 and "3 added" in published.stdout, published  # md5, sha256, vpdq

    [hit] = vpdq_matches(home, videos["variant"], "--offline")
    assert (hit["category"], hit["signal_type"], hit["content_type"]) == ("tvec", "vpdq", "video")
    assert hit["query_match_percent"] == 100.0 and hit["compared_match_percent"] == 100.0
    assert 0 <= hit["distance"] <= 31  # type: ignore[operator]
    assert accord("match", "--home", home, "--offline", videos["unrelated"]).returncode == 1
    table = accord("match", "--home", home, "--offline", videos["variant"])
    assert table.returncode == 0 and "100%/100%" in table.stdout

    assert accord("revoke", "--home", home, row["vpdq"]).returncode == 0
    assert vpdq_matches(home, videos["variant"], "--offline") == []


def test_a_synced_video_matches_on_the_partner_and_stops_after_revocation(
    federation: dict[str, ServeProcess],  # noqa: F811 - the imported fixture
    videos: dict[str, Path],
) -> None:
    ngo, platform = federation["ngo"], federation["platform"]
    contributed = accord("contribute", "--home", ngo.home, videos["original"], "--category", "csam")
    assert contributed.returncode == 0, contributed.stderr

    client = LocalClient(f"127.0.0.1:{platform.local}", timeout=30)
    media = videos["variant"].read_bytes()

    def video_hits() -> list[local_pb2.Match]:
        response = client.match([], media=media)
        return [m for r in response.results for m in r.matches if m.signal_type == "vpdq"]

    # The platform pulls the entry; the re-encoded copy, sent as media bytes, then matches.
    wait_for(lambda: bool(video_hits()), timeout=60, interval=0.5)
    [hit] = video_hits()
    assert hit.origin_name == "ngo" and hit.HasField("query_match_percent")
    assert hit.query_match_percent == 100.0 and hit.compared_match_percent == 100.0
    unrelated = client.match([], media=videos["unrelated"].read_bytes())
    assert not any(m.signal_type == "vpdq" for r in unrelated.results for m in r.matches)

    [row] = accord_json("hash", "--json", videos["original"])
    assert accord("revoke", "--home", ngo.home, row["vpdq"]).returncode == 0
    wait_for(lambda: not video_hits(), timeout=60, interval=0.5)
    client.close()
    assert ngo.stop() == 0 and platform.stop() == 0
    frame = row["vpdq"].split(":")[1][:64]
    for log in (ngo.log, platform.log):
        assert frame not in log.read_text()  # video hashes stay out of INFO logs


def test_an_undecodable_video_is_refused_by_name_and_its_digests_still_published(
    tmp_path: Path, videos: dict[str, Path]
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(videos["original"].read_bytes()[:3000])  # a real header, cut short
    init_home(tmp_path / "home", name="NGO")
    node = AccordNode.open(tmp_path / "home")
    try:
        assert node.hash_file(broken).video_unhashed
        report = node.contribute(files=[broken], category="tvec", tlp=Tlp.GREEN)
        [refusal] = report.refused
        assert "cannot decode video" in refusal.reason and "md5 and sha256 shared" in refusal.reason
        assert report.publish is not None and report.publish.added == 2
        assert not node.hash_file(videos["original"]).video_unhashed
    finally:
        node.close()
