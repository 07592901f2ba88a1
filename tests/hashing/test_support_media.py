"""The shared media generators keep the promises other layers' tests rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.hashing import hash_file
from node.model import PDQ_DEFAULT_THRESHOLD, PDQ_MIN_QUALITY
from tests.support.media import make_flat_image, make_image, make_variant, pdq_distance


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = make_image(tmp_path / "a.png", seed=12)
    second = make_image(tmp_path / "b.png", seed=12)
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("seed", range(8))
def test_images_are_high_quality_and_survive_re_encoding(tmp_path: Path, seed: int) -> None:
    source = hash_file(make_image(tmp_path / "a.png", seed=seed))
    variant = hash_file(make_variant(tmp_path / "a.png", tmp_path / "v.jpg", scale=0.3, quality=50))
    assert source.pdq is not None
    assert variant.pdq is not None
    assert source.pdq_quality is not None
    assert source.pdq_quality >= 80
    assert pdq_distance(source.pdq.value, variant.pdq.value) <= PDQ_DEFAULT_THRESHOLD


def test_flat_image_is_below_minimum_quality(tmp_path: Path) -> None:
    quality = hash_file(make_flat_image(tmp_path / "flat.jpg", fmt="JPEG")).pdq_quality
    assert quality is not None
    assert quality < PDQ_MIN_QUALITY


def test_pdq_distance_counts_differing_bits() -> None:
    assert pdq_distance("0" * 64, "0" * 64) == 0
    assert pdq_distance("0" * 64, "f" * 64) == 256
    assert pdq_distance("0" * 63 + "3", "0" * 64) == 2
