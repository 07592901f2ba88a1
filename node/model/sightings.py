"""Sightings: "we matched indicator X N times between t1 and t2" (DESIGN §7 feedback).

A node that opted in for a partner publishes its sightings of that partner's indicators back,
addressed to the indicator's origin only; the origin reads them as feedback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from node.errors import InvalidInput
from node.model.ids import KeyId
from node.model.indicators import parse_indicator_id

_SIGHTING_ID = re.compile(r"sighting--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
MAX_SIGHTING_COUNT = 999_999_999
"""The largest ``count`` STIX 2.1 allows on a Sighting."""


def parse_sighting_id(text: str) -> str:
    """A STIX sighting id with a version-4 UUID, as Accord creates them."""
    if not isinstance(text, str) or not _SIGHTING_ID.fullmatch(text):
        raise InvalidInput("a sighting id looks like sighting--<uuid4>")
    return text


@dataclass(frozen=True, slots=True)
class Sighting:
    """``origin`` matched ``indicator_id`` ``count`` times between ``first_seen`` and ``last_seen``."""

    id: str
    origin: KeyId
    indicator_id: str
    count: int
    first_seen: datetime
    last_seen: datetime
    created: datetime

    def __post_init__(self) -> None:
        parse_sighting_id(self.id)
        parse_indicator_id(self.indicator_id)
        if not 1 <= self.count <= MAX_SIGHTING_COUNT:
            raise InvalidInput(f"a sighting counts between 1 and {MAX_SIGHTING_COUNT} matches")
        if any(t.tzinfo is None for t in (self.first_seen, self.last_seen, self.created)):
            raise InvalidInput("sighting timestamps must be timezone-aware (UTC)")
        if self.last_seen < self.first_seen:
            raise InvalidInput("a sighting's last_seen precedes its first_seen")
