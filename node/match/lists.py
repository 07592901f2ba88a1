"""Match lists: one index per signal type, updated incrementally, safe for concurrent readers.

``ListRefresher`` applies the store's change stream here; ``Matcher`` queries. Writers are
serialised by one lock; readers take none, so concurrent queries run on both cores. That
holds because each index is safe for lock-free readers on its own: the PDQ index publishes
immutable views (``node.match.pdq``), and an exact index is a dict whose single operations
are atomic under the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from node.match.exact import ExactIndex
from node.match.models import ModelIndex
from node.match.pdq import PdqIndex
from node.match.video import VideoIndex
from node.match.warninglists import Warninglists
from node.model import IndexHit, Signal, SignalType, VideoThresholds
from node.model.web import host_of, parent_domains

_DEFAULT_VIDEO = VideoThresholds()


@dataclass(frozen=True, slots=True)
class ListUpdate:
    """Make ``indicator_id`` match ``signal`` (``active``) or stop matching (not ``active``)."""

    indicator_id: str
    signal: Signal
    active: bool


class MatchLists:
    """All indexes of one node. ``ready`` turns true once the initial load has finished."""

    def __init__(
        self,
        *,
        pdq: PdqIndex | None = None,
        video: VideoIndex | None = None,
        warninglists: Callable[[], Warninglists] | None = None,
    ) -> None:
        """``pdq`` and ``video`` let the node start from indexes it saved (their ``load``).

        ``warninglists`` (read on the first exact add) names known-benign values: an indicator
        listing one is held aside, never indexed, so it can never match; it is counted in
        :meth:`warninglisted`.
        """
        self._lock = threading.Lock()  # writers only
        self._warninglists = warninglists
        self._warninglisted: dict[str, str] = {}  # indicator id → warninglist name
        self._exact: dict[SignalType, ExactIndex] = {
            t: ExactIndex() for t in SignalType if not t.is_perceptual and t is not SignalType.MODEL
        }
        self._models = ModelIndex()  # rebuilt from the store on a resume, like the exact lists
        self._pdq = pdq if pdq is not None else PdqIndex()
        self._video = video if video is not None else VideoIndex()
        self.ready = False

    @property
    def pdq(self) -> PdqIndex:
        """The PDQ index (to save it, or to query batches of hashes directly)."""
        return self._pdq

    def adopt(self, *, pdq: PdqIndex, video: VideoIndex) -> None:
        """Replace the PDQ and video indexes with loaded ones (before the lists are ready)."""
        with self._lock:
            self._pdq, self._video = pdq, video

    @property
    def video(self) -> VideoIndex:
        """The video (vPDQ) index."""
        return self._video

    def apply(self, updates: Iterable[ListUpdate]) -> int:
        """Apply updates in order; returns how many were applied.

        PDQ adds go to the index as one batch (one lookup pass, one view swap) until a PDQ
        removal needs them applied first: that is what lets a sync of a million indicators be
        matchable within seconds. Exact updates never touch the PDQ index, so a list that mixes
        md5 and pdq lines still adds its PDQ hashes in one batch.
        """
        applied = 0
        pending: list[ListUpdate] = []
        with self._lock:
            for update in updates:
                applied += 1
                if update.signal.type is SignalType.PDQ:
                    if update.active:
                        pending.append(update)
                        continue
                    self._add_pdq(pending)
                    pending = []
                self._apply_one(update)
            self._add_pdq(pending)
        return applied

    def _add_pdq(self, updates: Sequence[ListUpdate]) -> None:
        if updates:
            self._pdq.add_many([u.indicator_id for u in updates], [u.signal.pdq_bytes() for u in updates])

    def _apply_one(self, update: ListUpdate) -> None:
        signal = update.signal
        if signal.type is SignalType.PDQ:
            self._pdq.remove(update.indicator_id)  # adds are batched by ``apply``
            return
        if signal.type is SignalType.VPDQ:
            if update.active:
                self._video.add(update.indicator_id, [bytes.fromhex(f) for f in signal.frames()])
            else:
                self._video.remove(update.indicator_id)
            return
        if signal.type is SignalType.MODEL:
            if update.active:
                self._models.add(update.indicator_id, signal.tensor_digests())
            else:
                self._models.remove(update.indicator_id)
            return
        index = self._exact[signal.type]
        if not update.active:
            index.remove(update.indicator_id)
            self._warninglisted.pop(update.indicator_id, None)
            return
        benign = None if self._warninglists is None else self._warninglists().list_of(signal)
        if benign is None:
            index.add(update.indicator_id, signal.value)
        else:
            self._warninglisted[update.indicator_id] = benign

    def warninglisted(self) -> dict[str, str]:
        """Active indicators held aside because a warninglist names their value: id → list name."""
        with self._lock:
            return dict(self._warninglisted)

    def query(
        self, signal: Signal, *, pdq_threshold: int, video: VideoThresholds = _DEFAULT_VIDEO
    ) -> list[IndexHit]:
        """Indicators matching ``signal``: equal value, PDQ within ``pdq_threshold`` bits, or
        videos sharing enough frames (``video``)."""
        if signal.type is SignalType.PDQ:
            return self._pdq.query(signal.pdq_bytes(), pdq_threshold)
        if signal.type is SignalType.VPDQ:
            return list(self._video.query([bytes.fromhex(f) for f in signal.frames()], video))
        if signal.type is SignalType.MODEL:
            return list(self._models.query(signal.tensor_digests()))
        if signal.type.is_address:
            return self._query_address(signal)
        return self._exact[signal.type].query(signal.value)

    def _query_address(self, signal: Signal) -> list[IndexHit]:
        """A URL matches the same URL and any listed domain of its host or above it; a domain
        matches itself and the listed domains above it (``a.evil.example`` → ``evil.example``,
        never ``notevil.example``: domains are compared label by label)."""
        hits: list[IndexHit] = []
        if signal.type is SignalType.URL:
            hits.extend(self._exact[SignalType.URL].query(signal.value))
            host = host_of(signal.value)
        else:
            host = signal.value
        domains = self._exact[SignalType.DOMAIN]
        for domain in parent_domains(host):
            hits.extend(domains.query(domain))
        return hits

    def query_many(
        self, signals: Sequence[Signal], *, pdq_threshold: int, video: VideoThresholds = _DEFAULT_VIDEO
    ) -> list[list[IndexHit]]:
        """``query`` for each signal; the PDQ ones go to the index as one batch."""
        results: list[list[IndexHit]] = [[] for _ in signals]
        pdq_at = [n for n, s in enumerate(signals) if s.type is SignalType.PDQ]
        if pdq_at:
            batch = self._pdq.query_batch([signals[n].pdq_bytes() for n in pdq_at], pdq_threshold)
            for n, hits in zip(pdq_at, batch, strict=True):
                results[n] = hits
        for n, signal in enumerate(signals):
            if signal.type is not SignalType.PDQ:
                results[n] = self.query(signal, pdq_threshold=pdq_threshold, video=video)
        return results

    def sizes(self) -> dict[str, int]:
        """Listed indicators per signal type."""
        sizes = {t.value: len(i) for t, i in self._exact.items()}
        sizes[SignalType.PDQ.value] = len(self._pdq)
        sizes[SignalType.VPDQ.value] = len(self._video)
        sizes[SignalType.MODEL.value] = len(self._models)
        return sizes
