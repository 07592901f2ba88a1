"""Compiled inner loops of the PDQ index: table build, multi-index probe, linear scan.

Called by ``node.match.segment`` (static multi-index segments) and ``node.match.pdq`` (the
index the node queries). Every function is ``@njit(nogil=True, cache=True)``: it runs without
the GIL, so two Python threads querying at once use both cores, and the machine code is
cached under ``__pycache__`` so only the first run on a machine pays the compile.

A hash is a row of four uint64 words; bit ``i`` of the 256 is bit ``i % 64`` of word
``i // 64``. The loops take plain arrays and ints, positionally (numba's calling convention),
so that each compiles exactly once.
"""

from __future__ import annotations

import llvmlite.ir as llvm_ir
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_ONE = np.uint64(1)
_CANDIDATE_BATCH = 4096  # candidates gathered (and prefetched) before they are verified


@intrinsic
def _popcount(typingctx, x):
    """LLVM's ctpop: one POPCNT instruction (numba has no popcount builtin)."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return x(x), codegen


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask for ``array[index]``'s cache line now, so that many DRAM misses overlap."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_ptr = llvm_ir.IntType(8).as_pointer()
        i32 = llvm_ir.IntType(32)
        fnty = llvm_ir.FunctionType(llvm_ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        pointer = builder.bitcast(builder.gep(data, [args[1]]), byte_ptr)
        # read, keep in all cache levels, data cache
        builder.call(fn, [pointer, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(nogil=True, cache=True, inline="always")
def _bits(words, row, start, width):
    """``width`` (≤ 32) bits of ``words[row]`` from bit ``start``; a chunk may span two words."""
    word = start >> 6
    offset = start & 63
    value = words[row, word] >> np.uint64(offset)
    if offset + width > 64:
        value |= words[row, word + 1] << np.uint64(64 - offset)
    return value & ((_ONE << np.uint64(width)) - _ONE)


@njit(nogil=True, cache=True, inline="always")
def _distance(words, row, query, q, threshold):
    """Hamming distance of ``words[row]`` and ``query[q]``, cut short once above ``threshold``.

    A random non-match already differs in ~64 of the first 128 bits, so almost every
    candidate is rejected after two popcounts (both halves share one cache line).
    """
    d = _popcount(words[row, 0] ^ query[q, 0]) + _popcount(words[row, 1] ^ query[q, 1])
    if d > threshold:
        return d
    return d + _popcount(words[row, 2] ^ query[q, 2]) + _popcount(words[row, 3] ^ query[q, 3])


@njit(nogil=True, cache=True)
def build_chunk_table(words, start, width, prefix_bits, offsets, entries):  # noqa: PLR0917
    """Counting-sort the rows by the top ``prefix_bits`` bits of one chunk (a bucket each).

    ``offsets`` (zeroed, 2**prefix_bits + 1) gets each bucket's start; ``entries`` gets
    ``row << r | residual`` per row, the residual being the chunk's r low bits, so that a
    probe filters a bucket by the full chunk value without touching the hashes.
    """
    r = np.uint64(width - prefix_bits)
    low = (_ONE << r) - _ONE
    for row in range(words.shape[0]):
        offsets[np.int64(_bits(words, row, start, width) >> r) + 1] += 1
    for b in range(1, offsets.shape[0]):
        offsets[b] += offsets[b - 1]
    cursor = offsets[:-1].copy()
    for row in range(words.shape[0]):
        key = _bits(words, row, start, width)
        bucket = np.int64(key >> r)
        entries[cursor[bucket]] = np.uint32((np.uint64(row) << r) | (key & low))
        cursor[bucket] += 1


@njit(nogil=True, cache=True, inline="always")
def _first_chunk_in_reach(words, row, qkeys, chunk, radii, starts, widths):  # noqa: PLR0917
    """Whether no earlier chunk's probe also reaches ``row``: only the first one reports it.

    A hash is found once per chunk within that chunk's radius; letting only the first such
    chunk report it deduplicates without a per-query "seen" set.
    """
    for c in range(chunk):
        if radii[c] >= 0 and _popcount(_bits(words, row, starts[c], widths[c]) ^ qkeys[c]) <= radii[c]:
            return False
    return True


@njit(nogil=True, cache=True)
def _verify(query, q, threshold, words, alive, cands, count, qkeys, chunk, radii, starts, widths, out):  # noqa: PLR0917
    """Full-distance check of gathered candidates; hits go to ``out`` (see ``probe_many``)."""
    rows, dist, state = out
    for i in range(count):
        row = cands[i]
        d = _distance(words, row, query, q, threshold)
        if d > threshold or not alive[row]:
            continue
        if not _first_chunk_in_reach(words, row, qkeys, chunk, radii, starts, widths):
            continue
        if state[0] < rows.shape[0]:
            rows[state[0]] = row
            dist[state[0]] = d
        state[0] += 1


@njit(nogil=True, cache=True)
def _probe_chunk(query, q, qkey, chunk, t, tables, masks, mask_starts, scratch, out):  # noqa: PLR0917
    """Probe one chunk within radius ``t`` in three passes, each prefetching the next one's lines.

    1. bucket numbers (top bits of the query's chunk, flipped by every mask of ≤ t bits);
    2. bucket bounds, read once the offsets have arrived;
    3. bucket entries whose residual is within the radius left: candidate rows, verified in
    batches. Doing each pass for all ~200 buckets lets the DRAM misses overlap instead of
    waiting for each in turn, which is where the time goes at 10M hashes.
    """
    threshold, radii, starts, widths, prefix_bits, offsets, entries, words, alive, qkeys = tables
    buckets, allowed, bounds, cands = scratch
    r = np.uint64(widths[chunk] - prefix_bits)
    low = (_ONE << r) - _ONE
    offs = offsets[chunk]
    ents = entries[chunk]
    n = 0
    for e in range(min(t, prefix_bits) + 1):
        for m in range(mask_starts[e], mask_starts[e + 1]):
            buckets[n] = np.int64((qkey >> r) ^ masks[m])
            allowed[n] = t - e
            _prefetch(offs, buckets[n])
            n += 1
    for i in range(n):
        bounds[i, 0] = offs[buckets[i]]
        bounds[i, 1] = offs[buckets[i] + 1]
        for k in range(bounds[i, 0], bounds[i, 1], 16):
            _prefetch(ents, k)
    flat = words.reshape(-1)
    found = 0
    for i in range(n):
        for k in range(bounds[i, 0], bounds[i, 1]):
            entry = np.uint64(ents[k])
            if _popcount((entry ^ qkey) & low) <= allowed[i]:
                cands[found] = np.int64(entry >> r)
                _prefetch(flat, cands[found] * 4)
                found += 1
                if found == cands.shape[0]:
                    _verify(
                        query,
                        q,
                        threshold,
                        words,
                        alive,
                        cands,
                        found,
                        qkeys,
                        chunk,
                        radii,
                        starts,
                        widths,
                        out,
                    )
                    found = 0
    _verify(query, q, threshold, words, alive, cands, found, qkeys, chunk, radii, starts, widths, out)


@njit(nogil=True, cache=True)
def probe_many(  # noqa: PLR0917
    queries,
    first,
    threshold,
    radii,
    starts,
    widths,
    prefix_bits,
    masks,
    mask_starts,
    offsets,
    entries,
    words,
    alive,
    out_rows,
    out_dist,
    ends,
):
    """Multi-index search of one segment for queries ``first``...: every live row within ``threshold``.

    Chunk c is probed within ``radii[c]`` bits (skipped when negative); by the pigeonhole
    argument in ``node.match.segment`` that reaches every row within ``threshold``. Hits
    (row, distance) are appended to ``out_*`` and ``ends[q]`` is the hit count after query
    q. Returns how many queries are done: fewer than all when the buffers filled up, and
    the caller then grows them and resumes from there.
    """
    chunks = starts.shape[0]
    qkeys = np.empty(chunks, dtype=np.uint64)
    most = mask_starts[-1]
    scratch = (
        np.empty(most, dtype=np.int64),
        np.empty(most, dtype=np.int64),
        np.empty((most, 2), dtype=np.int64),
        np.empty(_CANDIDATE_BATCH, dtype=np.int64),
    )
    state = np.zeros(1, dtype=np.int64)
    out = (out_rows, out_dist, state)
    for q in range(first, queries.shape[0]):
        state[0] = ends[q - 1] if q > 0 else 0
        for c in range(chunks):
            qkeys[c] = _bits(queries, q, starts[c], widths[c])
        tables = (threshold, radii, starts, widths, prefix_bits, offsets, entries, words, alive, qkeys)
        for c in range(chunks):
            if radii[c] >= 0:
                _probe_chunk(queries, q, qkeys[c], c, radii[c], tables, masks, mask_starts, scratch, out)
        if state[0] > out_rows.shape[0]:
            return q
        ends[q] = state[0]
    return queries.shape[0]


@njit(nogil=True, cache=True)
def scan_many(queries, first, threshold, words, count, alive, out_rows, out_dist, ends):  # noqa: PLR0917
    """Linear scan of rows [0, count) for queries ``first``...: the tail, or any T. As ``probe_many``."""
    for q in range(first, queries.shape[0]):
        found = ends[q - 1] if q > 0 else 0
        for row in range(count):
            d = _distance(words, row, queries, q, threshold)
            if d <= threshold and alive[row]:
                if found < out_rows.shape[0]:
                    out_rows[found] = row
                    out_dist[found] = d
                found += 1
        if found > out_rows.shape[0]:
            return q
        ends[q] = found
    return queries.shape[0]
