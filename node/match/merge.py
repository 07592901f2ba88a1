"""Merging parts of the PDQ index into one new segment, off to the side (DESIGN §9).

``node.match.pdq`` plans a merge under its writer lock (which segments and how much of the
tail, with the liveness it saw then), runs this in a background thread without any lock, and
swaps the result in under the lock, replaying the removals made meanwhile through the
old-to-new row maps returned here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from node.match.ids import IdCodec, Keys, merge_sorted, sort_by_key
from node.match.segment import Segment, Words, build_segment


@dataclass(frozen=True, slots=True)
class MergeJob:
    """What a background merge replaces, with the liveness it saw when it started."""

    replaced: tuple[Segment, ...]
    kept: tuple[Segment, ...]
    seen_alive: tuple[npt.NDArray[np.uint8], ...]
    tail_words: Words
    tail_ids: list[str]
    tail_alive: npt.NDArray[np.uint8]


def merge_parts(job: MergeJob, codec: IdCodec) -> tuple[Segment, list[npt.NDArray[np.int64]]]:
    """Build one segment from the live rows of the replaced parts, in key order.

    Returns it with, for each part (segments, then the tail), the new row of each old row (-1
    where dropped), so that removals made during the build can be replayed on it.
    """
    parts: list[tuple[Keys, Words, npt.NDArray[np.int64]]] = []
    for segment, alive in zip(job.replaced, job.seen_alive, strict=True):
        live = np.flatnonzero(alive)
        parts.append((segment.keys[live], segment.words, live))
    live = np.flatnonzero(job.tail_alive)
    keys = codec.encode_many([job.tail_ids[r] for r in live.tolist()])
    order = sort_by_key(keys)
    parts.append((keys[order], job.tail_words, live[order]))
    merged_keys = parts[0][0]
    source = np.zeros(len(merged_keys), dtype=np.int64)
    local = parts[0][2]
    for n, (part_keys, _, part_rows) in enumerate(parts[1:], start=1):
        order = merge_sorted(merged_keys, part_keys)
        merged_keys = np.concatenate([merged_keys, part_keys])[order]
        source = np.concatenate([source, np.full(len(part_keys), n)])[order]
        local = np.concatenate([local, part_rows])[order]
    words = np.empty((len(merged_keys), 4), dtype=np.uint64)
    moved = []
    for n, (segment_words, part_size) in enumerate(
        [(s.words, len(s)) for s in job.replaced] + [(job.tail_words, len(job.tail_alive))]
    ):
        mine = np.flatnonzero(source == n)
        words[mine] = segment_words[local[mine]]
        rows = np.full(part_size, -1, dtype=np.int64)
        rows[local[mine]] = mine
        moved.append(rows)
    return build_segment(words, merged_keys), moved
