"""Media → signals: the first step of the flow (DESIGN §2).

:func:`hash_file` and :func:`hash_bytes` turn a file someone wants to publish or check into its
md5 and sha256 and, when it decodes as an image, its PDQ hash. The digests are streamed, so a
file's size is not bounded by memory; PDQ needs the decoded pixels, so images are bounded by a
pixel limit instead. A file that is not an image is not an error: it simply has no PDQ.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from node.errors import InvalidInput, MediaError
from node.hashing.files import describe_os_error, open_regular_file
from node.hashing.gate import MediaGate
from node.hashing.pdq import PdqInput, pdq_from_input, pdq_input
from node.hashing.video import VideoFrame, distinct_frames, hash_video, hash_video_bytes, looks_like_video
from node.model import PDQ_MIN_QUALITY, ContentType, Signal, SignalType

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
"""Read size for streaming digests: large enough for full disk throughput, small in memory."""

MAX_IMAGE_PIXELS = 50_000_000
"""Largest image (width x height) decoded for PDQ. pdqhash converts to floating-point luma at
full resolution: a 48-megapixel photo peaks near 1.6 GB and 4 s. Larger images still get md5
and sha256. Kept below Pillow's own decompression-bomb limit (~89 M pixels) so this limit, not
Pillow's warning, is what normally refuses an oversized image."""


PILLOW_BLOCK_BYTES = 64 << 20
"""Largest block Pillow allocates for a decoded image (its default is 16 MiB). glibc serves
blocks under 32 MiB from per-thread heaps that it rarely hands back, so a server decoding large
uploads on many threads stayed ~1 GB resident after a media-bomb storm; blocks above that are
mapped and unmapped with each image. Small images still get blocks of their own size."""

NO_VPDQ = ": no vpdq"  # ends the note of a video that yielded no vpdq signal

_VIDEO_SNIFF_BYTES = 512  # enough for every container signature looks_like_video knows

IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")
"""Pillow formats decoded for PDQ: what uploads and hash-sharing partners actually carry.
Other plugins stay closed to untrusted input: EPS runs Ghostscript, and rarely used decoders
(PSD, FITS, SPIDER, ...) are attack surface with no matching benefit. AVIF is used when the
installed Pillow has it."""


@dataclass(frozen=True, slots=True)
class MediaHashes:
    """Every signal taken from one piece of media, and why any is missing."""

    path: str | None
    md5: Signal
    sha256: Signal
    pdq: Signal | None
    pdq_quality: int | None
    content_type: ContentType
    note: str | None
    vpdq: Signal | None = None  # videos: the distinct good frames (node.hashing.video)

    def __post_init__(self) -> None:
        if self.md5.type is not SignalType.MD5 or self.sha256.type is not SignalType.SHA256:
            raise InvalidInput("media hashes need an md5 and a sha256 signal")
        if (self.pdq is None) != (self.pdq_quality is None):
            raise InvalidInput("a pdq hash and its quality come together")
        if self.pdq is not None and self.pdq.type is not SignalType.PDQ:
            raise InvalidInput("the pdq field holds a pdq signal")
        if self.vpdq is not None and (self.vpdq.type is not SignalType.VPDQ or self.pdq is not None):
            raise InvalidInput("the vpdq field holds a vpdq signal, and media is an image or a video")
        expected = _content_type(self.pdq, self.vpdq)
        if self.content_type is not expected:
            raise InvalidInput("content type is image with a pdq hash, video with a vpdq signal, else file")

    @property
    def video_unhashed(self) -> bool:
        """True for a video that yielded no vpdq (no video extra, undecodable, no good frame)."""
        return self.vpdq is None and self.note is not None and NO_VPDQ in self.note

    @property
    def signals(self) -> tuple[Signal, ...]:
        """The signals present: md5, sha256 and, for images, pdq; for videos, vpdq."""
        perceptual = tuple(s for s in (self.pdq, self.vpdq) if s is not None)
        return (self.md5, self.sha256, *perceptual)


def _content_type(pdq: Signal | None, vpdq: Signal | None) -> ContentType:
    if pdq is not None:
        return ContentType.IMAGE
    return ContentType.VIDEO if vpdq is not None else ContentType.FILE


TOO_LARGE_TO_DECODE = "image too large to decode: no pdq"


@dataclass(frozen=True, slots=True)
class _ImageOutcome:
    pdq: Signal | None
    quality: int | None
    notes: tuple[str, ...]
    vpdq: Signal | None = None


