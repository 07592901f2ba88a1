"""Compiled loops over indicator keys: parsing ids, binary search, sorting and merging runs.

Used by ``node.match.ids`` (ids ↔ 128-bit keys) and, through it, by the PDQ index to find an
id's row and to merge segments in key order. Like ``node.match.kernels``: nogil, cached.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def parse_uuid_ids(raw, lengths, hex_at):
    """Keys of ``indicator--<uuid4>`` byte strings; ``ok`` is False where the form is wrong."""
    n = raw.shape[0]
    keys = np.zeros((n, 2), dtype=np.uint64)
    ok = np.zeros(n, dtype=np.bool_)
    prefix = np.array([105, 110, 100, 105, 99, 97, 116, 111, 114, 45, 45], dtype=np.uint8)
    for i in range(n):
        good = lengths[i] == 47 and raw[i, 19] == 45 and raw[i, 24] == 45
        good = good and raw[i, 29] == 45 and raw[i, 34] == 45
        good = good and raw[i, 25] == 52 and raw[i, 30] in (56, 57, 97, 98)  # '4', [89ab]
        for j in range(11):
            good = good and raw[i, j] == prefix[j]
        value_hi = np.uint64(0)
        value_lo = np.uint64(0)
        for j in range(32):
            c = raw[i, hex_at[j]]
            if 48 <= c <= 57:
                nibble = np.uint64(c - 48)
            elif 97 <= c <= 102:
                nibble = np.uint64(c - 87)
            else:
                good = False
                nibble = np.uint64(0)
            if j < 16:
                value_hi = (value_hi << np.uint64(4)) | nibble
            else:
                value_lo = (value_lo << np.uint64(4)) | nibble
        if good:
            keys[i, 0] = value_hi
            keys[i, 1] = value_lo
            ok[i] = True
    return keys, ok


@njit(nogil=True, cache=True, inline="always")
def _less(a_hi, a_lo, b_hi, b_lo):
    """(a_hi, a_lo) < (b_hi, b_lo) as 128-bit numbers."""
    return a_hi < b_hi or (a_hi == b_hi and a_lo < b_lo)


@njit(nogil=True, cache=True)
def find_live(sorted_keys, alive, wanted):
    """Binary search of each wanted key; its row where that row is live, else -1."""
    found = np.full(wanted.shape[0], -1, dtype=np.int64)
    for i in range(wanted.shape[0]):
        lo, hi = 0, sorted_keys.shape[0]
        while lo < hi:
            mid = (lo + hi) >> 1
            if _less(sorted_keys[mid, 0], sorted_keys[mid, 1], wanted[i, 0], wanted[i, 1]):
                lo = mid + 1
            else:
                hi = mid
        same = lo < sorted_keys.shape[0] and sorted_keys[lo, 0] == wanted[i, 0]
        if same and sorted_keys[lo, 1] == wanted[i, 1] and alive[lo]:
            found[i] = lo
    return found


@njit(nogil=True, cache=True)
def sort_ties(keys, order):
    """Within runs of ``order`` with equal high words, order by the low word (stable)."""
    start = 0
    n = order.shape[0]
    while start < n:
        end = start + 1
        while end < n and keys[order[end], 0] == keys[order[start], 0]:
            end += 1
        if end - start > 1:
            run = order[start:end].copy()
            low = np.empty(end - start, dtype=np.uint64)
            for i in range(end - start):
                low[i] = keys[run[i], 1]
            by_low = np.argsort(low, kind="mergesort")
            for i in range(end - start):
                order[start + i] = run[by_low[i]]
        start = end


@njit(nogil=True, cache=True)
def merge_order(first, second):
    """Positions in ``first`` + ``second`` (both sorted) that read them in merged key order."""
    n, m = first.shape[0], second.shape[0]
    order = np.empty(n + m, dtype=np.int64)
    i = j = 0
    for k in range(n + m):
        take_second = i == n or (j < m and _less(second[j, 0], second[j, 1], first[i, 0], first[i, 1]))
        if take_second:
            order[k] = n + j
            j += 1
        else:
            order[k] = i
            i += 1
    return order
