"""Feed heads: what we show partners and what we make of what they show us (DESIGN §4-§6).

Each origin signs its own head, freshly: we sign ours (with the key that signs our feed now,
also after a rotation) whenever a partner asks, and pass other origins' signed heads along
unchanged. Every pinned partner sees every origin's head (headers are no secret; restricted
bodies are sealed). Heads received are verified with the key that signs for the origin now and
compared: with the entries we hold and with what other peers showed at the same seq. Two
validly signed, different digests at one (origin, seq) are equivocation: both are kept as
evidence and the origin is quarantined in the same transaction (its signals stop matching). An
origin whose newest signed head is older than ``max_head_age`` is flagged stale: a relay may be
replaying old heads to hide newer entries (TUF's freeze attack).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from node.errors import Equivocation, Rejected, RetiredKey
from node.feed import SignedHead, open_head, sign_head
from node.feed.keys import NodeIdentity
from node.model import Digest, Envelope, KeyId, Seq
from node.model.clock import format_timestamp, parse_timestamp
from node.store import Store, WriteTx
from node.sync.signers import signers_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HeadsView:
    """What a caller is shown: origin-signed heads, and how far we hold each feed."""

    heads: tuple[Envelope, ...]
    held: dict[KeyId, Seq]


def heads_for(store: Store, *, identity: NodeIdentity, origin: KeyId, now: datetime) -> HeadsView:
    """Signed heads and held seqs of every origin we hold (a quarantined one excepted).

    ``identity`` is the key that signs our feed now; ``origin`` our feed's key id.
    """
    signed: list[Envelope] = []
    held: dict[KeyId, Seq] = {}
    quarantined = store.quarantined_origins()
    for key, head in store.heads().items():
        if key in quarantined:
            continue
        held[key] = head.seq
        if key == origin:
            signed.append(sign_head(head, identity, now=now))
        elif (relayed := _relayable_head(store, origin=key, upto=head.seq)) is not None:
            signed.append(relayed)
    return HeadsView(heads=tuple(signed), held=held)


def _relayable_head(store: Store, *, origin: KeyId, upto: Seq) -> Envelope | None:
    """The freshest origin-signed head a peer showed us that does not go beyond ``upto``."""
    candidates = [h for h in store.peer_heads(origin) if h.seq <= upto]
    if not candidates:
        return None
    return max(candidates, key=lambda h: (h.seq, h.signed or "")).envelope


def stale_origins(store: Store, *, now: datetime, max_age: timedelta) -> dict[KeyId, str]:
    """Origins whose newest signed head any peer showed us is older than ``max_age``: origin →
    when that head was signed. An origin none of our peers showed a head of is not listed."""
    newest: dict[KeyId, str] = {}
    for head in store.peer_heads():
        if head.signed is not None and head.signed > newest.get(head.origin, ""):
            newest[head.origin] = head.signed
    cutoff = now - max_age
    return {o: at for o, at in newest.items() if parse_timestamp(at) < cutoff}


@dataclass(slots=True)
class HeadsReport:
    """What a peer's heads told us: the seq shown per origin, and refusals by reason."""

    shown: dict[KeyId, Seq] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)

    def refuse(self, reason: str) -> None:
        """Count one refused head."""
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def check_heads(
    store: Store, envelopes: Iterable[Envelope], *, peer: str, pinned: Mapping[KeyId, bytes], self_key: KeyId
) -> HeadsReport:
    """Verify the heads ``peer`` showed, compare each with what we hold and what others showed,
    and record them. Heads of origins we have not pinned are ignored (never accepted)."""
    report = HeadsReport()
    signers = signers_of(store, pinned)
    for envelope in envelopes:
        if not any(s.keyid in signers.keys for s in envelope.signatures):
            continue  # not an origin we know: DESIGN §3 accepts no unpinned origin, even relayed
        try:
            head = open_head(envelope, pinned=signers.keys, signer_origin=signers.origin_of)
            if head.signer != signers.current(store, head.head.origin):
                # A retired key (perhaps lost) makes no statement about the feed any more.
                raise RetiredKey(
                    f"a head of origin {head.head.origin[:12]}… is signed by a key it rotated away from"
                )
            _record(store, head, peer=peer, self_key=self_key)
        except Rejected as exc:
            report.refuse(exc.reason)
            _count(store, exc, peer=peer, envelope=envelope)
            continue
        report.shown[head.head.origin] = head.head.seq
    return report


def _record(store: Store, signed: SignedHead, *, peer: str, self_key: KeyId) -> None:
    head = signed.head
    conflict: str | None = None
    with store.write() as tx:
        if head.origin != self_key:
            conflict = _conflict(tx, store, signed, peer=peer)
        if conflict is None:
            tx.record_peer_head(
                peer=peer,
                origin=head.origin,
                seq=head.seq,
                digest=head.digest,
                envelope=signed.envelope,
                signed=format_timestamp(signed.signed),
            )
    if conflict is not None:
        log.warning(
            "EQUIVOCATION by origin %s at seq %d, shown by %s: %s; origin quarantined",
            head.origin[:12],
            head.seq,
            peer,
            conflict,
        )
        raise Equivocation(f"origin {head.origin[:12]}… seq {head.seq}: {conflict}; both kept as evidence")


def _conflict(tx: WriteTx, store: Store, signed: SignedHead, *, peer: str) -> str | None:
    """Store evidence and describe the conflict when ``signed`` contradicts a signed statement
    we hold at the same (origin, seq): an entry, or a head another peer showed."""
    head = signed.head
    held = tx.digest_at(head.origin, head.seq)
    if held is not None and held != head.digest:
        entry = store.entry_at(head.origin, head.seq)
        if entry is not None:
            tx.add_evidence(origin=head.origin, seq=head.seq, digest=held, envelope=entry.envelope, via=None)
        tx.add_evidence(
            origin=head.origin, seq=head.seq, digest=head.digest, envelope=signed.envelope, via=peer
        )
        return "its signed head names another entry than the one we hold"
    for other in store.peer_heads(head.origin):
        if other.seq == head.seq and other.digest != head.digest:
            tx.add_evidence(
                origin=head.origin,
                seq=head.seq,
                digest=Digest(other.digest),
                envelope=other.envelope,
                via=other.peer,
            )
            tx.add_evidence(
                origin=head.origin, seq=head.seq, digest=head.digest, envelope=signed.envelope, via=peer
            )
            return f"two signed heads name different entries (shown by {other.peer} and {peer})"
    return None


def _count(store: Store, exc: Rejected, *, peer: str, envelope: Envelope) -> None:
    if not isinstance(exc, Equivocation):
        log.warning("refused a feed head from %s: %s", peer, exc.reason)
    origin = _claimed_origin(envelope)
    with store.write() as tx:
        tx.record_rejection(partner=peer, origin=origin, seq=None, reason=exc.reason, message=str(exc))


def _claimed_origin(envelope: Envelope) -> KeyId | None:
    """The key the head claims as signer (a hint, for counting only; never trusted)."""
    return envelope.signatures[0].keyid if envelope.signatures else None