def hash_file(path: str | os.PathLike[str], *, max_pixels: int = MAX_IMAGE_PIXELS) -> MediaHashes:
    """Hash the file at ``path``.

    Raises :class:`MediaError` naming the file when it cannot be read at all (missing, a
    directory, not a regular file, permission denied, a read error). The file is opened once,
    so the digests and the PDQ hash describe the same bytes.
    """
    name = os.fspath(path)
    with open_regular_file(name, what="media file", error=MediaError) as stream:
        md5, sha256 = _digest_file(stream, name)
        stream.seek(0)
        head = stream.read(_VIDEO_SNIFF_BYTES)
        stream.seek(0)
        image = _hash_image(stream, max_pixels=max_pixels, gate=None)
    if image.pdq is None and looks_like_video(head):
        image = _hash_video(lambda: hash_video(name, max_pixels=max_pixels))
    return _media_hashes(name, md5, sha256, image)


def media_kind(path: str | os.PathLike[str]) -> ContentType | None:
    """IMAGE or VIDEO when the file's content says so, else None; judged by content, never by
    its name: an image decoder this node allows identifies its header, or the first bytes
    carry a video container's signature. Reads the header only.

    Raises :class:`MediaError` naming the file when it cannot be read at all.
    """
    name = os.fspath(path)
    with open_regular_file(name, what="media file", error=MediaError) as stream:
        try:
            head = stream.read(_VIDEO_SNIFF_BYTES)
        except OSError as exc:
            raise MediaError(f"cannot read media file {name!r}: {describe_os_error(exc)}") from exc
        stream.seek(0)
        opened = _open_image(stream)
    if not isinstance(opened, str):
        opened.close()
        return ContentType.IMAGE
    if opened == TOO_LARGE_TO_DECODE:
        return ContentType.IMAGE  # its header says image (a media bomb is one): never decoded
    return ContentType.VIDEO if looks_like_video(head) else None


def hash_bytes(
    data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS, gate: MediaGate | None = None
) -> MediaHashes:
    """Hash media already in memory (e.g. a Match API request). ``path`` is None.

    With a ``gate``, decoding waits for its pixels in the gate's budget (a video holds the
    whole budget: FFmpeg's frame sizes are not known up front); :class:`Overloaded` when
    the budget does not free up in time.
    """
    md5, sha256 = _digest(data)
    image = _hash_image(io.BytesIO(data), max_pixels=max_pixels, gate=gate)
    if image.pdq is None and looks_like_video(data[:_VIDEO_SNIFF_BYTES]):
        whole = gate.budget_pixels if gate is not None else 0
        image = _hash_video(lambda: _gated_video(gate, whole, data, max_pixels))
    return _media_hashes(None, md5, sha256, image)


def _media_hashes(path: str | None, md5: Signal, sha256: Signal, image: _ImageOutcome) -> MediaHashes:
    return MediaHashes(
        path=path,
        md5=md5,
        sha256=sha256,
        pdq=image.pdq,
        pdq_quality=image.quality,
        content_type=_content_type(image.pdq, image.vpdq),
        note="; ".join(image.notes) or None,
        vpdq=image.vpdq,
    )


# --- vPDQ ----------------------------------------------------------------------------------


def _gated_video(gate: MediaGate | None, pixels: int, data: bytes, max_pixels: int) -> list[VideoFrame]:
    with _held(gate, pixels):
        return hash_video_bytes(data, max_pixels=max_pixels)


def _hash_video(frames_of: Callable[[], list[VideoFrame]]) -> _ImageOutcome:
    """The vpdq signal of a video, or none and a note saying why (a video is still a file)."""
    try:
        frames = distinct_frames(frames_of())
    except MediaError as exc:
        return _ImageOutcome(None, None, (f"{exc}{NO_VPDQ}",))
    if not frames:
        return _ImageOutcome(None, None, (f"no frame of quality {PDQ_MIN_QUALITY} or more{NO_VPDQ}",))
    return _ImageOutcome(None, None, (), Signal.vpdq(frames))


# --- cryptographic digests ---------------------------------------------------------------


def _digest(data: bytes) -> tuple[Signal, Signal]:
    # MD5 identifies content here (lists are published as MD5); it protects nothing.
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    return Signal(SignalType.MD5, md5), Signal(SignalType.SHA256, sha256)


