"""Deterministic test media: real images generated from a seed, no network, no fixtures on disk.

Every test layer that needs media (hashing, matching, the Match API, the three-node integration
tests) builds it here, so "the same image" means the same pixels everywhere. Images are
structured (smooth colour fields, overlapping shapes, a little blur) rather than noise, because
PDQ is built for natural images: noise gives a low quality score and unstable bits.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

StrPath = str | os.PathLike[str]

DEFAULT_SIZE = (640, 480)


def make_image(path: StrPath, *, seed: int, size: tuple[int, int] = DEFAULT_SIZE, fmt: str = "PNG") -> Path:
    """Write a natural-looking image (PDQ quality >= 80) determined entirely by ``seed``.

    Different seeds give unrelated images: their PDQ hashes are about 128 bits apart.
    ``fmt`` is a Pillow format name ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF").
    """
    image = render_image(seed=seed, size=size)
    return _save(image, path, fmt=fmt)


def render_image(*, seed: int, size: tuple[int, int] = DEFAULT_SIZE) -> Image.Image:
    """The in-memory RGB image behind :func:`make_image`."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(_colour_field(rng, size), mode="RGB")
    _draw_shapes(ImageDraw.Draw(image), rng, size)
    # A light blur stands in for a camera's optics: edges stay strong, but there is no
    # pixel-level aliasing for a resize or JPEG round-trip to flip bits on.
    return image.filter(ImageFilter.GaussianBlur(radius=1.5))


def make_variant(src: StrPath, dst: StrPath, *, scale: float = 0.5, quality: int = 70) -> Path:
    """Resize ``src`` by ``scale`` and re-encode it as JPEG at ``quality``.

    This is the everyday transformation a re-upload goes through; the variant stays within
    PDQ distance 31 of the source for images from :func:`make_image`.
    """
    with Image.open(src) as original:
        rgb = original.convert("RGB")
    width, height = rgb.size
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = rgb.resize(new_size, Image.Resampling.LANCZOS)
    return _save(resized, dst, fmt="JPEG", quality=quality)


def make_flat_image(path: StrPath, *, size: tuple[int, int] = (256, 256), fmt: str = "PNG") -> Path:
    """Write a near-uniform grey image whose PDQ quality is below 50 (too little detail)."""
    rng = np.random.default_rng(0)
    noise = rng.integers(-1, 2, size=(size[1], size[0]), dtype=np.int16)
    pixels = np.clip(128 + noise, 0, 255).astype(np.uint8)
    return _save(Image.fromarray(pixels, mode="L").convert("RGB"), path, fmt=fmt)


def make_unrelated(path: StrPath, *, seed: int, fmt: str = "PNG") -> Path:
    """An image unrelated to ``make_image(seed=seed)`` (another seed and another layout)."""
    return make_image(path, seed=seed + 1_000_003, size=(512, 512), fmt=fmt)


def make_non_image(path: StrPath, *, size: int = 4096, seed: int = 0) -> Path:
    """Write bytes that no image decoder recognises (a text header, then random bytes)."""
    rng = np.random.default_rng(seed)
    body = b"Accord test file, not an image\n" + rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    target = Path(path)
    target.write_bytes(body)
    return target


