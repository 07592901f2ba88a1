"""Match queries: index hits plus provenance from the store (DESIGN §9).

The index answers which indicators are near; the store says who published them, under which
category and TLP. The node reports every match; the operator's policy decides what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from node.hashing import hash_bytes
from node.match import MatchLists
from node.model import (
    PDQ_MIN_QUALITY,
    IndexHit,
    Indicator,
    KeyId,
    Match,
    MatchResult,
    PdqThresholds,
    Signal,
    SignalType,
    VideoHit,
    VideoThresholds,
)
from node.model.clock import Clock, utc_now

BENIGN = "benign"
"""The category of safelist indicators: known-benign media that must never match as harmful."""

MatchRecorder = Callable[[list[str]], None]
"""Counts local matches per indicator (the store's match log, read by provenance and reports)."""

NameSource = Callable[[], Mapping[KeyId, str]]
"""Returns the display name of each known origin (partners by their local name, and us)."""


class ProvenanceSource(Protocol):
    """Where provenance comes from (the store)."""

    def indicators_by_id(self, ids: Iterable[str]) -> dict[str, Indicator]:
        """Current versions of the given indicators."""
        ...

    def quarantined_origins(self) -> set[KeyId]:
        """Origins whose signals must not match (equivocation evidence is held)."""
        ...


class Matcher:
    """Matches signals against the lists and explains each match."""

    def __init__(
        self,
        *,
        lists: MatchLists,
        store: ProvenanceSource,
        thresholds: PdqThresholds,
        names: NameSource,
        video: VideoThresholds | None = None,
        record: MatchRecorder | None = None,
        safelist: MatchLists | None = None,
        safelist_threshold: int = 31,
        clock: Clock = utc_now,
    ) -> None:
        """``safelist`` holds the operator's local safelist file; benign indicators come from ``lists``."""
        self._record = record
        self._lists = lists
        self._store = store
        self._thresholds = thresholds
        self._names = names
        self._video = video or VideoThresholds()
        self._safelist = safelist if safelist is not None else MatchLists()
        self._safelist_threshold = safelist_threshold
        self._clock = clock

    def match(self, signals: Sequence[Signal]) -> list[MatchResult]:
        """One result per query signal, matches nearest first.

        Revoked and expired (``valid_until`` passed) indicators, and those of a quarantined
        origin, never match. A safelisted query has no matches: what would have matched is
        reported as ``suppressed``.
        """
        widest = max(self._thresholds.widest, self._safelist_threshold)
        hits = self._lists.query_many(signals, pdq_threshold=widest, video=self._video)
        safe = self._local_safelist_flags(signals)
        indicators = self._store.indicators_by_id(h.indicator_id for batch in hits for h in batch)
        names = self._names()
        quarantined = self._store.quarantined_origins()
        now = self._clock()
        results: list[MatchResult] = []
        for signal, batch, on_safelist in zip(signals, hits, safe, strict=True):
            # The lists may lag a revocation by one refresh; the store is the truth.
            live = [
                (hit, ind)
                for hit in batch
                if (ind := indicators.get(hit.indicator_id)) is not None
                and _live(ind, now)
                and ind.origin not in quarantined
            ]
            benign = any(ind.category == BENIGN and h.distance <= self._safe_within(ind) for h, ind in live)
            matches = tuple(
                _match(ind, hit, names)
                for hit, ind in live
                if ind.category != BENIGN and hit.distance <= self._within(ind, names)
            )
            if benign or on_safelist:
                results.append(MatchResult(query=signal, matches=(), suppressed=matches, safelisted=True))
            else:
                results.append(MatchResult(query=signal, matches=matches))
        matched = [m.indicator_id for r in results for m in r.matches]
        if matched and self._record is not None:
            self._record(matched)  # one small write, only when something matched
        return results

    @property
    def has_local_safelist(self) -> bool:
        """True when the operator's safelist file listed anything."""
        return any(self._safelist.sizes().values())

    def _local_safelist_flags(self, signals: Sequence[Signal]) -> list[bool]:
        """Per signal: is it on the operator's safelist file (PDQ: within the threshold)?"""
        if not self.has_local_safelist:
            return [False] * len(signals)
        found = self._safelist.query_many(signals, pdq_threshold=self._safelist_threshold, video=self._video)
        return [bool(hits) for hits in found]

    def _safe_within(self, indicator: Indicator) -> int:
        if indicator.signal.type is SignalType.VPDQ:
            return self._video.frame_threshold
        return self._safelist_threshold if indicator.signal.type.is_perceptual else 0

    def _within(self, indicator: Indicator, names: Mapping[KeyId, str]) -> int:
        if indicator.signal.type is SignalType.VPDQ:
            return self._video.frame_threshold  # the video index applied the frame rule
        if not indicator.signal.type.is_perceptual:
            return 0
        partner = names.get(indicator.origin, "")
        return self._thresholds.limit_for(partner=partner, category=indicator.category)


def _live(indicator: Indicator, now: datetime) -> bool:
    """Neither revoked nor past its ``valid_until``."""
    return not indicator.revoked and (indicator.valid_until is None or indicator.valid_until > now)


def _match(indicator: Indicator, hit: IndexHit, names: Mapping[KeyId, str]) -> Match:
    video = hit if isinstance(hit, VideoHit) else None
    return Match(
        indicator_id=indicator.id,
        origin=indicator.origin,
        origin_name=names.get(indicator.origin, indicator.origin[:12]),
        category=indicator.category,
        signal_type=indicator.signal.type,
        content_type=indicator.content_type,
        distance=hit.distance,
        tlp=indicator.tlp,
        query_match_percent=None if video is None else video.query_match_percent,
        compared_match_percent=None if video is None else video.compared_match_percent,
    )


def signals_of_media(data: bytes) -> tuple[list[Signal], list[str]]:
    """The signals to match for media bytes, and notes on what could not be used.

    A PDQ hash below the quality floor is left out: it would match unrelated flat images. A
    video gives its vpdq signal (its good frames only).
    """
    hashes = hash_bytes(data)
    signals = [hashes.md5, hashes.sha256]
    notes = [hashes.note] if hashes.note else []
    if hashes.pdq is not None and hashes.pdq_quality is not None:
        if hashes.pdq_quality >= PDQ_MIN_QUALITY:
            signals.append(hashes.pdq)
        elif not notes:  # the hashing note already explains a low quality when there is one
            notes.append(f"pdq quality {hashes.pdq_quality} is below {PDQ_MIN_QUALITY}: not matched by pdq")
    if hashes.vpdq is not None:
        signals.append(hashes.vpdq)
    return signals, notes
