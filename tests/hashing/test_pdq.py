"""PDQ values must be bit-identical to Meta's reference, or partners' lists silently stop matching.

The bit-order test below rebuilds the hex string from the DCT coefficients, following the C++
reference's definition (pdqhashing.cpp ``pdqBuffer16x16ToBits`` and pdqhashtypes.cpp
``Hash256::format``) independently of the code under test.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pdqhash
import pytest
from PIL import Image

from node.hashing import pdq_from_image, pdq_hex_from_bits
from node.model import SignalType
from tests.support.media import pdq_distance, render_image


def _reference_hex_from_dct(image: Image.Image) -> str:
    """The reference's hex: bit k = i*16+j is set when DCT[i][j] > median; words w[15]..w[0]."""
    floats, _ = pdqhash.compute_float(np.asarray(image.convert("RGB")))
    dct = np.asarray(floats)[::-1].reshape(16, 16)  # pdqhash returns the 256 floats reversed
    median = np.sort(dct.ravel())[127]  # Torben's median of 256 values: the 128th smallest
    words = [sum(int(dct[i][j] > median) << j for j in range(16)) for i in range(16)]
    return "".join(f"{word:04x}" for word in reversed(words))


def _pinned_image() -> Image.Image:
    """Pixels from closed-form arithmetic only, so they cannot drift with a library version."""
    y, x = np.mgrid[0:240, 0:320].astype(np.float64)
    red = 128 + 100 * np.sin(x / 23.0) * np.cos(y / 31.0)
    green = 128 + 100 * np.sin((x + y) / 41.0)
    blue = np.where((x - 160) ** 2 + (y - 120) ** 2 < 70**2, 220.0, 30.0)
    return Image.fromarray(np.stack([red, green, blue], -1).round().astype(np.uint8), "RGB")


@pytest.mark.parametrize("seed", [0, 1, 7, 42])
def test_hex_follows_the_reference_bit_layout(seed: int) -> None:
    image = render_image(seed=seed)
    signal, _ = pdq_from_image(image)
    assert signal.value == _reference_hex_from_dct(image)


def test_hex_matches_python_threatexchange_conversion() -> None:
    # python-threatexchange (pdq_hasher.py) joins the bits into a binary string, parses it as
    # one integer and formats it as zero-padded hex; restated here in one line.
    bits, _ = pdqhash.compute(np.asarray(render_image(seed=3)))
    assert pdq_hex_from_bits(bits) == format(int("".join(str(b) for b in bits), 2), "064x")


def test_first_vector_element_is_the_most_significant_bit() -> None:
    first = np.zeros(256, dtype=np.int64)
    first[0] = 1
    last = np.zeros(256, dtype=np.int64)
    last[-1] = 1
    assert pdq_hex_from_bits(first) == "8" + "0" * 63
    assert pdq_hex_from_bits(last) == "0" * 63 + "1"


@pytest.mark.parametrize("bad", [np.zeros(255), np.full(256, 2), np.zeros((16, 16))])
def test_hex_refuses_anything_but_256_bits(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="256 bits"):
        pdq_hex_from_bits(bad)


def test_known_value_for_a_fixed_image() -> None:
    # Computed once with pdqhash 0.2.8 (Meta's C++ reference); a change means the hashing
    # convention moved and every published PDQ value with it.
    signal, quality = pdq_from_image(_pinned_image())
    assert signal.type is SignalType.PDQ
    assert signal.value == "35d9e229f3718a29cf7338892df3a28975d98a29d7592aa97d73aa89800b5556"
    assert quality == 100


def test_balanced_bits_and_high_quality_for_a_natural_image() -> None:
    signal, quality = pdq_from_image(render_image(seed=11))
    # Bits are "above the median", so half of them are set.
    assert bin(int(signal.value, 16)).count("1") == 128
    assert quality >= 80


_TRANSPOSES = [
    (1, Image.Transpose.ROTATE_90),  # the reference's Rotate90 is counter-clockwise, as PIL's
    (2, Image.Transpose.ROTATE_180),
    (3, Image.Transpose.ROTATE_270),
    (4, Image.Transpose.FLIP_TOP_BOTTOM),  # FlipX
    (5, Image.Transpose.FLIP_LEFT_RIGHT),  # FlipY (mirror image)
    (6, Image.Transpose.TRANSPOSE),  # FlipPlus1
    (7, Image.Transpose.TRANSVERSE),  # FlipMinus1
]


@pytest.mark.parametrize(("index", "transpose"), _TRANSPOSES)
def test_dihedral_hashes_agree_with_transformed_images(index: int, transpose: Image.Transpose) -> None:
    image = render_image(seed=5)
    dihedral, _ = pdqhash.compute_dihedral(np.asarray(image))
    original, _ = pdq_from_image(image)
    transformed, _ = pdq_from_image(image.transpose(transpose))
    assert pdq_hex_from_bits(dihedral[0]) == original.value
    assert pdq_distance(pdq_hex_from_bits(dihedral[index]), transformed.value) <= 16
    assert pdq_distance(original.value, transformed.value) > 64


def test_alpha_is_dropped_not_composited() -> None:
    rgb = render_image(seed=2)
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    assert pdq_from_image(rgba) == pdq_from_image(rgb)


def test_grey_image_hashes_like_its_rgb_copy() -> None:
    grey = render_image(seed=4).convert("L")
    assert pdq_from_image(grey) == pdq_from_image(grey.convert("RGB"))


def test_palette_image_with_byte_transparency_hashes_without_warning() -> None:
    palette = render_image(seed=6).quantize(colors=64)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", transparency=bytes([0] + [255] * 63))
    buffer.seek(0)
    with Image.open(buffer) as reloaded, warnings.catch_warnings():
        warnings.simplefilter("error")
        signal, quality = pdq_from_image(reloaded)
        expected = pdq_from_image(reloaded.convert("RGBA").convert("RGB"))
    assert (signal, quality) == expected
    assert quality >= 80


def test_tiny_image_gives_quality_zero_not_an_error() -> None:
    signal, quality = pdq_from_image(Image.new("RGB", (4, 4), (10, 200, 30)))
    assert quality == 0
    assert signal.value == "0" * 64
