"""PDQ: a decoded image → a ``pdq`` signal and its quality, bit-identical to Meta's reference.

This is the only place the node computes perceptual hashes. ``media`` decodes files and calls
:func:`pdq_from_image`; everything downstream (STIX, match lists, partners) only ever sees the
64-hex-character value produced by :func:`pdq_hex_from_bits`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from node.model import Signal, SignalType

PDQ_BITS = 256

# Modes that must pass through RGBA on their way to RGB: palette images may carry
# transparency as a byte string, which Pillow only resolves when converting through RGBA.
_VIA_RGBA = frozenset({"P", "PA"})


def pdq_from_image(image: Image.Image) -> tuple[Signal, int]:
    """The PDQ hash of ``image`` and its quality (0-100); the caller decides what quality to accept.

    The image is hashed as decoded: no EXIF rotation and no pre-resizing, as in
    python-threatexchange (``signal_type/pdq/pdq_hasher.py``) and therefore HMA. Alpha is
    dropped, not composited: pdqhash reads only the first three channels of an RGBA array, so
    dropping it here gives the reference's result for RGBA input.
    """
    bits, quality = pdqhash.compute(_rgb_array(image))
    return Signal(SignalType.PDQ, pdq_hex_from_bits(bits)), int(quality)


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
