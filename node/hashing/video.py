"""Video → frame PDQ hashes (vPDQ), with Meta's ``vpdq`` package (DESIGN §9).

vPDQ hashes one frame per second with PDQ. Matching only needs the set of distinct frame
hashes of good quality, so that is what a video signal keeps; timestamps stay local.
``vpdq`` wraps FFmpeg; it is an optional extra of the project (``pip install -e '.[video]'``)
because it needs the FFmpeg libraries from the system (the Makefile's ``system-deps`` installs
them on Debian).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import MediaError, extra_install_hint
from node.model import PDQ_MIN_QUALITY, VPDQ_MAX_FRAMES

SECONDS_PER_HASH = 1.0
"""Meta's default sampling: one PDQ hash per second of video."""

MAX_VIDEO_FRAMES = VPDQ_MAX_FRAMES
"""Distinct frame hashes kept per video (over an hour at one per second). Bounds the size of
one signal in a feed entry (64 hex characters per frame)."""

_SNIFF_BYTES = 64

PROBE_SECONDS = 10.0
"""Longest wait for ffprobe to read a video's frame size (it reads headers, not frames)."""


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One sampled frame: its PDQ hash (hex), quality and time in seconds."""

    pdq: str
    quality: int
    timestamp: float


def looks_like_video(head: bytes) -> bool:
    """True when the first bytes carry a video container's signature.

    Checked before handing a file to FFmpeg: arbitrary uploads should not reach a demuxer
    that has nothing to do with them, and FFmpeg prints to stderr on every failure.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":  # MP4, MOV, 3GP, M4V
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska, WebM
        return True
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return True
    if head.startswith((b"FLV", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):  # FLV, MPEG-PS, MPEG-1/2
        return True
    return len(head) >= 1 and head[0] == 0x47 and _is_transport_stream(head)


def _is_transport_stream(head: bytes) -> bool:
    # MPEG-TS packets are 188 bytes and each starts with the sync byte 0x47; one is all we see.
    return head[0] == 0x47 and (len(head) < 189 or head[188] == 0x47)


def hash_video(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> list[VideoFrame]:
    """Frame hashes of the video at ``path`` (one per second). MediaError if it cannot be read.

    With ``max_pixels``, the frame size is read first (:func:`frame_pixels`) and a video whose
    frames are larger is refused before FFmpeg decodes a single one, as images are.
    """
    vpdq = _vpdq()
    if max_pixels is not None:
        pixels = frame_pixels(path)
        if pixels > max_pixels:
            raise MediaError(f"video frames of {pixels} pixels are over the {max_pixels} pixel limit")
    try:
        features = vpdq.computeHash(str(path), seconds_per_hash=SECONDS_PER_HASH)
    except ValueError as exc:  # vpdq's own "doesn't exist"
        raise MediaError(f"cannot read video {os.fspath(path)!r}: no such file") from exc
    except Exception as exc:  # vpdq raises a bare Exception for undecodable input
        raise MediaError(f"cannot decode video {os.fspath(path)!r}") from exc
    return [VideoFrame(pdq=f.hex, quality=int(f.quality), timestamp=float(f.timestamp)) for f in features]


def hash_video_bytes(data: bytes, *, max_pixels: int | None = None) -> list[VideoFrame]:
    """Frame hashes of video bytes held in memory (FFmpeg needs a file: a private temp file)."""
    with tempfile.TemporaryDirectory(prefix="accord-video-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        return hash_video(path, max_pixels=max_pixels)


def frame_pixels(path: str | os.PathLike[str]) -> int:
    """Width x height of the largest video stream at ``path``, as FFmpeg's own probe reads it.

    vpdq offers no way to ask, so FFmpeg's ``ffprobe`` (installed with the FFmpeg the video
    extra needs) reads the codec parameters. Without it the video is refused, not decoded blind.
    """
    probe = shutil.which("ffprobe")
    if probe is None:
        raise MediaError("video hashing needs FFmpeg's ffprobe to check frame sizes before decoding")
    command = [probe, "-v", "error", "-select_streams", "v", "-show_entries", "stream=width,height"]
    try:
        result = subprocess.run(  # noqa: S603 - a fixed program and arguments, the path last
            [*command, "-of", "csv=p=0", os.fspath(path)],
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"reading the video's frame size took over {PROBE_SECONDS:g} s") from exc
    sizes = [_size(line) for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not sizes or None in sizes:
        raise MediaError(f"cannot decode video {os.fspath(path)!r}: FFmpeg reads no frame size in it")
    return max(size for size in sizes if size is not None)


def _size(line: str) -> int | None:
    width, _, height = line.strip().strip(",").partition(",")
    return int(width) * int(height) if width.isdigit() and height.isdigit() else None


def distinct_frames(frames: list[VideoFrame], *, min_quality: int = PDQ_MIN_QUALITY) -> list[str]:
    """The distinct frame hashes of good quality, sorted: what a video signal lists.

    Meta's reference matcher filters frames below quality 50 and deduplicates identical frame
    hashes before counting, so the signal keeps exactly that set (capped, see MAX_VIDEO_FRAMES).
    """
    good = sorted({f.pdq for f in frames if f.quality >= min_quality})
    return good[:MAX_VIDEO_FRAMES]


def _vpdq() -> Any:
    try:
        import vpdq  # noqa: PLC0415 - optional extra, imported where it is needed
    except ImportError as exc:
        raise MediaError(
            f"video hashing needs FFmpeg and the vpdq library; {extra_install_hint('video')}"
            " ('make system-deps' installs FFmpeg on Debian)"
        ) from exc
    return vpdq
