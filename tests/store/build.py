"""Real signed envelopes and indicators for store tests."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from node.feed import NodeIdentity, encode_entry, payload_digest, sign_envelope
from node.model import (
    ENTRY_PAYLOAD_TYPE,
    ContentType,
    Digest,
    Distribution,
    Envelope,
    FeedEntry,
    Indicator,
    KeyId,
    Seq,
    Signal,
    SignalType,
    Tlp,
)
from node.model.clock import format_timestamp
from node.store import Store, WriteTx

ALICE = NodeIdentity.from_seed(bytes([1]) * 32)
BOB = NodeIdentity.from_seed(bytes([2]) * 32)
CAROL = NodeIdentity.from_seed(bytes([3]) * 32)
T0 = datetime(2025, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


@contextmanager
def open_store(path: Path) -> Iterator[Store]:
    store = Store(path)
    try:
        yield store
    finally:
        store.close()


def signed_entry(
    identity: NodeIdentity, seq: int, prev: Digest | None, distribution: Distribution | None = None
) -> tuple[FeedEntry, Envelope, Digest]:
    """A real signed entry of ``identity`` at ``seq``, its envelope and its digest."""
    entry = FeedEntry(
        origin=identity.key_id,
        seq=Seq(seq),
        prev=prev,
        created=T0,
        distribution=distribution or Distribution(Tlp.GREEN),
        bundle={"type": "bundle", "seq": seq},
    )
    payload = encode_entry(entry)
    return entry, sign_envelope(ENTRY_PAYLOAD_TYPE, payload, identity), payload_digest(payload)


def append(tx: WriteTx, identity: NodeIdentity, *, distribution: Distribution | None = None) -> Digest:
    """Append the next entry of ``identity``'s feed inside ``tx``; returns its digest."""
    head = tx.head(identity.key_id)
    seq = 1 if head is None else head.seq + 1
    entry, envelope, digest = signed_entry(identity, seq, None if head is None else head.digest, distribution)
    tx.append_entry(
        origin=entry.origin,
        seq=entry.seq,
        digest=digest,
        prev=entry.prev,
        envelope=envelope,
        tlp=entry.distribution.tlp,
        recipients=entry.distribution.recipients,
        created=format_timestamp(entry.created),
        via=None,
        objects=0,
    )
    return digest


def indicator_id(seed: int) -> str:
    return f"indicator--{uuid.UUID(int=random.Random(seed).getrandbits(128), version=4)}"


def indicator(
    seed: int,
    *,
    origin: KeyId = ALICE.key_id,
    signal_type: SignalType = SignalType.MD5,
    minutes: int = 0,
    **changes: object,
) -> Indicator:
    value = f"{random.Random(seed).getrandbits(4 * signal_type.hex_length):0{signal_type.hex_length}x}"
    base = Indicator(
        id=indicator_id(seed),
        signal=Signal(signal_type, value),
        category="csam",
        content_type=ContentType.default_for(signal_type),
        tlp=Tlp.GREEN,
        origin=origin,
        created=T0,
        modified=T0 + timedelta(minutes=minutes),
        quality=90 if signal_type is SignalType.PDQ else None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]
