"""A video attestation keeps frame times (issue 15): a partner matching a clip with one altered
second is told which segments match the attested original and which do not."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from node.hashing import hash_file
from tests.support.media import render_image, require_video_tools
from tests.support.nodes import LiveNode

require_video_tools()

_FFMPEG = ("ffmpeg", "-loglevel", "error", "-y", "-framerate", "1", "-i")


def _video(path: Path, seeds: list[int]) -> Path:
    """An H.264 MP4 showing one generated scene per second, in the order of ``seeds``."""
    with tempfile.TemporaryDirectory() as tmp:
        for second, seed in enumerate(seeds):
            render_image(seed=seed, size=(320, 240)).save(Path(tmp) / f"f{second:04d}.png")
        subprocess.run(
            [*_FFMPEG, f"{tmp}/f%04d.png", "-c:v", "libx264", "-r", "10", "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )
    return path


def test_an_altered_second_is_named_in_a_video_attestation(tmp_path: Path) -> None:
    scenes = [7100 + n for n in range(10)]
    original = _video(tmp_path / "speech.mp4", scenes)
    altered = _video(tmp_path / "speech-edited.mp4", [*scenes[:6], 9999, *scenes[7:]])  # second 6 replaced
    newsroom = LiveNode.start(tmp_path / "newsroom", "Newsroom")
    platform = LiveNode.start(tmp_path / "platform", "Platform")
    try:
        newsroom.pin(platform, "platform")
        platform.pin(newsroom, "newsroom", endpoint=newsroom.address)
        report = newsroom.node.attest(
            original,
            publisher="Newsroom video desk",
            published_at=datetime(2026, 11, 1, 18, 0, tzinfo=UTC),
            where="https://newsroom.example/speech",
        )
        assert len(report.record.frames) == 10
        platform.node.sync()
        platform.node.load_lists()

        vpdq = hash_file(altered).vpdq
        assert vpdq is not None
        [result] = platform.node.match([vpdq])
        assert result.matches == ()
        [attested] = result.attestations
        assert attested.verdict == "similar" and not attested.authentic
        spans = [(s.start, s.end, s.matched) for s in attested.segments]
        assert spans == [(0.0, 6.0, True), (6.0, 7.0, False), (7.0, 10.0, True)]
    finally:
        platform.stop()
        newsroom.stop()
