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
from node.model import PDQ_MIN_QUALITY, Indicator, KeyId, Match, MatchResult, PdqThresholds, Signal
from node.model.clock import Clock, utc_now

BENIGN = "benign"
"""The category of safelist indicators: known-benign media that must never match as harmful."""

NameSource = Callable[[], Mapping[KeyId, str]]
"""Returns the display name of each known origin (partners by their local name, and us)."""


class ProvenanceSource(Protocol):
    """Where provenance comes from (the store)."""

    def indicators_by_id(self, ids: Iterable[str]) -> dict[str, Indicator]:
        """Current versions of the given indicators."""
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
        safelist: MatchLists | None = None,
        safelist_threshold: int = 31,
        clock: Clock = utc_now,
    ) -> None:
        """``safelist`` holds the operator's local safelist file; benign indicators come from ``lists``."""
        self._lists = lists
        self._store = store
        self._thresholds = thresholds
        self._names = names
        self._safelist = safelist if safelist is not None else MatchLists()
        self._safelist_threshold = safelist_threshold
        self._clock = clock

    def match(self, signals: Sequence[Signal]) -> list[MatchResult]:
        """One result per query signal, matches nearest first.

        Revoked and expired (``valid_until`` passed) indicators never match. A safelisted query
        has no matches: what would have matched is reported as ``suppressed``.
        """
        widest = max(self._thresholds.widest, self._safelist_threshold)
        hits = self._lists.query_many(signals, pdq_threshold=widest)
        safe = self._local_safelist_flags(signals)
        indicators = self._store.indicators_by_id(h.indicator_id for batch in hits for h in batch)
        names = self._names()
        now = self._clock()
        results: list[MatchResult] = []
        for signal, batch, on_safelist in zip(signals, hits, safe, strict=True):
            # The lists may lag a revocation by one refresh; the store is the truth.
            live = [
                (hit.distance, ind)
                for hit in batch
                if (ind := indicators.get(hit.indicator_id)) is not None and _live(ind, now)
            ]
            benign = any(ind.category == BENIGN and d <= self._safe_within(ind) for d, ind in live)
            matches = tuple(
                _match(ind, distance, names)
                for distance, ind in live
                if ind.category != BENIGN and distance <= self._within(ind, names)
            )
            if benign or on_safelist:
                results.append(MatchResult(query=signal, matches=(), suppressed=matches, safelisted=True))
            else:
                results.append(MatchResult(query=signal, matches=matches))
        return results

    @property
    def has_local_safelist(self) -> bool:
        """True when the operator's safelist file listed anything."""
        return any(self._safelist.sizes().values())

    def _local_safelist_flags(self, signals: Sequence[Signal]) -> list[bool]:
        """Per signal: is it on the operator's safelist file (PDQ: within the threshold)?"""
        if not self.has_local_safelist:
            return [False] * len(signals)
        found = self._safelist.query_many(signals, pdq_threshold=self._safelist_threshold)
        return [bool(hits) for hits in found]

    def _safe_within(self, indicator: Indicator) -> int:
        return self._safelist_threshold if indicator.signal.type.is_perceptual else 0

    def _within(self, indicator: Indicator, names: Mapping[KeyId, str]) -> int:
        if not indicator.signal.type.is_perceptual:
            return 0
        partner = names.get(indicator.origin, "")
        return self._thresholds.limit_for(partner=partner, category=indicator.category)


def _live(indicator: Indicator, now: datetime) -> bool:
    """Neither revoked nor past its ``valid_until``."""
    return not indicator.revoked and (indicator.valid_until is None or indicator.valid_until > now)


def _match(ind: Indicator, distance: int, names: Mapping[KeyId, str]) -> Match:
    return Match(
        indicator_id=ind.id,
        origin=ind.origin,
        origin_name=names.get(ind.origin, ind.origin[:12]),
        category=ind.category,
        signal_type=ind.signal.type,
        content_type=ind.content_type,
        distance=distance,
        tlp=ind.tlp,
    )


def signals_of_media(data: bytes) -> tuple[list[Signal], list[str]]:
    """The signals to match for media bytes, and notes on what could not be used.

    A PDQ hash below the quality floor is left out: it would match unrelated flat images.
    """
    hashes = hash_bytes(data)
    signals = [hashes.md5, hashes.sha256]
    notes = [hashes.note] if hashes.note else []
    if hashes.pdq is not None and hashes.pdq_quality is not None:
        if hashes.pdq_quality >= PDQ_MIN_QUALITY:
            signals.append(hashes.pdq)
        elif not notes:  # the hashing note already explains a low quality when there is one
            notes.append(f"pdq quality {hashes.pdq_quality} is below {PDQ_MIN_QUALITY}: not matched by pdq")
    return signals, notes
