"""PDQ index: every listed hash within Hamming distance T of a query, updated in place.

``MatchLists`` keeps one of these for PDQ signals. The index is a few immutable multi-index
segments (``node.match.segment``: a large base and at most one smaller one) plus a tail of
recent adds scanned linearly, and liveness flags that a removal clears at once. So an add
or a removal is visible to the very next query, and nothing is rebuilt on the write path:
when the tail grows past ``SEAL_ROWS`` a background thread merges it (with the small
segment, or with everything once that outgrows a share of the base) into a new segment built
off to the side, then swaps it in under the writer lock, replaying the removals made
meanwhile. Readers take no lock: each query reads one immutable ``_View`` and finishes on
it, whatever is swapped in later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from node.errors import InvalidSignal
from node.match import persist
from node.match.ids import IdCodec, Keys, sort_by_key
from node.match.merge import MergeJob, merge_parts
from node.match.segment import Hits, SearchMethod, Segment, Words, build_segment, scan
from node.model import IndexHit

log = logging.getLogger(__name__)

PdqInput = Sequence[bytes] | npt.NDArray[np.uint8]
"""Hashes as 32-byte strings, or an (n, 32) uint8 array."""

SEAL_ROWS = 16_384  # tail rows before a merge: the tail scan stays under ~30 µs a query
FULL_MERGE_MIN = 65_536  # the small segment is merged into the base past this many rows...
FULL_MERGE_SHARE = 0.02  # ...or this share of the base: beyond it, it costs queries more
PARALLEL_MIN = 64  # query_batch splits a batch over both cores from this many queries
_TAIL_START = 1024
_WORKERS = 2


class _Tail:
    """Recent adds in arrival order; the writer appends, readers see their view's count."""

    __slots__ = ("alive", "ids", "words")

    def __init__(self, capacity: int) -> None:
        self.words: Words = np.zeros((capacity, 4), dtype=np.uint64)
        self.alive: npt.NDArray[np.uint8] = np.zeros(capacity, dtype=np.uint8)
        self.ids: list[str] = []


class _View(NamedTuple):
    """What one query reads: the segments, the tail, and how many tail rows are written."""

    segments: tuple[Segment, ...]
    tail: _Tail
    tail_count: int


