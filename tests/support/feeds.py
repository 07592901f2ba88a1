"""Real signed feed entries for tests, including the hostile ones a peer might send.

Everything here uses the production codec and signer; a test that wants a bad entry builds a
good one and then breaks exactly one thing about it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from node.feed import NodeIdentity, encode_entry, payload_digest, sign_envelope
from node.model import (
    ENTRY_PAYLOAD_TYPE,
    ContentType,
    Digest,
    Distribution,
    Envelope,
    EnvelopeSignature,
    FeedEntry,
    Indicator,
    KeyId,
    KeyRotation,
    Seq,
    Signal,
    SignalType,
    Tlp,
)
from node.stix import build_bundle

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def identity(n: int) -> NodeIdentity:
    """A deterministic identity: the same ``n`` gives the same key in every test."""
    return NodeIdentity.from_seed(bytes([n]) * 32)


def pdq_signal(seed: int) -> Signal:
    """A reproducible PDQ signal; different seeds are ~128 bits apart, like unrelated images."""
    return Signal(SignalType.PDQ, hashlib.sha256(f"pdq-{seed}".encode()).hexdigest())


def vpdq_signal(seed: int, *, frames: int = 10) -> Signal:
    """A reproducible video signal: ``frames`` unrelated frame hashes (canonical form)."""
    return Signal.vpdq(hashlib.sha256(f"vpdq-{seed}-{n}".encode()).hexdigest() for n in range(frames))


def md5_signal(seed: int) -> Signal:
    """A reproducible MD5 signal."""
    return Signal(SignalType.MD5, hashlib.md5(f"md5-{seed}".encode()).hexdigest())


def indicator(
    origin: KeyId,
    signal: Signal,
    *,
    tlp: Tlp = Tlp.GREEN,
    category: str = "csam",
    revoked: bool = False,
    indicator_id: str | None = None,
    modified: datetime = T0,
) -> Indicator:
    """An indicator of ``origin`` listing ``signal``."""
    return Indicator(
        id=indicator_id or f"indicator--{uuid.uuid4()}",
        signal=signal,
        category=category,
        content_type=ContentType.default_for(signal.type),
        tlp=tlp,
        origin=origin,
        created=T0,
        modified=modified,
        revoked=revoked,
        quality=100 if signal.type is SignalType.PDQ else None,
    )


class FeedWriter:
    """Builds an origin's feed entry by entry, as its node would (or, on request, wrongly)."""

    def __init__(self, signer: NodeIdentity, *, name: str = "origin", origin: KeyId | None = None) -> None:
        self.signer = signer
        self.name = name
        self._origin = origin  # set only to forge: an entry naming another origin than its signer
        self.seq = 0
        self.head: Digest | None = None

    @property
    def origin(self) -> KeyId:
        """The origin key id of this feed."""
        return self._origin or self.signer.key_id

    def entry(
        self,
        indicators: Sequence[Indicator],
        *,
        distribution: Distribution | None = None,
        seq: int | None = None,
        prev: Digest | str | None = "auto",
        bundle: dict[str, Any] | None = None,
        advance: bool = True,
    ) -> Envelope:
        """The next signed envelope (override seq / prev / bundle to make a hostile one)."""
        tlp = indicators[0].tlp if indicators else Tlp.GREEN
        entry = FeedEntry(
            origin=self.origin,
            seq=Seq(self.seq + 1 if seq is None else seq),
            prev=self.head if prev == "auto" else prev,  # type: ignore[arg-type]
            created=T0 + timedelta(seconds=self.seq),
            distribution=distribution or Distribution(tlp=tlp),
            bundle=bundle
            if bundle is not None
            else build_bundle(indicators, origin_names={self.origin: self.name}),
        )
        payload = encode_entry(entry)
        if advance:
            self.seq = entry.seq
            self.head = payload_digest(payload)
        return sign_envelope(ENTRY_PAYLOAD_TYPE, payload, self.signer)

    def rotation(self, new: NodeIdentity, *, signers: Sequence[NodeIdentity] | None = None) -> Envelope:
        """The entry that rotates this feed's signing key to ``new`` (signed by the current key
        and ``new`` unless ``signers`` says otherwise); later entries are signed by ``new``."""
        origin = self.origin
        entry = FeedEntry(
            origin=origin,
            seq=Seq(self.seq + 1),
            prev=self.head,
            created=T0 + timedelta(seconds=self.seq),
            distribution=Distribution(tlp=Tlp.GREEN),
            bundle=build_bundle([], origin_names={}),
            rotation=KeyRotation(public_key=new.public_key),
        )
        payload = encode_entry(entry)
        first, *others = signers if signers is not None else (self.signer, new)
        self.seq, self.head = entry.seq, payload_digest(payload)
        self._origin, self.signer = origin, new
        return sign_envelope(ENTRY_PAYLOAD_TYPE, payload, first, *others)


def flip_byte(data: bytes, index: int) -> bytes:
    """``data`` with one byte changed."""
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def with_payload(envelope: Envelope, payload: bytes) -> Envelope:
    """The same signatures over different payload bytes."""
    return replace(envelope, payload=payload)


def with_signature(envelope: Envelope, sig: bytes, keyid: KeyId | None = None) -> Envelope:
    """The same payload with one replaced signature."""
    first = envelope.signatures[0]
    return replace(envelope, signatures=(EnvelopeSignature(keyid=keyid or first.keyid, sig=sig),))
