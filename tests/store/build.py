"""Real signed envelopes and indicators for store tests."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from node.feed import NodeIdentity, canonical_json, decode_header, payload_digest
from node.model import (
    ContentType,
    Digest,
    Distribution,
    EntryHeader,
    Indicator,
    KeyId,
    Signal,
    SignalType,
    SignedEntry,
    Tlp,
)
from node.model.clock import format_timestamp
from node.store import Store, StoredBody, WriteTx
from tests.support.feeds import FeedWriter, encryption_keys

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
) -> tuple[EntryHeader, SignedEntry, Digest]:
    """A real signed entry of ``identity`` at ``seq`` (its header, the signed header with its body,
    and the header's digest). A restricted body is sealed to the origin's own encryption key."""
    writer = FeedWriter(identity, encryption=encryption_keys(1))
    distribution = distribution or Distribution(Tlp.GREEN)
    item = writer.entry(
        [],
        distribution=distribution,
        seq=seq,
        prev=prev,
        bundle=_bundle(seq),
        advance=False,
    )
    return decode_header(item.header.payload), item, payload_digest(item.header.payload)


def append(tx: WriteTx, identity: NodeIdentity, *, distribution: Distribution | None = None) -> Digest:
    """Append the next entry of ``identity``'s feed inside ``tx``; returns its digest."""
    head = tx.head(identity.key_id)
    seq = 1 if head is None else head.seq + 1
    distribution = distribution or Distribution(Tlp.GREEN)
    header, item, digest = signed_entry(identity, seq, None if head is None else head.digest, distribution)
    tx.append_entry(
        origin=header.origin,
        seq=header.seq,
        digest=digest,
        prev=header.prev,
        envelope=item.header,
        tlp=header.tlp,
        recipients=distribution.recipients,
        created=format_timestamp(header.created),
        via=None,
        objects=0,
        body=StoredBody(
            digest=header.body_digest,
            size=header.body_size,
            sealed=header.sealed,
            body=item.body,
            plaintext=canonical_json(_bundle(seq)) if header.sealed else None,  # the origin's own copy
        ),
    )
    return digest


def _bundle(seq: int) -> dict[str, object]:
    return {"type": "bundle", "seq": seq}


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
