"""Per-partner acceptance policy and key compromise, as the operator sets them (DESIGN §3).

The policy decides which of a partner's indicators may match (categories, signal types) and
the trust level reported with each of its matches; a compromise mark makes every entry the
partner's key signed from a feed position on worthless, until the operator clears it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from node.errors import InvalidInput
from node.model.ids import KeyId, Seq
from node.model.signals import SignalType


class Trust(enum.Enum):
    """How far the operator trusts an origin: one vocabulary, one meaning, for pinned partners
    and unsigned sources (TAXII collections, MISP feeds) alike.

    AUTO: its indicators match, and each match says ``auto`` (the pipeline may act on it).
    REVIEW: its indicators match, and each match says ``review`` (a person confirms first).
    OBSERVE: its indicators are held and counted but never match (``accord query`` shows them).
    OWN marks this node's own indicators.
    """

    AUTO = "auto"
    REVIEW = "review"
    OBSERVE = "observe"
    OWN = "own"

    @classmethod
    def parse(cls, text: str) -> Trust:
        """A trust level an operator may set: auto, review or observe."""
        name = text.strip().lower()
        for member in (cls.AUTO, cls.REVIEW, cls.OBSERVE):
            if member.value == name:
                return member
        raise InvalidInput(f"unknown trust level {text[:20]!r} (auto, review, observe)")

    @property
    def matches(self) -> bool:
        """True when the origin's indicators may match (every level but OBSERVE)."""
        return self is not Trust.OBSERVE


@dataclass(frozen=True, slots=True)
class PartnerPolicy:
    """What this node accepts from one origin. ``None`` accepts every category / signal type."""

    categories: frozenset[str] | None = None
    signal_types: frozenset[SignalType] | None = None
    trust: Trust = Trust.AUTO
    share_sightings: bool = False

    def __post_init__(self) -> None:
        if self.trust is Trust.OWN:
            raise InvalidInput("'own' is not a trust level for a partner (auto, review, observe)")
        if self.categories is not None and not self.categories:
            raise InvalidInput("a policy accepts at least one category (or every category)")
        if self.signal_types is not None and not self.signal_types:
            raise InvalidInput("a policy accepts at least one signal type (or every type)")

    def accepts(self, *, category: str, signal_type: SignalType) -> bool:
        """True when an indicator with ``category`` and ``signal_type`` may match."""
        return (self.categories is None or category in self.categories) and (
            self.signal_types is None or signal_type in self.signal_types
        )


@dataclass(frozen=True, slots=True)
class Compromise:
    """The operator's mark: ``key_id`` is compromised from feed position ``from_seq`` on."""

    key_id: KeyId
    from_seq: Seq
    marked_at: datetime

    def __post_init__(self) -> None:
        if self.from_seq < 1:
            raise InvalidInput("a compromise starts at a feed position of 1 or more")

    def covers(self, seq: int) -> bool:
        """True when the entry at ``seq`` is from the compromised range."""
        return seq >= self.from_seq
