"""Match results with their provenance (DESIGN §9). The node reports; the operator decides."""

from __future__ import annotations

from dataclasses import dataclass

from node.model.ids import KeyId
from node.model.indicators import ContentType
from node.model.signals import Signal, SignalType
from node.model.tlp import Tlp


@dataclass(frozen=True, slots=True)
class IndexHit:
    """An index's answer: a stored indicator and its distance from the query (0 for exact)."""

    indicator_id: str
    distance: int


@dataclass(frozen=True, slots=True)
class Match:
    """One listed indicator that matches a query signal."""

    indicator_id: str
    origin: KeyId
    origin_name: str
    category: str
    signal_type: SignalType
    content_type: ContentType
    distance: int
    tlp: Tlp


@dataclass(frozen=True, slots=True)
class MatchResult:
    """All matches of one query signal, nearest first."""

    query: Signal
    matches: tuple[Match, ...]

    @property
    def corroboration(self) -> int:
        """How many independent origins published a matching signal."""
        return len({m.origin for m in self.matches})
