"""Feed entries: the unit an origin signs and its partners accept in order (DESIGN §4, §5).

An entry is a signed **header** plus a **body**. The header chains headers (``prev``), names
the TLP and commits to the body by digest; every pinned partner receives every header, so every
partner can verify the whole chain. The body is the STIX bundle: in the clear for CLEAR and
GREEN, sealed (encrypted once, its content key sealed to each recipient) for AMBER,
AMBER+STRICT and RED. A node that cannot open a sealed body stores and forwards the ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from node.errors import InvalidInput
from node.model.envelopes import Envelope
from node.model.ids import Digest, KeyId, Seq
from node.model.rotation import KeyRotation
from node.model.tlp import Tlp

ENTRY_FORMAT = 2
ENTRY_PAYLOAD_TYPE = "application/vnd.accord.entry+json; version=2"
"""The DSSE ``payloadType`` of a feed entry header. Signed as part of PAE, so it cannot be swapped."""
ENTRY_PAYLOAD_TYPE_V1 = "application/vnd.accord.entry+json; version=1"
"""Feed format 1 (bundle inside the signed payload): refused with a clear error."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """Who may read an entry: a TLP level and, for restricted levels, the recipients' key ids.

    Known to the origin (it seals to these recipients); a header carries only the TLP.
    """

    tlp: Tlp
    recipients: frozenset[KeyId] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.tlp.names_recipients and not self.recipients:
            raise InvalidInput(f"TLP {self.tlp.value} needs at least one named recipient")
        if not self.tlp.names_recipients and self.recipients:
            raise InvalidInput(f"TLP {self.tlp.value} is not addressed to recipients")


@dataclass(frozen=True, slots=True)
class Seal:
    """How a restricted body is sealed: the digest of its plaintext (which commits the content
    and the content key) and the content key sealed to each recipient, unlabelled."""

    plaintext_digest: Digest
    stanzas: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.stanzas:
            raise InvalidInput("a sealed body has at least one key stanza (the origin's own)")


@dataclass(frozen=True, slots=True)
class Grant:
    """A later recipient's access to the body at ``seq``: its content key sealed to that recipient."""

    seq: Seq
    stanza: bytes


@dataclass(frozen=True, slots=True)
class EntryHeader:
    """The signed content of one feed position: everything but the body, which it names by digest."""

    origin: KeyId
    seq: Seq
    prev: Digest | None  # digest of the previous header's payload bytes
    created: datetime
    tlp: Tlp
    body_digest: Digest  # of the body bytes as they travel (ciphertext when sealed)
    body_size: int
    seal: Seal | None = None
    rotation: KeyRotation | None = None  # the key that signs the origin's entries after this one
    encryption_key: bytes | None = None  # the origin's X25519 key from now on (raw 32 bytes)
    grants: tuple[Grant, ...] = ()

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise InvalidInput("feed positions start at seq 1")
        if (self.seq == 1) != (self.prev is None):
            raise InvalidInput("seq 1 has no prev digest and every later entry has one")
        if self.tlp.names_recipients != (self.seal is not None):
            raise InvalidInput(
                "AMBER, AMBER+STRICT and RED bodies are always sealed, CLEAR and GREEN bodies never"
            )
        if self.body_size < 0:
            raise InvalidInput("a body size is not negative")
        if self.encryption_key is not None and len(self.encryption_key) != 32:
            raise InvalidInput("an X25519 public key is 32 bytes")
        if any(g.seq >= self.seq for g in self.grants):
            raise InvalidInput("a grant names earlier entries only")

    @property
    def sealed(self) -> bool:
        """True when the body is encrypted to named recipients."""
        return self.seal is not None


@dataclass(frozen=True, slots=True)
class SignedEntry:
    """An entry as it travels: the signed header envelope and, when the sender holds it, the body."""

    header: Envelope
    body: bytes | None

    @property
    def size(self) -> int:
        """Bytes on the wire, for size limits."""
        return self.header.size + (len(self.body) if self.body is not None else 0)


@dataclass(frozen=True, slots=True)
class Head:
    """The last accepted entry of an origin."""

    origin: KeyId
    seq: Seq
    digest: Digest
