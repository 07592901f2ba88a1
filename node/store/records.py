"""Records the store returns that are about the node's own bookkeeping, not the domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from node.model import Envelope, KeyId, Seq, Tlp


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An accepted entry as held: the header envelope exactly as signed and its body as it
    travels (None while missing), plus what egress checks need."""

    origin: KeyId
    seq: Seq
    tlp: Tlp
    recipients: frozenset[KeyId]
    envelope: Envelope
    body: bytes | None = None
    sealed: bool = False


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """The last pull from one partner."""

    partner: str
    last_attempt: str | None
    last_success: str | None
    last_result: str | None
    last_error: str | None
    received: int
    rejected: int


class IndicatorChange(NamedTuple):
    """One row of the change stream the match lists tail: an indicator became (in)active.

    A NamedTuple rather than a frozen dataclass: a first sync reads millions of these, and a
    tuple is built ~4x faster."""

    change_id: int
    indicator_id: str
    signal_type: str
    value: str
    active: bool


@dataclass(frozen=True, slots=True)
class PdqStretch:
    """A stretch of the change stream read for an initial list load: its active PDQ rows as
    columns (ids, and their hashes as 32 bytes each, in the same order), every other row as a
    change. Building one tuple per PDQ row cost ~1.8 s of a 1M load; the columns are joined by
    SQLite."""

    last_change_id: int
    pdq_ids: list[str]
    pdq_hashes: bytes
    others: list[IndicatorChange]  # rows of other signal types, active or not, in change order


@dataclass(frozen=True, slots=True)
class CountRow:
    """Active indicators grouped by origin, category and signal type."""

    origin: KeyId
    category: str
    signal_type: str
    count: int


@dataclass(frozen=True, slots=True)
class PeerHead:
    """An origin-signed head as one peer showed it to us (the envelope exactly as received)."""

    origin: KeyId
    peer: str
    seq: Seq
    digest: str
    envelope: Envelope
    signed: str | None = None  # when the origin signed it (older rows: unknown)


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """One envelope kept as proof that ``origin`` signed two different things at ``seq``."""

    origin: KeyId
    seq: Seq
    digest: str
    payload_type: str
    via: str | None
    detected_at: str


@dataclass(frozen=True, slots=True)
class StoredBody:
    """What an entry's row holds of its body: the bytes as they travel (None while missing),
    the opened plaintext of a sealed body, and whether its objects were applied."""

    digest: str
    size: int
    sealed: bool
    body: bytes | None
    plaintext: bytes | None = None

    @property
    def readable(self) -> bool:
        """True when this node holds and can read the bundle."""
        return self.body is not None and (not self.sealed or self.plaintext is not None)


@dataclass(frozen=True, slots=True)
class EncryptionKeyRecord:
    """A partner's X25519 key as it confirmed it to us (a statement signed by its identity)."""

    node: KeyId
    key_id: KeyId
    key: bytes
    announced: str
    confirmed_at: str
    source: str


@dataclass(frozen=True, slots=True)
class RefusedCall:
    """One refused partner call kept as a sample: when, which method, from where, and why."""

    at: str
    method: str
    peer: str
    reason: str
    message: str
