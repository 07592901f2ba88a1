"""A static multi-index segment of the PDQ index: hashes, their keys, and the probe tables.

``node.match.pdq`` keeps one large segment (the base), sometimes a smaller one (recent adds
merged in the background) and a linear tail. A segment never changes after it is built,
except its liveness flags, which a removal clears in place.

Why the search is exact (the pigeonhole argument). The 256 bits are cut into m disjoint
chunks, and chunk c is probed within radius t_c: every value within t_c bits of the query's
chunk is looked up. The distance is the sum of the chunk distances, so if every chunk were
at least t_c + 1 away the distance would be at least Σ(t_c + 1). Choosing Σ(t_c + 1) = T + 1
therefore reaches every hash within T (chunks with t_c = -1 are simply not probed).

Why these chunks. At T = 31, eleven chunks of 24/23 bits get radius 2 (ten of them) and 1
(one): 32 units. Fewer, wider chunks need radius 3 (thousands of lookups each); more,
narrower ones return too many candidates (each a DRAM miss to verify). With 10M hashes
this visits ~2,000 buckets and verifies ~3,000 candidates per query.

Layout. For chunk c the rows are bucketed by the chunk's top p bits (p ≈ log2(n / 20): a
2**p + 1 offsets table of ~2 MB per chunk at 10M, and ~20 entries per bucket); each entry
is one uint32, ``row << r | residual``, the residual being the chunk's r = width - p low
bits, so a bucket is filtered by the exact chunk distance without touching the hashes. That
is 4 bytes per hash per chunk: 44 for the tables, 32 for the hash, 16 for its key, 1 for
liveness, ~2 for offsets: ~95 bytes per hash.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from types import ModuleType
from typing import Literal

import numpy as np
import numpy.typing as npt

from node.errors import ConfigError
from node.match.ids import Keys, find_live

Words = npt.NDArray[np.uint64]
"""An (n, 4) array of PDQ hashes, one row of four 64-bit words each."""

Hits = npt.NDArray[np.int64]
"""Hit rows, distances, or per-query end offsets (see ``Segment.search``)."""

SearchMethod = Literal["auto", "probe", "scan"]
"""How a segment answers: multi-index probe, linear scan, or whichever is estimated cheaper."""

CHUNK_WIDTHS = (24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23)
CHUNK_STARTS = tuple(sum(CHUNK_WIDTHS[:c]) for c in range(len(CHUNK_WIDTHS)))
MAX_FLIPS = 4  # top-bit flips enumerated per chunk: up to T = 54; beyond, a scan is cheaper
_BUCKET_TARGET = 20  # rows per bucket: fewer means more lookups, more means longer filters
_MIN_PREFIX, _MAX_PREFIX = 4, 20
_BUILD_THREADS = 2  # the chunk tables are independent: build them on both cores

# Cost model (ns, measured at 10M on this machine) choosing probe or scan per query threshold.
_NS_PER_LOOKUP, _NS_PER_ENTRY, _NS_PER_CANDIDATE, _NS_PER_SCANNED_ROW = 30.0, 1.0, 20.0, 1.5

_STARTS = np.array(CHUNK_STARTS, dtype=np.int64)
_WIDTHS = np.array(CHUNK_WIDTHS, dtype=np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    """Rows sorted by key (so an id is found by binary search) and their probe tables."""

    words: Words
    keys: Keys
    alive: npt.NDArray[np.uint8]
    prefix_bits: int
    offsets: npt.NDArray[np.int32]
    entries: npt.NDArray[np.uint32]

    def __len__(self) -> int:
        return int(self.words.shape[0])

    def find(self, keys: Keys) -> npt.NDArray[np.int64]:
        """Row of each key among the live rows, or -1."""
        return find_live(self.keys, self.alive, keys)

    def search(self, queries: Words, threshold: int, *, method: SearchMethod) -> tuple[Hits, Hits, Hits]:
        """Hits of each query: (rows, distances, per-query end offsets into both)."""
        radii = plan_radii(threshold)
        if method == "scan" or radii is None or (method == "auto" and self._scan_is_cheaper(radii)):
            return scan(queries, threshold, self.words, len(self), self.alive)
        masks, mask_starts = flip_masks(self.prefix_bits)
        tables = (self.prefix_bits, masks, mask_starts, self.offsets, self.entries, self.words, self.alive)

        def run(first: int, rows: Hits, dist: Hits, ends: Hits) -> int:
            done = _kernels().probe_many(
                queries, first, threshold, radii, _STARTS, _WIDTHS, *tables, rows, dist, ends
            )
            return int(done)

        return _with_room(len(queries), run)

    def _scan_is_cheaper(self, radii: npt.NDArray[np.int64]) -> bool:
        return _scan_is_cheaper(len(self), self.prefix_bits, tuple(radii.tolist()))


@lru_cache(maxsize=1024)
def _scan_is_cheaper(rows: int, prefix_bits: int, radii: tuple[int, ...]) -> bool:
    return probe_cost(rows, prefix_bits, np.array(radii)) > _NS_PER_SCANNED_ROW * rows


def scan(
    queries: Words, threshold: int, words: Words, count: int, alive: npt.NDArray[np.uint8]
) -> tuple[Hits, Hits, Hits]:
    """Linear scan of ``words[:count]``, in the same form as ``Segment.search``."""

    def run(first: int, rows: Hits, dist: Hits, ends: Hits) -> int:
        return int(_kernels().scan_many(queries, first, threshold, words, count, alive, rows, dist, ends))

    return _with_room(len(queries), run)


def _with_room(queries: int, run: Callable[[int, Hits, Hits, Hits], int]) -> tuple[Hits, Hits, Hits]:
    """Run a kernel into hit buffers, doubling them and resuming whenever they fill up."""
    rows = np.empty(max(256, 16 * queries), dtype=np.int64)
    dist = np.empty_like(rows)
    ends = np.zeros(queries, dtype=np.int64)
    done = 0
    while (done := run(done, rows, dist, ends)) < queries:
        kept = int(ends[done - 1]) if done else 0
        rows = np.concatenate([rows[:kept], np.empty(2 * len(rows), dtype=np.int64)])
        dist = np.concatenate([dist[:kept], np.empty(2 * len(dist), dtype=np.int64)])
    return rows, dist, ends


@lru_cache(maxsize=512)
def plan_radii(threshold: int) -> npt.NDArray[np.int64] | None:
    """Per-chunk radii with Σ(t + 1) = threshold + 1, widest chunks first; None past MAX_FLIPS.

    Spreading the T + 1 units evenly keeps every chunk's probe small; a wider chunk has
    sparser buckets, so it takes the extra unit when T + 1 is not a multiple of the chunks.
    """
    if threshold < 0:
        return np.full(len(CHUNK_WIDTHS), -1, dtype=np.int64)
    per_chunk, extra = divmod(threshold + 1, len(CHUNK_WIDTHS))
    widest_first = sorted(range(len(CHUNK_WIDTHS)), key=lambda c: -CHUNK_WIDTHS[c])
    radii = np.full(len(CHUNK_WIDTHS), per_chunk - 1, dtype=np.int64)
    radii[widest_first[:extra]] += 1
    return None if int(radii.max()) > MAX_FLIPS else radii


def probe_cost(rows: int, prefix_bits: int, radii: npt.NDArray[np.int64]) -> float:
    """Estimated ns of a probe: bucket lookups, entries filtered, candidates verified."""
    lookups = candidates = 0.0
    for width, t in zip(CHUNK_WIDTHS, [int(r) for r in radii], strict=True):
        lookups += sum(math.comb(prefix_bits, e) for e in range(min(t, prefix_bits) + 1))
        candidates += sum(math.comb(width, d) for d in range(t + 1)) * rows / (1 << width)
    entries = lookups * rows / (1 << prefix_bits)
    return _NS_PER_LOOKUP * lookups + _NS_PER_ENTRY * entries + _NS_PER_CANDIDATE * candidates


def choose_prefix_bits(rows: int) -> int:
    """Bucket bits for ``rows`` hashes: ~20 per bucket, and room for the row in 32-bit entries."""
    row_bits = max(1, (rows - 1).bit_length())
    wanted = round(math.log2(max(rows, 1) / _BUCKET_TARGET)) if rows else _MIN_PREFIX
    prefix = max(_MIN_PREFIX, min(_MAX_PREFIX, wanted), max(CHUNK_WIDTHS) - (32 - row_bits))
    if prefix > _MAX_PREFIX:
        raise ConfigError(f"a PDQ index segment holds at most {2**28:,} hashes; got {rows:,}")
    return prefix


@lru_cache(maxsize=32)
def flip_masks(prefix_bits: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """Every mask of ≤ MAX_FLIPS bits over ``prefix_bits`` bits, by bit count, and where each count starts."""
    masks: list[int] = []
    starts = [0]
    for flips in range(MAX_FLIPS + 1):
        masks.extend(sum(1 << b for b in bits) for bits in combinations(range(prefix_bits), flips))
        starts.append(len(masks))
    return np.array(masks, dtype=np.uint64), np.array(starts, dtype=np.int64)


def build_segment(words: Words, keys: Keys, alive: npt.NDArray[np.uint8] | None = None) -> Segment:
    """Build the probe tables over ``words`` (rows already sorted by ``keys``)."""
    rows = int(words.shape[0])
    words = np.ascontiguousarray(words, dtype=np.uint64)
    prefix = choose_prefix_bits(rows)
    offsets = np.zeros((len(CHUNK_WIDTHS), (1 << prefix) + 1), dtype=np.int32)
    entries = np.empty((len(CHUNK_WIDTHS), rows), dtype=np.uint32)

    def build(c: int) -> None:
        _kernels().build_chunk_table(words, CHUNK_STARTS[c], CHUNK_WIDTHS[c], prefix, offsets[c], entries[c])

    with ThreadPoolExecutor(_BUILD_THREADS) as pool:
        list(pool.map(build, range(len(CHUNK_WIDTHS))))
    flags = np.ones(rows, dtype=np.uint8) if alive is None else np.ascontiguousarray(alive, dtype=np.uint8)
    return Segment(words, np.ascontiguousarray(keys, dtype=np.uint64), flags, prefix, offsets, entries)


def _kernels() -> ModuleType:
    """The compiled loops, imported on first use (numba alone takes ~0.4 s to import).

    Most ``accord`` commands never search; Python caches the module after the first call.
    """
    from node.match import kernels  # noqa: PLC0415

    return kernels
