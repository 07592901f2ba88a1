"""Analyst queries over the indicators a node holds: the filter, the status, and a result row.

A query is a pure value: the store turns it into SQL, the sync layer adds what SQL cannot
(near-duplicate distance, disputes) and decides what the caller may see.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

from node.errors import InvalidInput
from node.model.ids import KeyId
from node.model.indicators import ContentType, Indicator
from node.model.provenance import MAX_LABELS
from node.model.signals import PDQ_DEFAULT_THRESHOLD, Signal, SignalType
from node.model.tlp import Tlp

MAX_QUERY_LIMIT = 100_000
"""The most rows one query returns: beyond that an analyst wants ``accord export``."""

MAX_NEAR_DISTANCE = 64
"""A near-duplicate search wider than a quarter of PDQ's 256 bits finds unrelated images."""


class IndicatorStatus(enum.Enum):
    """Where an indicator stands, most decisive first (an indicator has exactly one)."""

    REVOKED = "revoked"  # its creator retracted it for good
    QUARANTINED = "quarantined"  # its origin equivocated: nothing of it is trusted
    EXPIRED = "expired"  # past its valid_until
    DISPUTED = "disputed"  # a partner's Opinion disagrees with it
    ACTIVE = "active"

    @classmethod
    def parse(cls, text: str) -> IndicatorStatus:
        """The status named ``text``."""
        for member in cls:
            if member.value == text.strip().lower():
                return member
        names = ", ".join(m.value for m in cls)
        raise InvalidInput(f"unknown status {text[:20]!r} ({names})")


class SortKey(enum.Enum):
    """Orders a query can return rows in; ``-`` prefixed names are descending."""

    NEWEST = "-created"
    OLDEST = "created"
    MODIFIED = "-modified"
    CATEGORY = "category"
    ORIGIN = "origin"
    DISTANCE = "distance"  # nearest first; only with a near-duplicate search

    @classmethod
    def parse(cls, text: str) -> SortKey:
        """The order named ``text`` (``-created``, ``created``, ``-modified``, ...)."""
        for member in cls:
            if member.value == text.strip().lower():
                return member
        names = ", ".join(m.value for m in cls)
        raise InvalidInput(f"unknown sort {text[:20]!r} ({names})")


@dataclass(frozen=True, slots=True)
class IndicatorQuery:
    """What an analyst asks for. Empty collections mean "any"; every given filter must hold."""

    signal: Signal | None = None
    near: Signal | None = None
    distance: int = PDQ_DEFAULT_THRESHOLD
    categories: frozenset[str] = frozenset()
    origins: frozenset[KeyId] = frozenset()
    tlps: frozenset[Tlp] = frozenset()
    statuses: frozenset[IndicatorStatus] = frozenset()
    content_types: frozenset[ContentType] = frozenset()
    since: datetime | None = None  # first published at or after
    until: datetime | None = None  # first published before
    sort: SortKey = SortKey.NEWEST
    limit: int = 100
    labels: frozenset[str] = frozenset()  # every one must be on the indicator (issue 15)
    include_red: bool = False  # RED rows only when a person asked for them (and it is audited)

    def __post_init__(self) -> None:
        if self.signal is not None and self.near is not None:
            raise InvalidInput("give either an exact signal or a near-duplicate search, not both")
        if self.near is not None and self.near.type is not SignalType.PDQ:
            raise InvalidInput("a near-duplicate search takes a pdq signal (other types match exactly)")
        if not 0 <= self.distance <= MAX_NEAR_DISTANCE:
            raise InvalidInput(f"the distance is between 0 and {MAX_NEAR_DISTANCE} bits")
        if not 1 <= self.limit <= MAX_QUERY_LIMIT:
            raise InvalidInput(f"the limit is between 1 and {MAX_QUERY_LIMIT}")
        if self.sort is SortKey.DISTANCE and self.near is None:
            raise InvalidInput("sorting by distance needs a near-duplicate search (--near)")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise InvalidInput("--until must be later than --since")
        if len(self.labels) > MAX_LABELS:  # an indicator carries no more: such a query matches nothing
            raise InvalidInput(f"a query asks for at most {MAX_LABELS} labels (every one must be on the row)")
        if Tlp.RED in self.tlps and not self.include_red:
            raise InvalidInput("TLP:RED results are shown only when asked for explicitly (--include-red)")

    @property
    def touches_red(self) -> bool:
        """True when RED rows may be in the answer (such a query is audited)."""
        return self.include_red and (not self.tlps or Tlp.RED in self.tlps)


@dataclass(frozen=True, slots=True)
class QueryRow:
    """One indicator in an answer, with what the analyst needs beside it."""

    indicator: Indicator
    status: IndicatorStatus
    origin_name: str
    distance: int | None = None  # set by a near-duplicate search
    # The MISP warninglist naming its value as known benign: held, counted, never matched.
    warninglisted: str | None = None


@dataclass(frozen=True, slots=True)
class QueryAnswer:
    """The rows of a query, and whether more matched than the limit allowed."""

    rows: tuple[QueryRow, ...]
    truncated: bool = False
    withheld: int = field(default=0)  # rows left out because the caller may not see them


def status_of(
    indicator: Indicator, *, now: datetime, quarantined: frozenset[KeyId], disputed: frozenset[str]
) -> IndicatorStatus:
    """The single status of ``indicator``, most decisive first."""
    if indicator.revoked:
        return IndicatorStatus.REVOKED
    if indicator.origin in quarantined:
        return IndicatorStatus.QUARANTINED
    if indicator.valid_until is not None and indicator.valid_until <= now:
        return IndicatorStatus.EXPIRED
    if indicator.id in disputed:
        return IndicatorStatus.DISPUTED
    return IndicatorStatus.ACTIVE


def parse_time_bound(text: str) -> datetime:
    """A period bound: a date (``2026-11-30``, midnight UTC) or an RFC 3339 UTC timestamp."""
    value = text.strip()
    try:
        if len(value) == len("2026-11-30"):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{text[:40]!r} is not a date (YYYY-MM-DD) or an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise InvalidInput(f"{text[:40]!r} has no time zone: write it in UTC with a trailing Z")
    return moment.astimezone(UTC)
