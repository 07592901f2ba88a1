"""Feed entries: the unit an origin signs and its partners accept in order (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from node.errors import InvalidInput
from node.model.ids import Digest, KeyId, Seq
from node.model.rotation import KeyRotation
from node.model.tlp import Tlp

ENTRY_PAYLOAD_TYPE = "application/vnd.accord.entry+json; version=1"
"""The DSSE ``payloadType`` of a feed entry. Signed as part of PAE, so it cannot be swapped."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """Who may receive an entry: a TLP level and, for restricted levels, the recipients' key ids."""

    tlp: Tlp
    recipients: frozenset[KeyId] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.tlp.names_recipients and not self.recipients:
            raise InvalidInput(f"TLP {self.tlp.value} needs at least one named recipient")
        if not self.tlp.names_recipients and self.recipients:
            raise InvalidInput(f"TLP {self.tlp.value} is not addressed to recipients")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """The signed content of one feed position. ``bundle`` is the STIX 2.1 bundle as JSON data."""

    origin: KeyId
    seq: Seq
    prev: Digest | None
    created: datetime
    distribution: Distribution
    bundle: dict[str, Any]
    rotation: KeyRotation | None = None  # the key that signs the origin's entries after this one

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise InvalidInput("feed positions start at seq 1")
        if (self.seq == 1) != (self.prev is None):
            raise InvalidInput("seq 1 has no prev digest and every later entry has one")


@dataclass(frozen=True, slots=True)
class Head:
    """The last accepted entry of an origin."""

    origin: KeyId
    seq: Seq
    digest: Digest
