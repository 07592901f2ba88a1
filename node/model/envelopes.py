"""DSSE envelopes as plain values. The cryptography that makes and opens them lives in ``feed``."""

from __future__ import annotations

from dataclasses import dataclass

from node.model.ids import KeyId


@dataclass(frozen=True, slots=True)
class EnvelopeSignature:
    """One signature over PAE(payloadType, payload). ``keyid`` is a hint, never trusted alone."""

    keyid: KeyId
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """A DSSE envelope exactly as received or as signed: the payload bytes are never re-serialised."""

    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]

    @property
    def size(self) -> int:
        """Bytes this envelope occupies on the wire (payload, type and signatures)."""
        return (
            len(self.payload)
            + len(self.payload_type)
            + sum(len(s.sig) + len(s.keyid) for s in self.signatures)
        )
