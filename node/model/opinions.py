"""Opinions: what other origins think of an indicator (DESIGN §7 feedback), and their aggregate.

An origin states one opinion per indicator it did not create; a later opinion by the same
author replaces its earlier one and a revoked opinion withdraws it. Match results report the
tally of the current opinions, never who must act on them: the operator's policy decides.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from node.errors import InvalidInput
from node.model.ids import KeyId
from node.model.indicators import parse_indicator_id

_OPINION_ID = re.compile(r"opinion--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
MAX_EXPLANATION = 1000
"""Characters of an opinion's explanation: a reason for a reviewer, not a document."""


def parse_opinion_id(text: str) -> str:
    """A STIX opinion id with a version-4 UUID, as Accord creates them."""
    if not isinstance(text, str) or not _OPINION_ID.fullmatch(text):
        raise InvalidInput("an opinion id looks like opinion--<uuid4>")
    return text


class OpinionValue(enum.Enum):
    """STIX 2.1 opinion-enum, from dispute to agreement."""

    STRONGLY_DISAGREE = "strongly-disagree"
    DISAGREE = "disagree"
    NEUTRAL = "neutral"
    AGREE = "agree"
    STRONGLY_AGREE = "strongly-agree"

    @property
    def agrees(self) -> bool:
        """True for agree and strongly-agree."""
        return self in (OpinionValue.AGREE, OpinionValue.STRONGLY_AGREE)

    @property
    def disputes(self) -> bool:
        """True for disagree and strongly-disagree."""
        return self in (OpinionValue.DISAGREE, OpinionValue.STRONGLY_DISAGREE)


@dataclass(frozen=True, slots=True)
class Opinion:
    """One version of ``origin``'s opinion of the indicator ``indicator_id``."""

    id: str
    origin: KeyId
    indicator_id: str
    value: OpinionValue
    created: datetime
    modified: datetime
    explanation: str | None = None
    revoked: bool = False

    def __post_init__(self) -> None:
        parse_opinion_id(self.id)
        parse_indicator_id(self.indicator_id)
        if self.created.tzinfo is None or self.modified.tzinfo is None:
            raise InvalidInput("opinion timestamps must be timezone-aware (UTC)")
        if self.modified < self.created:
            raise InvalidInput("an opinion's modified time precedes its created time")
        if self.explanation is not None:
            if not self.explanation.strip():
                raise InvalidInput("an opinion's explanation, when given, is not blank")
            if len(self.explanation) > MAX_EXPLANATION:
                raise InvalidInput(f"an opinion's explanation is at most {MAX_EXPLANATION} characters")


class Consensus(enum.Enum):
    """The aggregate of the current opinions of an indicator.

    NONE: nobody stated one (or only neutral ones); AGREED: agreements only; DISPUTED:
    disputes only; CONTESTED: both agreements and disputes.
    """

    NONE = "none"
    AGREED = "agreed"
    DISPUTED = "disputed"
    CONTESTED = "contested"


@dataclass(frozen=True, slots=True)
class OpinionTally:
    """How many independent origins agree with and dispute one indicator."""

    agreed: int = 0
    disputed: int = 0

    @classmethod
    def of(cls, opinions: Iterable[Opinion]) -> OpinionTally:
        """The tally of current (not revoked) opinions, one per author."""
        latest: dict[KeyId, Opinion] = {}
        for opinion in opinions:
            held = latest.get(opinion.origin)
            if held is None or opinion.modified > held.modified:
                latest[opinion.origin] = opinion
        live = [o for o in latest.values() if not o.revoked]
        return cls(agreed=sum(o.value.agrees for o in live), disputed=sum(o.value.disputes for o in live))

    @property
    def consensus(self) -> Consensus:
        """NONE, AGREED, DISPUTED or CONTESTED (see :class:`Consensus`)."""
        if self.agreed and self.disputed:
            return Consensus.CONTESTED
        if self.disputed:
            return Consensus.DISPUTED
        return Consensus.AGREED if self.agreed else Consensus.NONE