def _digest_file(stream: BinaryIO, name: str) -> tuple[Signal, Signal]:
    """Both digests in one pass over the file, one chunk in memory at a time."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    try:
        for chunk in iter(partial(stream.read, CHUNK_BYTES), b""):
            md5.update(chunk)
            sha256.update(chunk)
    except OSError as exc:
        raise MediaError(f"cannot read media file {name!r}: {describe_os_error(exc)}") from exc
    return Signal(SignalType.MD5, md5.hexdigest()), Signal(SignalType.SHA256, sha256.hexdigest())


# --- PDQ ---------------------------------------------------------------------------------


def _hash_image(stream: BinaryIO, *, max_pixels: int, gate: MediaGate | None) -> _ImageOutcome:
    """PDQ for the image in ``stream``, or no PDQ and a note saying why.

    The size is read from the header and checked before any pixel is decoded: a few KB of
    PNG can declare 49 million pixels. An image over the limit is refused, never decoded at a
    reduced size (that would give a PDQ hash that differs from the reference's).
    """
    opened = _open_image(stream)
    if isinstance(opened, str):
        return _ImageOutcome(None, None, (opened,))
    with opened as image:
        pixels = image.width * image.height
        if pixels > max_pixels:
            return _ImageOutcome(
                None, None, (f"image of {pixels} pixels is over the {max_pixels} pixel limit: no pdq",)
            )
        with _held(gate, pixels):  # the pixels are freed before the budget is given back
            hashed = _decode_and_hash(image)
    if isinstance(hashed, str):
        return _ImageOutcome(None, None, (hashed,))
    pdq, quality, animated = hashed
    notes = ["multi-frame image: pdq of the first frame only"] if animated else []
    if quality < PDQ_MIN_QUALITY:
        # Reported, not refused: whoever publishes or matches decides (PDQ_MIN_QUALITY).
        notes.append(f"pdq quality {quality} is below {PDQ_MIN_QUALITY}: too little detail to match on")
    return _ImageOutcome(pdq, quality, tuple(notes))


@contextmanager
def _held(gate: MediaGate | None, pixels: int) -> Iterator[None]:
    if gate is None:
        yield
        return
    with gate.hold(pixels):
        yield


def _decode_and_hash(image: Image.Image) -> tuple[Signal, int, bool] | str:
    """PDQ, quality and "was animated" of the first frame, or a note; the pixels die here."""
    decoded = _decode_image(image)
    if isinstance(decoded, str):
        return decoded
    pixels, animated = decoded
    pdq, quality = pdq_from_input(pixels)
    return pdq, quality, animated


def _decode_image(image: Image.Image) -> tuple[PdqInput, bool] | str:
    """The first frame as what PDQ hashes (the decoded image is closed, freeing its pixels
    before the hash allocates its own), or a note saying why it cannot be decoded."""
    try:
        # Multi-frame images (GIF, APNG, WebP, TIFF) are hashed by their first frame, as
        # the reference does; asking first keeps the seek this needs before decoding.
        animated = bool(getattr(image, "is_animated", False))
        image.load()
        pixels = pdq_input(image)
    # Media comes from users and partners. Pillow's decoders raise a wide, undocumented
    # range of exceptions on damaged or hostile data (OSError, SyntaxError, ValueError,
    # struct.error, IndexError, ...); each means "cannot be decoded", never a crash.
    except Exception as exc:
        logger.debug("image data could not be decoded: %r", exc)
        return "image data is truncated or corrupt: no pdq"
    finally:
        image.close()
    return pixels, animated


def _open_image(stream: BinaryIO) -> Image.Image | str:
    """The image's header, read by an allowed decoder, or a note saying why there is none."""
    try:
        return Image.open(stream, formats=_decodable_formats())
    except UnidentifiedImageError:
        return "not an image: no pdq"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return TOO_LARGE_TO_DECODE
    except Exception as exc:  # as in _decode_image: hostile headers raise anything
        logger.debug("image header could not be read: %r", exc)
        return "image header is corrupt: no pdq"


@cache
def _decodable_formats() -> tuple[str, ...]:
    """IMAGE_FORMATS that this Pillow build registers (asking Pillow for an unknown one fails).

    Also sets Pillow up, once: see PILLOW_BLOCK_BYTES.
    """
    Image.init()
    Image.core.set_block_size(PILLOW_BLOCK_BYTES)  # type: ignore[attr-defined]
    return tuple(name for name in IMAGE_FORMATS if name in Image.OPEN)