class PdqIndex:
    """Exact Hamming search over PDQ hashes. Thread-safe: lock-free readers, serialised writers."""

    def __init__(self, *, method: SearchMethod = "auto", background_merge: bool = True) -> None:
        """``method`` forces probe or scan (tests); without ``background_merge``, merges run inline."""
        self._lock = threading.RLock()
        self._codec = IdCodec()
        self._state = _View((), _Tail(_TAIL_START), 0)
        self._tail_rows: dict[str, int] = {}  # live tail rows by id (the writer's own map)
        self._live = 0
        self._method: SearchMethod = method
        self._background = background_merge
        # Held by whoever runs a merge, before ``_lock``: one merge at a time, never nested.
        self._merge_gate = threading.Lock()
        self.seal_rows = SEAL_ROWS
        self.loaded_meta: dict[str, str | int] = {}  # what ``save`` was given, after ``load``

    def __len__(self) -> int:
        return self._live

    # --- writing -----------------------------------------------------------------------------

    def add(self, indicator_id: str, pdq: bytes) -> None:
        """List ``indicator_id`` with the 32-byte hash ``pdq`` (replacing any earlier hash)."""
        self.add_many([indicator_id], [pdq])

    def add_many(self, ids: Sequence[str], pdqs: PdqInput) -> None:
        """List many hashes at once, in order (a later repeat of an id replaces the earlier)."""
        words = as_words(pdqs)
        self._add_words(ids, words)

    def _add_words(self, ids: Sequence[str], words: Words) -> None:
        if len(ids) != len(words):
            raise ValueError(f"{len(ids)} ids for {len(words)} hashes")
        if not ids:
            return
        keys = self._codec.encode_many(ids)
        with self._lock:
            self._remove_from_segments(keys)
            self._append(list(ids), words)
        self._maybe_merge()

    def remove(self, indicator_id: str) -> None:
        """Stop ``indicator_id`` matching (from the next query on); a no-op when not listed."""
        self.remove_many([indicator_id])

    def remove_many(self, ids: Sequence[str]) -> None:
        """Stop many ids matching; unknown ids are ignored."""
        known = [k for k in map(self._codec.key_of, ids) if k is not None]
        with self._lock:
            if known:
                self._remove_from_segments(np.array(known, dtype=np.uint64).reshape(-1, 2))
            tail = self._state.tail
            for indicator_id in ids:
                row = self._tail_rows.pop(indicator_id, None)
                if row is not None:
                    tail.alive[row] = 0
                    self._live -= 1

    def _remove_from_segments(self, keys: Keys) -> None:
        for segment in self._state.segments:
            rows = np.unique(segment.find(keys))
            rows = rows[rows >= 0]
            segment.alive[rows] = 0
            self._live -= len(rows)

    def _append(self, ids: list[str], words: Words) -> None:
        tail, count = self._state.tail, self._state.tail_count
        if count + len(ids) > len(tail.alive):
            tail = self._grown_tail(count + len(ids))
        tail.words[count : count + len(ids)] = words
        tail.alive[count : count + len(ids)] = 1
        tail.ids.extend(ids)
        for row, indicator_id in enumerate(ids, start=count):
            earlier = self._tail_rows.get(indicator_id)
            if earlier is not None:
                tail.alive[earlier] = 0
                self._live -= 1
            self._tail_rows[indicator_id] = row
            self._live += 1
        # Publishing the view last: readers never see rows that are not fully written.
        self._state = self._state._replace(tail=tail, tail_count=count + len(ids))

    def _grown_tail(self, needed: int) -> _Tail:
        old, count = self._state.tail, self._state.tail_count
        tail = _Tail(max(needed, 2 * len(old.alive)))
        tail.words[:count] = old.words[:count]
        tail.alive[:count] = old.alive[:count]
        tail.ids = old.ids[:count]
        return tail

    # --- reading -----------------------------------------------------------------------------

    def query(self, pdq: bytes, threshold: int) -> list[IndexHit]:
        """Every listed hash within ``threshold`` bits of ``pdq``, nearest first, ties by id."""
        return self._search(as_words([pdq]), threshold)[0]

    def query_batch(self, pdqs: PdqInput, threshold: int) -> list[list[IndexHit]]:
        """``query`` for each hash; a large batch is cut in slices searched on both cores.

        Slices rather than halves: while one thread turns its hits into ids (Python, under
        the GIL), the other is in the compiled search (without it), so both cores stay busy.
        """
        queries = as_words(pdqs)
        if len(queries) < PARALLEL_MIN:
            return self._search(queries, threshold)
        slices = [queries[i : i + PARALLEL_MIN] for i in range(0, len(queries), PARALLEL_MIN)]
        results = _pool().map(lambda part: self._search(part, threshold), slices)
        return [hits for part in results for hits in part]

    def _search(self, queries: Words, threshold: int) -> list[list[IndexHit]]:
        if not len(queries):
            return []
        state = self._state  # one consistent view for the whole search
        found: list[list[IndexHit]] = [[] for _ in range(len(queries))]
        unsorted: set[int] = set()  # queries whose hits are not yet in (distance, id) order
        for segment in state.segments:
            rows, dist, ends = segment.search(queries, threshold, method=self._method)
            self._collect_segment(found, unsorted, keys=segment.keys, rows=rows, dist=dist, ends=ends)
        tail = state.tail
        rows, dist, ends = scan(queries, threshold, tail.words, state.tail_count, tail.alive)
        for q in np.flatnonzero(np.diff(ends, prepend=0)).tolist():
            start = int(ends[q - 1]) if q else 0
            ids = [tail.ids[r] for r in rows[start : ends[q]].tolist()]
            found[q].extend(map(IndexHit, ids, dist[start : ends[q]].tolist()))
            unsorted.add(q)
        for q in unsorted:
            # Two stable sorts by attribute allocate nothing per hit (see _collect_segment).
            found[q].sort(key=attrgetter("indicator_id"))
            found[q].sort(key=attrgetter("distance"))
        return found

    def _collect_segment(
        self,
        found: list[list[IndexHit]],
        unsorted: set[int],
        *,
        keys: Keys,
        rows: Hits,
        dist: Hits,
        ends: Hits,
    ) -> None:
        """Append one segment's hits to each query's list, already in (distance, id) order.

        Sorting by (query, distance, key) in numpy equals sorting by id for uuid keys (their
        hex is the id). Doing it there, not with Python tuples, matters for near-duplicate
        lists, where a query has dozens of hits: each Python object allocated per hit also
        drives the garbage collector, which dominated batched queries.
        """
        total = int(ends[-1])
        if not total:
            return
        counts = np.diff(ends, prepend=0)
        which = np.repeat(np.arange(len(ends)), counts)
        hit_keys = keys[rows[:total]]
        order = np.lexsort((hit_keys[:, 1], hit_keys[:, 0], dist[:total], which))
        hits = list(map(IndexHit, self._codec.decode_many(hit_keys[order]), dist[:total][order].tolist()))
        odd = set(which[hit_keys[:, 0] == 0].tolist())  # non-uuid ids: key order is not id order
        start = 0
        for q in np.flatnonzero(counts).tolist():
            end = int(ends[q])
            if found[q] or q in odd:
                unsorted.add(q)
            found[q].extend(hits[start:end])
            start = end

    # --- bulk load, merge, persistence ---------------------------------------------------------

    def bulk_load(self, ids: Sequence[str], hashes: PdqInput) -> None:
        """Load many hashes at once: into an empty index, the base segment is built directly."""
        words = as_words(hashes)
        if len(ids) != len(words):
            raise ValueError(f"{len(ids)} ids for {len(words)} hashes")
        with self._merge_gate, self._lock:
            if not self._state.segments and not self._state.tail_count:
                self._install_base(self._codec.encode_many(ids), words)
                return
        self._add_words(ids, words)
        self.merge(full=True)

    def bulk_load_batches(self, batches: Iterable[tuple[Sequence[str], PdqInput]]) -> None:
        """``bulk_load`` from a stream of (ids, hashes) batches, e.g. rows read from the store.

        Ids are turned into 16-byte keys batch by batch, so a rebuild of 10M rows never holds
        10M Python strings at once (~1 GB); the base segment is then built in one go.
        """
        keys: list[Keys] = []
        words: list[Words] = []
        for ids, hashes in batches:
            batch = as_words(hashes)
            if len(ids) != len(batch):
                raise ValueError(f"{len(ids)} ids for {len(batch)} hashes")
            keys.append(self._codec.encode_many(ids))
            words.append(batch)
        if not keys:
            return
        all_keys, all_words = np.concatenate(keys), np.concatenate(words)
        with self._merge_gate, self._lock:
            if not self._state.segments and not self._state.tail_count:
                self._install_base(all_keys, all_words)
                return
        self._add_words(self._codec.decode_many(all_keys), all_words)
        self.merge(full=True)

    def _install_base(self, keys: Keys, words: Words) -> None:
        order = sort_by_key(keys)
        keys, words = keys[order], words[order]
        last = np.ones(len(keys), dtype=bool)  # a repeated id: its last hash wins (stable sort)
        last[:-1] = np.any(keys[:-1] != keys[1:], axis=1)
        segment = build_segment(words[last], keys[last])
        self._state = _View((segment,) if len(segment) else (), self._state.tail, 0)
        self._live = len(segment)

    def merge(self, *, full: bool = False) -> None:
        """Merge the tail (and the small segment; with ``full``, everything) now, in this thread."""
        with self._merge_gate:
            with self._lock:
                job = self._plan_merge(full=full)
            if job is not None:
                self._run_merge(job)

    def wait_for_merge(self) -> None:
        """Block until no background merge is running (tests, save, shutdown)."""
        with self._merge_gate:
            pass

    def _maybe_merge(self) -> None:
        """Start a merge when the tail is long enough and none is running (never blocks)."""
        if self._state.tail_count < self.seal_rows or not self._merge_gate.acquire(blocking=False):
            return
        with self._lock:
            job = self._plan_merge(full=False) if self._state.tail_count >= self.seal_rows else None
        if job is None:
            self._merge_gate.release()
        elif self._background:
            threading.Thread(target=self._merge_in_background, args=(job,), daemon=True).start()
        else:
            try:
                self._run_merge(job)
            finally:
                self._merge_gate.release()

    def _merge_in_background(self, job: MergeJob) -> None:
        """Runs in its own thread, which owns ``_merge_gate`` until the swap is done."""
        try:
            self._run_merge(job)
        except Exception:  # the index stays correct without the merge; say why it failed
            log.exception("background merge of the PDQ index failed")
        finally:
            self._merge_gate.release()
        self._maybe_merge()  # the tail may have grown past the mark meanwhile

    def _plan_merge(self, *, full: bool) -> MergeJob | None:
        state = self._state
        base, small = state.segments[:1], state.segments[1:]
        small_rows = sum(len(s) for s in small) + state.tail_count
        base_rows = len(base[0]) if base else 0
        replaced: tuple[Segment, ...]
        kept: tuple[Segment, ...]
        if full or not base or small_rows >= max(FULL_MERGE_MIN, FULL_MERGE_SHARE * base_rows):
            replaced, kept = state.segments, ()
        else:
            replaced, kept = small, base
        if not replaced and not state.tail_count:
            return None
        count = state.tail_count
        return MergeJob(
            replaced=replaced,
            kept=kept,
            seen_alive=tuple(s.alive.copy() for s in replaced),
            tail_words=state.tail.words,
            tail_ids=state.tail.ids[:count],
            tail_alive=state.tail.alive[:count].copy(),
        )

    def _run_merge(self, job: MergeJob) -> None:
        segment, moved = merge_parts(job, self._codec)
        with self._lock:
            self._install(job, segment, moved)
        log.debug("PDQ index merged: %d rows in the new segment", len(segment))

    def _install(self, job: MergeJob, segment: Segment, moved: list[npt.NDArray[np.int64]]) -> None:
        """Swap the merged segment in, replaying the removals made while it was built."""
        state = self._state
        now_alive = [s.alive for s in job.replaced] + [state.tail.alive[: len(job.tail_alive)]]
        for seen, now, rows in zip((*job.seen_alive, job.tail_alive), now_alive, moved, strict=True):
            died = np.flatnonzero((seen != 0) & (now == 0))
            segment.alive[rows[died]] = 0
        upto, count = len(job.tail_alive), state.tail_count
        tail = _Tail(max(_TAIL_START, 2 * (count - upto)))
        tail.words[: count - upto] = state.tail.words[upto:count]
        tail.alive[: count - upto] = state.tail.alive[upto:count]
        tail.ids = state.tail.ids[upto:count]
        self._tail_rows = {i: row for row, i in enumerate(tail.ids) if tail.alive[row]}
        segments = job.kept + ((segment,) if len(segment) else ())
        self._state = _View(segments, tail, count - upto)

    def save(self, directory: Path, *, meta: dict[str, str | int] | None = None) -> None:
        """Write the index to ``directory`` (numpy arrays and a checked manifest; see ``persist``)."""
        persist.save(directory, self.snapshot(meta=meta))

    def snapshot(self, *, meta: dict[str, str | int] | None = None) -> persist.Snapshot:
        """A consistent copy of what ``save`` writes, taken under the writer lock in O(rows/8).

        Segments are immutable apart from their liveness flags, which are copied; so the slow
        part of a save (writing and hashing the files) runs without holding up writers.
        """
        with self._lock:
            state = self._state
            return persist.Snapshot(
                segments=[(s, s.alive.copy()) for s in state.segments],
                tail_words=state.tail.words[: state.tail_count].copy(),
                tail_alive=state.tail.alive[: state.tail_count].copy(),
                tail_ids=state.tail.ids[: state.tail_count],
                other_ids=self._codec.others(),
                meta=dict(meta or {}),
            )

    @classmethod
    def load(
        cls, directory: Path, *, method: SearchMethod = "auto", background_merge: bool = True
    ) -> PdqIndex:
        """An index as ``save`` wrote it; raises ConfigError when the files are not that."""
        snapshot = persist.load(directory)
        index = cls(method=method, background_merge=background_merge)
        index._codec = IdCodec(snapshot.other_ids)
        segments = tuple(s for s, _ in snapshot.segments if len(s))
        tail = _Tail(max(_TAIL_START, 2 * len(snapshot.tail_ids)))
        count = len(snapshot.tail_ids)
        tail.words[:count] = snapshot.tail_words
        tail.alive[:count] = snapshot.tail_alive
        tail.ids = list(snapshot.tail_ids)
        index._state = _View(segments, tail, count)
        index._tail_rows = {i: row for row, i in enumerate(tail.ids) if tail.alive[row]}
        index._live = sum(int(np.count_nonzero(s.alive)) for s in segments) + len(index._tail_rows)
        index.loaded_meta = snapshot.meta
        return index

    def stats(self) -> dict[str, int]:
        """Sizes for the benchmark and status: live hashes, rows per part, array bytes."""
        state = self._state
        arrays: list[npt.NDArray[Any]] = [state.tail.words, state.tail.alive]
        for s in state.segments:
            arrays += [s.words, s.keys, s.alive, s.offsets, s.entries]
        return {
            "live": self._live,
            "segments": len(state.segments),
            "segment_rows": sum(len(s) for s in state.segments),
            "tail_rows": state.tail_count,
            "array_bytes": sum(int(a.nbytes) for a in arrays),
        }


