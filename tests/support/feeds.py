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
from typing import Any, TypeVar

from node.feed import NodeIdentity, body_digest, canonical_json, encode_header, payload_digest, sign_envelope
from node.feed.encryption import EncryptionKeyPair
from node.feed.sealing import open_content_key, seal_body, seal_content_key
from node.model import (
    ENTRY_PAYLOAD_TYPE,
    ContentType,
    Digest,
    Distribution,
    EntryHeader,
    Envelope,
    EnvelopeSignature,
    Grant,
    Indicator,
    KeyId,
    KeyRotation,
    Seal,
    Seq,
    Signal,
    SignalType,
    SignedEntry,
    Tlp,
)
from node.stix import build_bundle

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def encryption_keys(n: int) -> EncryptionKeyPair:
    """A deterministic encryption key pair: the same ``n`` gives the same key in every test."""
    return EncryptionKeyPair.from_private(bytes([n]) * 31 + b"\x01")


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


_Signed = TypeVar("_Signed", SignedEntry, Envelope)


class FeedWriter:
    """Builds an origin's feed entry by entry, as its node would (or, on request, wrongly)."""

    def __init__(
        self,
        signer: NodeIdentity,
        *,
        name: str = "origin",
        origin: KeyId | None = None,
        encryption: EncryptionKeyPair | None = None,
        readers: Sequence[bytes] = (),
    ) -> None:
        self.signer = signer
        self.readers = tuple(readers)  # encryption keys restricted bodies are sealed to by default
        self.name = name
        self._origin = origin  # set only to forge: an entry naming another origin than its signer
        self.encryption = encryption or EncryptionKeyPair.generate()
        self.seq = 0
        self.head: Digest | None = None
        self.content_keys: dict[int, bytes] = {}  # seq -> content key of each sealed body

    @property
    def origin(self) -> KeyId:
        """The origin key id of this feed."""
        return self._origin or self.signer.key_id

    def entry(
        self,
        indicators: Sequence[Indicator],
        *,
        distribution: Distribution | None = None,
        readers: Sequence[bytes] = (),
        seq: int | None = None,
        prev: Digest | str | None = "auto",
        bundle: dict[str, Any] | None = None,
        advance: bool = True,
        encryption_key: bytes | None = None,
        grants: Sequence[Grant] = (),
        raw: bytes | None = None,
    ) -> SignedEntry:
        """The next signed entry (override seq / prev / bundle, or give the bundle's ``raw``
        bytes, to make a hostile one).

        A restricted ``distribution`` seals the body to ``readers`` (X25519 public keys) and to
        this feed's own encryption key, as a node does.
        """
        tlp = (distribution.tlp if distribution else None) or (indicators[0].tlp if indicators else Tlp.GREEN)
        next_seq = Seq(self.seq + 1 if seq is None else seq)
        data = (
            bundle if bundle is not None else build_bundle(indicators, origin_names={self.origin: self.name})
        )
        audience = distribution.recipients if distribution else frozenset()
        body, seal = self._body(
            canonical_json(data) if raw is None else raw, tlp, next_seq, readers, audience
        )
        header = EntryHeader(
            origin=self.origin,
            seq=next_seq,
            prev=self.head if prev == "auto" else prev,  # type: ignore[arg-type]
            created=T0 + timedelta(seconds=self.seq),
            tlp=tlp,
            body_digest=body_digest(body),
            body_size=len(body),
            seal=seal,
            encryption_key=encryption_key,
            grants=tuple(grants),
        )
        payload = encode_header(header)
        if advance:
            self.seq = header.seq
            self.head = payload_digest(payload)
        return SignedEntry(header=sign_envelope(ENTRY_PAYLOAD_TYPE, payload, self.signer), body=body)

    def _body(
        self, text: bytes, tlp: Tlp, seq: Seq, readers: Sequence[bytes], audience: frozenset[KeyId]
    ) -> tuple[bytes, Seal | None]:
        if not tlp.names_recipients:
            return text, None
        sealed = seal_body(
            text,
            origin=self.origin,
            seq=seq,
            recipients=readers or self.readers,
            self_key=self.encryption.public,
            audience=audience,
        )
        key = open_content_key(sealed.stanzas, [self.encryption])
        assert key is not None
        self.content_keys[seq] = key
        return sealed.ciphertext, Seal(plaintext_digest=sealed.plaintext_digest, stanzas=sealed.stanzas)

    def grant(self, seqs: Sequence[int], reader: bytes) -> SignedEntry:
        """The header-level entry that gives ``reader`` the bodies at ``seqs`` (a late group member)."""
        grants = [Grant(seq=Seq(s), stanza=seal_content_key(self.content_keys[s], reader)) for s in seqs]
        return self.entry(
            [],
            distribution=Distribution(tlp=Tlp.GREEN),
            bundle=build_bundle([], origin_names={}),
            grants=grants,
        )

    def rotation(self, new: NodeIdentity, *, signers: Sequence[NodeIdentity] | None = None) -> SignedEntry:
        """The entry that rotates this feed's signing key to ``new`` (signed by the current key
        and ``new`` unless ``signers`` says otherwise); later entries are signed by ``new``."""
        origin = self.origin
        body = canonical_json(build_bundle([], origin_names={}))
        header = EntryHeader(
            origin=origin,
            seq=Seq(self.seq + 1),
            prev=self.head,
            created=T0 + timedelta(seconds=self.seq),
            tlp=Tlp.GREEN,
            body_digest=body_digest(body),
            body_size=len(body),
            rotation=KeyRotation(public_key=new.public_key),
        )
        payload = encode_header(header)
        first, *others = signers if signers is not None else (self.signer, new)
        self.seq, self.head = header.seq, payload_digest(payload)
        self._origin, self.signer = origin, new
        return SignedEntry(header=sign_envelope(ENTRY_PAYLOAD_TYPE, payload, first, *others), body=body)


def without_body(item: SignedEntry) -> SignedEntry:
    """The same header with its body stripped (a withholding relay)."""
    return replace(item, body=None)


def with_body(item: SignedEntry, body: bytes) -> SignedEntry:
    """The same header with another body (a swapping relay)."""
    return replace(item, body=body)


def flip_byte(data: bytes, index: int) -> bytes:
    """``data`` with one byte changed."""
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def with_payload(item: _Signed, payload: bytes) -> _Signed:
    """The same signatures over different payload bytes (of an entry's header; its body unchanged)."""
    if isinstance(item, SignedEntry):
        return replace(item, header=replace(item.header, payload=payload))
    return replace(item, payload=payload)


def with_signature(item: _Signed, sig: bytes, keyid: KeyId | None = None) -> _Signed:
    """The same payload with one replaced signature."""
    envelope = item.header if isinstance(item, SignedEntry) else item
    first = envelope.signatures[0]
    changed = replace(envelope, signatures=(EnvelopeSignature(keyid=keyid or first.keyid, sig=sig),))
    return replace(item, header=changed) if isinstance(item, SignedEntry) else changed  # type: ignore[return-value]
