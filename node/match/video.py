"""Video (vPDQ) index: listed videos by their frame PDQ hashes, on top of the PDQ index.

Every distinct frame of a listed video is one row of a :class:`PdqIndex` named
``<indicator id>#<frame number>``, so a query video's frames are searched exactly (recall 1.0
within the frame threshold) with the same segments, tombstones and lock-free readers as
images. A video then matches by share of frames (Meta's vPDQ rule, :class:`VideoThresholds`):
how many of the query's frames have a listed frame within the threshold, and how many of the
listed video's frames were hit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from node.errors import ConfigError
from node.match import persist
from node.match.pdq import PdqIndex
from node.model import IndexHit, VideoHit, VideoThresholds

_SEPARATOR = "#"
_COUNTS_META = "video_frames"  # manifest meta key: {indicator id: frames listed}


class VideoIndex:
    """Listed videos. Thread-safe like the PDQ index: lock-free readers, serialised writers."""

    def __init__(self, *, frames: PdqIndex | None = None, counts: dict[str, int] | None = None) -> None:
        """Start empty, or from a frame index and frame counts that ``load`` read back."""
        self._frames = frames if frames is not None else PdqIndex()
        self._counts: dict[str, int] = dict(counts or {})  # frames listed per video
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._counts)

    @property
    def frames(self) -> PdqIndex:
        """The frame index (for stats and warm-up)."""
        return self._frames

    def add(self, indicator_id: str, frames: Sequence[bytes]) -> None:
        """List ``indicator_id`` with its distinct frame hashes (replacing an earlier listing)."""
        with self._lock:
            self._remove_locked(indicator_id)
            self._frames.add_many([_frame_id(indicator_id, n) for n in range(len(frames))], frames)
            self._counts[indicator_id] = len(frames)

    def remove(self, indicator_id: str) -> None:
        """Stop ``indicator_id`` matching from the next query on; a no-op when not listed."""
        with self._lock:
            self._remove_locked(indicator_id)

    def _remove_locked(self, indicator_id: str) -> None:
        # Counts go first: a reader that still sees a frame of this video finds no count and
        # drops the hit, so a revoked video never half-matches.
        count = self._counts.pop(indicator_id, None)
        if count:
            self._frames.remove_many([_frame_id(indicator_id, n) for n in range(count)])

    def query(self, frames: Sequence[bytes], thresholds: VideoThresholds) -> list[VideoHit]:
        """Listed videos that ``frames`` (a query video's distinct frames) match, best first."""
        if not frames:
            return []
        per_frame = self._frames.query_batch(list(frames), thresholds.frame_threshold)
        best: dict[str, dict[int, int]] = {}  # video → query frame → nearest distance
        hit_frames: dict[str, set[int]] = {}  # video → its frames hit by some query frame
        for query_frame, hits in enumerate(per_frame):
            for hit in hits:
                video, listed_frame = _split(hit)
                nearest = best.setdefault(video, {})
                nearest.setdefault(query_frame, hit.distance)  # hits come nearest first
                hit_frames.setdefault(video, set()).add(listed_frame)
        judged = (
            self._judge(v, nearest, hit_frames[v], len(frames), thresholds) for v, nearest in best.items()
        )
        found = [video_hit for video_hit in judged if video_hit is not None]
        found.sort(key=lambda h: (-h.query_match_percent, h.distance, h.indicator_id))
        return found

    def _judge(
        self, video: str, nearest: dict[int, int], hit: set[int], queried: int, thresholds: VideoThresholds
    ) -> VideoHit | None:
        listed = self._counts.get(video)
        if not listed:
            return None  # removed while this query ran
        query_share = 100.0 * len(nearest) / queried
        compared_share = 100.0 * len(hit) / listed
        if query_share < thresholds.query_match_percent or compared_share < thresholds.compared_match_percent:
            return None
        distance = round(sum(nearest.values()) / len(nearest))
        return VideoHit(video, distance, round(query_share, 2), round(compared_share, 2))

    # --- persistence ---------------------------------------------------------------------------

    def save(self, directory: Path, *, meta: dict[str, str | int] | None = None) -> None:
        """Write the frame index and the frame counts (in its checked manifest) to ``directory``."""
        persist.save(directory, self.snapshot(meta=meta))

    def snapshot(self, *, meta: dict[str, str | int] | None = None) -> persist.Snapshot:
        """A consistent copy of what ``save`` writes (see ``PdqIndex.snapshot``)."""
        with self._lock:
            counts = json.dumps(self._counts, separators=(",", ":"), sort_keys=True)
            return self._frames.snapshot(meta={**(meta or {}), _COUNTS_META: counts})

    @classmethod
    def load(cls, directory: Path) -> tuple[VideoIndex, dict[str, str | int]]:
        """A video index as ``save`` wrote it, and the rest of its meta; ConfigError otherwise."""
        frames = PdqIndex.load(directory)
        meta = dict(frames.loaded_meta)
        counts = _counts(meta.pop(_COUNTS_META, None), directory)
        return cls(frames=frames, counts=counts), meta


def _counts(raw: object, directory: Path) -> dict[str, int]:
    try:
        counts = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        counts = None
    if not isinstance(counts, dict) or not all(
        isinstance(k, str) and type(v) is int and v > 0 for k, v in counts.items()
    ):
        raise ConfigError(f"the video index in {directory} has no valid frame counts")
    return counts


def _frame_id(indicator_id: str, frame: int) -> str:
    return f"{indicator_id}{_SEPARATOR}{frame}"


def _split(hit: IndexHit) -> tuple[str, int]:
    video, _, frame = hit.indicator_id.rpartition(_SEPARATOR)
    return video, int(frame)