def warm_up() -> None:
    """Compile (or load from numba's cache) every loop the index uses.

    That takes ~5 s on a fresh checkout and ~0.5 s after; a server can call this before it
    reports SERVING, so that its first match is not the one that pays.
    """
    index = PdqIndex(method="probe", background_merge=False)
    pdqs = np.arange(64 * 32, dtype=np.uint8).reshape(64, 32)
    index.bulk_load([f"warm-{n}" for n in range(32)], pdqs[:32])
    index.add_many([f"warm-{n}" for n in range(32, 64)], pdqs[32:])
    index.remove("warm-0")
    index.merge()
    index.query_batch(pdqs, 31)


def as_words(pdqs: PdqInput) -> Words:
    """Hashes as an (n, 4) uint64 array (big-endian words of the 32 bytes)."""
    if isinstance(pdqs, np.ndarray):
        raw = np.ascontiguousarray(pdqs, dtype=np.uint8)
        if raw.ndim != 2 or raw.shape[1] != 32:
            raise InvalidSignal(f"PDQ hashes must be an (n, 32) array, not {raw.shape}")
    else:
        if any(len(p) != 32 for p in pdqs):
            raise InvalidSignal("a PDQ hash is 32 bytes")
        raw = np.frombuffer(b"".join(pdqs), dtype=np.uint8).reshape(-1, 32)
    return raw.view(">u8").astype(np.uint64)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Threads for query_batch, made on first use (the compiled search releases the GIL)."""
    global _POOL  # noqa: PLW0603  (one pool per process, created lazily)
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(_WORKERS, thread_name_prefix="pdq-search")
        return _POOL
