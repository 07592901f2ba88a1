"""vPDQ video hashing with Meta's vpdq package on generated videos (FFmpeg required)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from node.errors import MediaError
from node.hashing import hash_bytes
from node.hashing.video import (
    MAX_VIDEO_FRAMES,
    VideoFrame,
    distinct_frames,
    hash_video,
    hash_video_bytes,
    looks_like_video,
)
from tests.support.media import make_image, make_video, make_video_variant

try:
    import vpdq  # noqa: F401
except ImportError:  # pragma: no cover - depends on the machine
    if os.environ.get("CI"):
        raise  # CI installs the video extra (make system-deps); a skip there would hide its absence
    pytest.skip("the video extra (vpdq + FFmpeg) is not installed", allow_module_level=True)
if shutil.which("ffmpeg") is None:  # pragma: no cover
    pytest.skip("ffmpeg is needed to generate test videos", allow_module_level=True)


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    original = make_video(root / "original.mp4", seed=1, seconds=6)
    return {
        "original": original,
        "variant": make_video_variant(original, root / "variant.mp4", scale=0.5, crf=32),
        "unrelated": make_video(root / "unrelated.mp4", seed=2, seconds=6),
    }


def test_one_distinct_good_frame_per_second(videos: dict[str, Path]) -> None:
    frames = hash_video(videos["original"])
    assert [round(f.timestamp) for f in frames] == [0, 1, 2, 3, 4, 5]
    assert all(f.quality >= 80 for f in frames)
    assert len(distinct_frames(frames)) == 6


def test_a_reencoded_copy_keeps_its_frames_within_pdq_threshold(videos: dict[str, Path]) -> None:
    original = distinct_frames(hash_video(videos["original"]))
    variant = distinct_frames(hash_video(videos["variant"]))
    unrelated = distinct_frames(hash_video(videos["unrelated"]))
    assert all(min(distance(a, b) for b in variant) <= 31 for a in original)
    assert all(min(distance(a, b) for b in unrelated) > 60 for a in original)


def test_bytes_hash_like_the_file(videos: dict[str, Path]) -> None:
    assert hash_video_bytes(videos["original"].read_bytes()) == hash_video(videos["original"])


def test_undecodable_and_missing_videos_are_clear_errors(tmp_path: Path, videos: dict[str, Path]) -> None:
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(videos["original"].read_bytes()[:3000])
    with pytest.raises(MediaError, match="cannot decode video"):
        hash_video(truncated)
    with pytest.raises(MediaError, match="no such file"):
        hash_video(tmp_path / "missing.mp4")


def test_container_sniffing(tmp_path: Path, videos: dict[str, Path]) -> None:
    assert looks_like_video(videos["original"].read_bytes()[:64])
    assert not looks_like_video(make_image(tmp_path / "a.png", seed=3).read_bytes()[:64])
    assert not looks_like_video(b"PK\x03\x04 a zip archive")
    assert looks_like_video(b"\x1a\x45\xdf\xa3" + bytes(60))  # Matroska / WebM
    assert looks_like_video(b"RIFF\x00\x00\x00\x00AVI LIST")


def test_distinct_frames_filters_quality_dedupes_sorts_and_caps() -> None:
    frames = [VideoFrame("b" * 64, 90, 0.0), VideoFrame("a" * 64, 90, 1.0), VideoFrame("b" * 64, 90, 2.0)]
    frames.append(VideoFrame("c" * 64, 49, 3.0))
    assert distinct_frames(frames) == ["a" * 64, "b" * 64]
    many = [VideoFrame(f"{n:064x}", 100, float(n)) for n in range(MAX_VIDEO_FRAMES + 10)]
    assert len(distinct_frames(many)) == MAX_VIDEO_FRAMES


def test_a_video_whose_frames_are_over_the_pixel_limit_is_not_decoded(tmp_path: Path) -> None:
    # Issue 13: as for images, the frame size is read first (FFmpeg's probe) and checked.
    video = make_video(tmp_path / "wide.mp4", seed=4, seconds=2, size=(1600, 1200)).read_bytes()
    refused = hash_bytes(video, max_pixels=1_000_000)
    assert refused.vpdq is None
    assert refused.note == "video frames of 1920000 pixels are over the 1000000 pixel limit: no vpdq"
    assert hash_bytes(video, max_pixels=2_000_000).vpdq is not None