def make_truncated(src: StrPath, dst: StrPath, *, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` share of ``src``: a recognisable header with cut-off image data."""
    data = Path(src).read_bytes()
    target = Path(dst)
    target.write_bytes(data[: max(1, int(len(data) * keep))])
    return target


def pdq_distance(a: str, b: str) -> int:
    """Hamming distance between two 64-hex-character PDQ values."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


# --- drawing -----------------------------------------------------------------------------


def _colour_field(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A smooth background: per channel, a few low-frequency waves with random phase."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for _ in range(3):
        field = np.zeros((height, width))
        for _ in range(3):
            fx, fy = rng.uniform(0.5, 3.0, size=2) * 2 * np.pi
            phase = rng.uniform(0, 2 * np.pi)
            field += np.sin(fx * x / width + fy * y / height + phase)
        channels.append(field)
    stacked = np.stack(channels, axis=-1)
    scaled = (stacked - stacked.min()) / max(float(np.ptp(stacked)), 1e-9)
    pixels: np.ndarray = (40 + 175 * scaled).astype(np.uint8)
    return pixels


def _draw_shapes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int]) -> None:
    """Overlapping ellipses, boxes and polygons: the strong edges PDQ's quality score rewards."""
    width, height = size
    for _ in range(int(rng.integers(10, 16))):
        kind = int(rng.integers(0, 3))
        fill = tuple(int(c) for c in rng.integers(0, 256, size=3))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.25) * width, rng.uniform(0.05, 0.25) * height
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        if kind == 0:
            draw.ellipse(box, fill=fill)
        elif kind == 1:
            draw.rectangle(box, fill=fill)
        else:
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=int(rng.integers(3, 7))))
            points = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]
            draw.polygon([(float(px), float(py)) for px, py in points], fill=fill)


def _save(image: Image.Image, path: StrPath, *, fmt: str, quality: int = 92) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)  # data-set trees in bulk tests
    if fmt.upper() == "JPEG":
        image.save(target, format="JPEG", quality=quality)
    else:
        image.save(target, format=fmt.upper())
    return target


def make_video(path: StrPath, *, seed: int, seconds: int = 8, size: tuple[int, int] = (320, 240)) -> Path:
    """Write an H.264 MP4 with one distinct scene per second (needs the ffmpeg program).

    Each second shows a different generated image, so vPDQ (one hash per second) sees
    ``seconds`` distinct, high-quality frames; the same seed gives the same video.
    """
    import subprocess
    import tempfile

    target = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        for second in range(seconds):
            render_image(seed=seed * 1000 + second, size=size).save(Path(tmp) / f"f{second:04d}.png")
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-framerate",
                "1",
                "-i",
                f"{tmp}/f%04d.png",
                "-c:v",
                "libx264",
                "-r",
                "10",
                "-pix_fmt",
                "yuv420p",
                str(target),
            ],
            check=True,
        )
    return target


def make_video_variant(src: StrPath, dst: StrPath, *, scale: float = 0.5, crf: int = 32) -> Path:
    """Re-encode ``src`` smaller and at lower quality, as a re-upload would be."""
    import subprocess

    target = Path(dst)
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(src),
            "-vf",
            f"scale=iw*{scale}:ih*{scale}",
            "-c:v",
            "libx264",
            "-crf",
            str(crf),
            "-pix_fmt",
            "yuv420p",
            str(target),
        ],
        check=True,
    )
    return target


def require_video_tools() -> None:
    """Skip the calling test module unless vpdq and ffmpeg are installed; in CI, fail instead.

    CI installs the video extra (``make system-deps``): a skip there would hide its absence.
    """
    import shutil

    import pytest

    try:
        import vpdq  # noqa: F401 - optional extra
    except ImportError:  # pragma: no cover - depends on the machine
        if os.environ.get("CI"):
            raise
        pytest.skip("the video extra (vpdq + FFmpeg) is not installed", allow_module_level=True)
    if shutil.which("ffmpeg") is None:  # pragma: no cover
        if os.environ.get("CI"):
            raise RuntimeError("CI needs the ffmpeg program to generate test videos")
        pytest.skip("ffmpeg is needed to generate test videos", allow_module_level=True)


def png_bomb(*, width: int, height: int) -> bytes:
    """A valid RGB PNG of ``width`` x ``height`` pixels that is only kilobytes long.

    Rows are streamed through zlib, so a 100-megapixel bomb costs the test no more than one row
    of memory. The picture (four quadrants of different grey) has enough detail for PDQ.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    half = width // 2
    rows = [
        b"\x00" + bytes([a]) * 3 * half + bytes([b]) * 3 * (width - half) for a, b in ((30, 220), (200, 60))
    ]
    packer = zlib.compressobj(9)
    data = (
        b"".join(packer.compress(rows[0 if y < height // 2 else 1]) for y in range(height)) + packer.flush()
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
