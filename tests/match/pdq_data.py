"""Hash lists and the brute-force oracle shared by the PDQ index tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from node.match.segment import CHUNK_STARTS, CHUNK_WIDTHS, plan_radii
from node.model import IndexHit

Hashes = npt.NDArray[np.uint8]


def random_hashes(n: int, rng: np.random.Generator) -> Hashes:
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def clustered_hashes(n: int, rng: np.random.Generator, *, family: int = 20, spread: int = 24) -> Hashes:
    """Families of near-duplicates: a centre with up to ``spread`` bits flipped per member."""
    centres = random_hashes(max(1, n // family), rng)
    members = centres[rng.integers(0, len(centres), size=n)]
    return np.stack(
        [flip(m, rng.choice(256, int(rng.integers(0, spread + 1)), replace=False)) for m in members]
    )


def flip(pdq: Hashes, bits: npt.NDArray[np.int64] | list[int]) -> Hashes:
    """``pdq`` with the given bit positions flipped (bit i is bit i % 64 of big-endian word i // 64)."""
    words = pdq.view(">u8").astype(np.uint64)
    for bit in bits:
        words[int(bit) // 64] ^= np.uint64(1) << np.uint64(int(bit) % 64)
    return words.astype(">u8").view(np.uint8)


def near(pdq: Hashes, k: int, rng: np.random.Generator) -> Hashes:
    return flip(pdq, rng.choice(256, k, replace=False))


def adversarial(pdq: Hashes, threshold: int, rng: np.random.Generator) -> Hashes:
    """A hash exactly ``threshold`` bits away with every chunk but one just beyond its radius.

    The pigeonhole bound is tight here: only one chunk is within its probe radius, so a plan
    one unit short would miss it.
    """
    radii = plan_radii(threshold)
    assert radii is not None
    keep = int(rng.choice(np.flatnonzero(radii >= 0)))  # the one chunk left within its radius
    bits: list[int] = []
    for c, (start, width) in enumerate(zip(CHUNK_STARTS, CHUNK_WIDTHS, strict=True)):
        count = int(radii[c]) + (0 if c == keep else 1)
        bits.extend(start + int(b) for b in rng.choice(width, count, replace=False))
    assert len(bits) == threshold
    return flip(pdq, bits)


def brute_force(
    ids: list[str], hashes: Hashes, alive: list[bool], query: Hashes, threshold: int
) -> list[IndexHit]:
    distances = np.unpackbits(hashes ^ query, axis=1).sum(axis=1)
    hits = [
        IndexHit(i, int(d)) for i, d, a in zip(ids, distances, alive, strict=True) if a and d <= threshold
    ]
    return sorted(hits, key=lambda h: (h.distance, h.indicator_id))


def uuid_ids(n: int, rng: np.random.Generator) -> list[str]:
    out = []
    for value in rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).tolist():
        text = f"{value[0]:016x}{value[1]:016x}"
        out.append(f"indicator--{text[:8]}-{text[8:12]}-4{text[13:16]}-8{text[17:20]}-{text[20:]}")
    return out
