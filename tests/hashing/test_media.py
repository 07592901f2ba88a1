"""hash_file / hash_bytes on real generated media: what each file yields, and why not more."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from node.errors import InvalidInput, MediaError
from node.hashing import MediaHashes, hash_bytes, hash_file, pdq_from_image
from node.hashing.media import CHUNK_BYTES
from node.model import PDQ_DEFAULT_THRESHOLD, PDQ_MIN_QUALITY, ContentType, Signal, SignalType
from tests.support.media import (
    make_flat_image,
    make_image,
    make_non_image,
    make_truncated,
    make_unrelated,
    make_variant,
    pdq_distance,
    render_image,
)


def _assert_digests(hashes: MediaHashes, path: Path) -> None:
    data = path.read_bytes()
    assert hashes.md5 == Signal(SignalType.MD5, hashlib.md5(data).hexdigest())
    assert hashes.sha256 == Signal(SignalType.SHA256, hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_image_file_has_all_three_signals(tmp_path: Path, fmt: str) -> None:
    path = make_image(tmp_path / f"image.{fmt.lower()}", seed=1, fmt=fmt)
    hashes = hash_file(path)
    _assert_digests(hashes, path)
    assert hashes.pdq is not None
    assert hashes.pdq.type is SignalType.PDQ
    assert hashes.pdq_quality is not None
    assert hashes.pdq_quality >= 80
    assert hashes.content_type is ContentType.IMAGE
    assert hashes.note is None
    assert hashes.path == str(path)
    assert hashes.signals == (hashes.md5, hashes.sha256, hashes.pdq)


def test_path_is_kept_as_given(tmp_path: Path) -> None:
    path = make_image(tmp_path / "image.png", seed=1)
    assert hash_file(str(path)).path == str(path)
    assert hash_file(path) == hash_file(str(path))


def test_resized_and_recompressed_copy_is_within_threshold(tmp_path: Path) -> None:
    source = make_image(tmp_path / "source.png", seed=2)
    variant = make_variant(source, tmp_path / "variant.jpg", scale=0.5, quality=70)
    original, copy = hash_file(source), hash_file(variant)
    assert original.pdq is not None
    assert copy.pdq is not None
    assert original.md5 != copy.md5
    assert pdq_distance(original.pdq.value, copy.pdq.value) <= PDQ_DEFAULT_THRESHOLD


def test_unrelated_image_is_far_beyond_threshold(tmp_path: Path) -> None:
    first = hash_file(make_image(tmp_path / "a.png", seed=2)).pdq
    second = hash_file(make_unrelated(tmp_path / "b.png", seed=2)).pdq
    assert first is not None
    assert second is not None
    # Unrelated PDQ hashes differ in about half of their 256 bits.
    assert pdq_distance(first.value, second.value) > 80


def test_flat_image_reports_low_quality_without_refusing(tmp_path: Path) -> None:
    hashes = hash_file(make_flat_image(tmp_path / "flat.png"))
    assert hashes.pdq is not None
    assert hashes.pdq_quality is not None
    assert hashes.pdq_quality < PDQ_MIN_QUALITY
    assert hashes.content_type is ContentType.IMAGE
    assert hashes.note is not None
    assert "quality" in hashes.note


def test_non_image_file_has_digests_and_no_pdq(tmp_path: Path) -> None:
    path = make_non_image(tmp_path / "notes.txt")
    hashes = hash_file(path)
    _assert_digests(hashes, path)
    assert hashes.pdq is None
    assert hashes.pdq_quality is None
    assert hashes.content_type is ContentType.FILE
    assert hashes.note == "not an image: no pdq"
    assert hashes.signals == (hashes.md5, hashes.sha256)


def test_empty_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    hashes = hash_file(path)
    assert hashes.md5.value == "d41d8cd98f00b204e9800998ecf8427e"
    assert hashes.pdq is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_truncated_image_has_no_pdq_and_says_why(tmp_path: Path, fmt: str) -> None:
    source = make_image(tmp_path / f"whole.{fmt.lower()}", seed=3, fmt=fmt)
    path = make_truncated(source, tmp_path / f"cut.{fmt.lower()}", keep=0.4)
    hashes = hash_file(path)
    _assert_digests(hashes, path)
    assert hashes.pdq is None
    assert hashes.content_type is ContentType.FILE
    assert hashes.note is not None
    assert "no pdq" in hashes.note


def test_corrupt_image_header_has_no_pdq(tmp_path: Path) -> None:
    data = bytearray(make_image(tmp_path / "whole.png", seed=3).read_bytes())
    data[16:24] = b"\xff" * 8  # width and height of the IHDR chunk
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    hashes = hash_file(path)
    assert hashes.pdq is None
    assert hashes.note is not None


def test_formats_outside_the_allowlist_are_not_decoded(tmp_path: Path) -> None:
    # A valid image in a format Pillow knows (PPM) but uploads do not carry.
    path = tmp_path / "image.ppm"
    render_image(seed=1, size=(64, 64)).save(path, format="PPM")
    hashes = hash_file(path)
    assert hashes.pdq is None
    assert hashes.note == "not an image: no pdq"


def test_postscript_is_never_handed_to_ghostscript(tmp_path: Path) -> None:
    path = tmp_path / "doc.eps"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    assert hash_file(path).note == "not an image: no pdq"


@pytest.mark.parametrize(
    ("mode", "fmt"), [("CMYK", "JPEG"), ("L", "JPEG"), ("LA", "PNG"), ("P", "GIF"), ("I;16", "PNG")]
)
def test_other_colour_modes_are_hashed_as_seen(tmp_path: Path, mode: str, fmt: str) -> None:
    source = render_image(seed=13)
    converted = source.convert("L").convert(mode) if mode == "I;16" else source.convert(mode)
    path = tmp_path / f"image.{fmt.lower()}"
    converted.save(path, format=fmt)
    reference = source.convert("L") if mode in ("L", "LA", "I;16") else source
    expected, _ = pdq_from_image(reference)
    hashes = hash_file(path)
    assert hashes.pdq is not None
    assert pdq_distance(hashes.pdq.value, expected.value) <= PDQ_DEFAULT_THRESHOLD


def test_image_over_the_pixel_limit_keeps_its_digests(tmp_path: Path) -> None:
    path = make_image(tmp_path / "big.png", seed=1, size=(200, 100))
    hashes = hash_file(path, max_pixels=10_000)
    _assert_digests(hashes, path)
    assert hashes.pdq is None
    assert hashes.note == "image of 20000 pixels is over the 10000 pixel limit: no pdq"


def test_decompression_bomb_is_refused_by_pillow_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's own limit still applies when a caller raises max_pixels above it.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    path = make_image(tmp_path / "bomb.png", seed=1, size=(100, 100))
    hashes = hash_file(path, max_pixels=10**9)
    assert hashes.pdq is None
    assert hashes.note == "image too large to decode: no pdq"


def test_animated_image_is_hashed_by_its_first_frame(tmp_path: Path) -> None:
    frames = [render_image(seed=seed, size=(160, 120)) for seed in (8, 9)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    first = tmp_path / "first.gif"
    frames[0].save(first, format="GIF")
    hashes = hash_file(path)
    assert hashes.pdq == hash_file(first).pdq
    assert hashes.note == "multi-frame image: pdq of the first frame only"


def test_exif_orientation_is_not_applied(tmp_path: Path) -> None:
    # The reference hashes pixels as stored; a rotation tag does not change the PDQ value.
    image = render_image(seed=10)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    plain, tagged = tmp_path / "plain.jpg", tmp_path / "tagged.jpg"
    image.save(plain, format="JPEG", quality=95)
    image.save(tagged, format="JPEG", quality=95, exif=exif)
    assert hash_file(plain).pdq == hash_file(tagged).pdq


def test_large_file_is_streamed_in_chunks(tmp_path: Path) -> None:
    path = make_non_image(tmp_path / "large.bin", size=3 * CHUNK_BYTES + 12345)
    _assert_digests(hash_file(path), path)


@pytest.mark.parametrize("kind", ["jpeg", "non-image", "truncated"])
def test_hash_bytes_equals_hash_file(tmp_path: Path, kind: str) -> None:
    image = make_image(tmp_path / "x.jpg", seed=4, fmt="JPEG")
    paths = {
        "jpeg": image,
        "non-image": make_non_image(tmp_path / "x.bin"),
        "truncated": make_truncated(image, tmp_path / "cut.jpg"),
    }
    from_file = hash_file(paths[kind])
    from_bytes = hash_bytes(paths[kind].read_bytes())
    assert from_bytes.path is None
    assert from_bytes == MediaHashes(
        None,
        from_file.md5,
        from_file.sha256,
        from_file.pdq,
        from_file.pdq_quality,
        from_file.content_type,
        from_file.note,
    )


# --- files that cannot be read at all ----------------------------------------------------


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.png"
    with pytest.raises(MediaError, match=r"nowhere\.png.*no such file"):
        hash_file(path)


def test_dangling_symlink_is_missing(tmp_path: Path) -> None:
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(MediaError, match="no such file"):
        hash_file(link)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="is a directory"):
        hash_file(tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match=r"pipe.*not a regular file"):
        hash_file(fifo)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_unreadable_file_is_permission_denied(tmp_path: Path) -> None:
    path = make_image(tmp_path / "secret.png", seed=1)
    path.chmod(0)
    with pytest.raises(MediaError, match=r"secret\.png.*permission denied"):
        hash_file(path)


def test_permission_denied_is_reported_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_image(tmp_path / "secret.png", seed=1)

    def refuse(name: str, flags: int) -> int:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)

    monkeypatch.setattr("node.hashing.files.os.open", refuse)
    with pytest.raises(MediaError, match=r"secret\.png.*permission denied"):
        hash_file(path)


def test_read_error_midway_is_a_media_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FailingDisk(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr("node.hashing.media.open_regular_file", lambda *_, **__: FailingDisk(b"x"))
    with pytest.raises(MediaError, match=r"bad\.png.*unreadable \(Input/output error\)"):
        hash_file(tmp_path / "bad.png")


def test_media_error_is_an_invalid_input() -> None:
    # The CLI and rpc layers map InvalidInput once; MediaError rides on that mapping.
    assert issubclass(MediaError, InvalidInput)


# --- the value itself --------------------------------------------------------------------


def test_media_hashes_refuse_inconsistent_fields() -> None:
    md5 = Signal(SignalType.MD5, "0" * 32)
    sha256 = Signal(SignalType.SHA256, "0" * 64)
    pdq = Signal(SignalType.PDQ, "f" * 64)
    with pytest.raises(InvalidInput, match="quality"):
        MediaHashes(None, md5, sha256, pdq, None, ContentType.IMAGE, None)
    with pytest.raises(InvalidInput, match="content type"):
        MediaHashes(None, md5, sha256, pdq, 90, ContentType.FILE, None)
    with pytest.raises(InvalidInput, match="pdq signal"):
        MediaHashes(None, md5, sha256, md5, 90, ContentType.IMAGE, None)
    with pytest.raises(InvalidInput, match="md5"):
        MediaHashes(None, sha256, sha256, None, None, ContentType.FILE, None)
