"""PDQ index: every stored hash within Hamming distance T of the query (exact, no misses).

This is a vectorised linear scan: hashes are rows of four uint64 words, a query XORs all rows
and counts bits with ``numpy.bitwise_count``. It is correct by construction (recall 1.0 within
T) and serves lists up to a few hundred thousand hashes interactively; removing a hash leaves a
tombstone reused by the next add, so updates never rebuild the array.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from node.model import IndexHit

_WORDS = 4  # 256 bits
_INITIAL_CAPACITY = 1024


class PdqIndex:
    """Hashes as an (N, 4) uint64 array with a liveness mask. Not thread-safe on its own."""

    def __init__(self) -> None:
        self._bits: npt.NDArray[np.uint64] = np.zeros((_INITIAL_CAPACITY, _WORDS), dtype=np.uint64)
        self._alive: npt.NDArray[np.bool_] = np.zeros(_INITIAL_CAPACITY, dtype=np.bool_)
        self._ids: list[str | None] = [None] * _INITIAL_CAPACITY
        self._row_by_id: dict[str, int] = {}
        self._free: list[int] = []
        self._used = 0  # rows [0, used) have been handed out at least once

    def __len__(self) -> int:
        return len(self._row_by_id)

    def add(self, indicator_id: str, pdq: bytes) -> None:
        """List ``indicator_id`` with the 32-byte hash ``pdq`` (replacing any earlier hash)."""
        self.remove(indicator_id)
        row = self._free.pop() if self._free else self._next_row()
        self._bits[row] = np.frombuffer(pdq, dtype=">u8").astype(np.uint64)
        self._alive[row] = True
        self._ids[row] = indicator_id
        self._row_by_id[indicator_id] = row

    def remove(self, indicator_id: str) -> None:
        """Stop ``indicator_id`` matching; its row becomes a tombstone for reuse."""
        row = self._row_by_id.pop(indicator_id, None)
        if row is None:
            return
        self._alive[row] = False
        self._ids[row] = None
        self._free.append(row)

    def query(self, pdq: bytes, threshold: int) -> list[IndexHit]:
        """Every listed hash with Hamming distance ≤ ``threshold`` from ``pdq``, nearest first."""
        if not self._row_by_id:
            return []
        query = np.frombuffer(pdq, dtype=">u8").astype(np.uint64)
        rows = self._bits[: self._used]
        distances = np.bitwise_count(rows ^ query).sum(axis=1, dtype=np.int32)
        found = np.flatnonzero((distances <= threshold) & self._alive[: self._used])
        hits = [IndexHit(str(self._ids[r]), int(distances[r])) for r in found]
        return sorted(hits, key=lambda h: (h.distance, h.indicator_id))

    def _next_row(self) -> int:
        if self._used == len(self._alive):
            self._grow()
        self._used += 1
        return self._used - 1

    def _grow(self) -> None:
        capacity = len(self._alive) * 2
        bits = np.zeros((capacity, _WORDS), dtype=np.uint64)
        bits[: len(self._bits)] = self._bits
        alive = np.zeros(capacity, dtype=np.bool_)
        alive[: len(self._alive)] = self._alive
        self._bits, self._alive = bits, alive
        self._ids.extend([None] * (capacity - len(self._ids)))
