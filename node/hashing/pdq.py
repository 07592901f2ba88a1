"""PDQ: a decoded image → a ``pdq`` signal and its quality, bit-identical to Meta's reference.

This is the only place the node computes perceptual hashes. ``media`` decodes files and calls
:func:`pdq_from_image` (or :func:`float_luma` then :func:`pdq_from_luma`, which lets it free the
decoded image first); everything downstream (STIX, match lists, partners) only ever sees the
64-hex-character value produced by :func:`pdq_hex_from_bits`.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from functools import cache

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from node.model import Signal, SignalType

log = logging.getLogger(__name__)

PDQ_BITS = 256

LUMA_BAND_ROWS = 64
"""Rows converted to RGB at a time on the way to luma: keeps the colour copy a few MB, not the
whole image (Pillow holds RGB as 4 bytes a pixel)."""

# Modes that must pass through RGBA on their way to RGB: palette images may carry
# transparency as a byte string, which Pillow only resolves when converting through RGBA.
_VIA_RGBA = frozenset({"P", "PA"})

# pdqhash's compiled C++ entry point that hashes a float luma buffer (pdqhashing.cpp). Its
# Python ``compute`` builds the luma itself through float64 temporaries (~30 bytes a pixel:
# 1.5 GB for a 7000 x 7000 upload); calling the same C++ with a luma built a band at a time
# costs 8 bytes a pixel and runs the same code, so the hash is the same bits.
_LUMA_SYMBOL = "_ZN8facebook3pdq7hashing23pdqHash256FromFloatLumaEPfS2_iiPA64_fS4_PA16_fRNS1_7Hash256ERi"
_FloatPtr = ctypes.POINTER(ctypes.c_float)


PdqInput = npt.NDArray[np.float32] | npt.NDArray[np.uint8]
"""What :func:`pdq_from_input` hashes: a float luma (H x W) or, on the fallback path, RGB (H x W x 3)."""


class _Hash256(ctypes.Structure):
    _fields_ = [("w", ctypes.c_uint16 * 16)]


def pdq_from_image(image: Image.Image) -> tuple[Signal, int]:
    """The PDQ hash of ``image`` and its quality (0-100); the caller decides what quality to accept.

    The image is hashed as decoded: no EXIF rotation and no pre-resizing, as in
    python-threatexchange (``signal_type/pdq/pdq_hasher.py``) and therefore HMA. Alpha is
    dropped, not composited: pdqhash reads only the first three channels of an RGBA array, so
    dropping it here gives the reference's result for RGBA input.
    """
    return pdq_from_input(pdq_input(image))


def pdq_input(image: Image.Image) -> PdqInput:
    """What :func:`pdq_from_input` hashes: the float luma (or, without the native entry point,
    the RGB array). The caller may close ``image`` once it has this, before hashing."""
    return float_luma(image) if _native_hasher() is not None else _rgb_array(image)


def pdq_from_input(data: PdqInput) -> tuple[Signal, int]:
    """The PDQ hash and quality of what :func:`pdq_input` returned (a luma is overwritten)."""
    native = _native_hasher()
    if data.ndim == 3 or native is None:
        bits, quality = pdqhash.compute(np.asarray(data, dtype=np.uint8))
        return Signal(SignalType.PDQ, pdq_hex_from_bits(bits)), int(quality)
    rows, cols = data.shape
    scratch = np.empty_like(data)  # the C++ filters between the two full-size buffers
    blocks = (ctypes.c_float * 4096)(), (ctypes.c_float * 1024)(), (ctypes.c_float * 256)()
    hash_value, quality_out = _Hash256(), ctypes.c_int()
    native(
        data.ctypes.data_as(_FloatPtr),
        scratch.ctypes.data_as(_FloatPtr),
        rows,
        cols,
        *(ctypes.byref(block) for block in blocks),
        ctypes.byref(hash_value),
        ctypes.byref(quality_out),
    )
    # Hash256::format prints w[15] first, each word as four hex digits (see pdq_hex_from_bits).
    text = "".join(f"{word:04x}" for word in reversed(hash_value.w))
    return Signal(SignalType.PDQ, text), int(quality_out.value)


def float_luma(image: Image.Image) -> npt.NDArray[np.float32]:
    """The H x W float32 luma pdqhash hashes, computed as pdqhash does, a band of rows at a time.

    Same arithmetic per pixel as pdqhash's ``compute`` (float64 ``0.299 R + 0.587 G + 0.114 B``
    rounded to float32), so the result is bit-identical; only the temporaries are band-sized.
    """
    width, height = image.size
    luma = np.empty((height, width), dtype=np.float32)
    for top in range(0, height, LUMA_BAND_ROWS):
        bottom = min(height, top + LUMA_BAND_ROWS)
        band = np.asarray(to_rgb(image.crop((0, top, width, bottom))), dtype=np.uint8)
        luma[top:bottom] = band[:, :, 0] * 0.299 + band[:, :, 1] * 0.587 + band[:, :, 2] * 0.114
    return luma


@cache
def _native_hasher() -> Callable[..., None] | None:
    """pdqhash's C++ ``pdqHash256FromFloatLuma``, or None when this build does not export it."""
    try:
        function = getattr(ctypes.CDLL(pdqhash.bindings.__file__), _LUMA_SYMBOL)
    except (OSError, AttributeError):
        log.warning("pdqhash does not export its float-luma entry point: hashing images costs more memory")
        return None
    function.restype = None
    return function  # type: ignore[no-any-return]


def pdq_hex_from_bits(bits: npt.NDArray[np.integer]) -> str:
    """64 lowercase hex characters for pdqhash's 256-element 0/1 vector, most significant first.

    Why this order: Meta's C++ reference keeps a hash as sixteen 16-bit words ``w[0..15]``,
    sets bit ``k`` (= DCT coefficient ``(k // 16, k % 16)`` above the median) in
    ``w[k >> 4]`` at position ``k & 15``, and formats the words ``w[15]`` first, each as
    ``%04hx`` (pdq/cpp/common/pdqhashtypes.cpp, ``Hash256::format``). pdqhash returns the bits
    reversed, ``vector[i]`` = bit ``255 - i``, so reading the vector as one big-endian
    256-bit number reproduces that string exactly. python-threatexchange does the same via
    ``int("".join(bits), 2)`` formatted as zero-padded hex.
    """
    vector = np.asarray(bits)
    if vector.shape != (PDQ_BITS,) or not np.isin(vector, (0, 1)).all():
        raise ValueError("pdqhash must return 256 bits of 0 or 1")
    return np.packbits(vector.astype(np.uint8)).tobytes().hex()


def to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB copy of ``image``, the colours a viewer sees, alpha dropped.

    Converting every mode to RGB also covers the cases python-threatexchange passes through
    raw (palette indices for "P", C/M/Y for "CMYK", 16-bit grey), where it would hash the
    storage values instead of the colours.
    """
    if image.mode in _VIA_RGBA:
        image = image.convert("RGBA")
    return image.convert("RGB")


def _rgb_array(image: Image.Image) -> npt.NDArray[np.uint8]:
    """An H x W x 3 uint8 array, the layout pdqhash's luma conversion expects."""
    rgb = image if image.mode == "RGB" else to_rgb(image)
    return np.asarray(rgb, dtype=np.uint8)
