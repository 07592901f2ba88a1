"""Feed heads: what we show partners and what we make of what they show us (DESIGN §4, §6).

Each origin signs its own head; we pass other origins' signed heads along unchanged. A caller
is shown, per origin, only a head covering entries we would serve it (TLP), so a head never
reveals that something it may not see exists, and never makes an honest relay look like it
withholds. Heads received are verified with the origin's pinned key and compared: with the
entries we hold and with what other peers showed at the same seq. Two validly signed, different
digests at one (origin, seq) are equivocation: both are kept as evidence and the origin is
quarantined in the same transaction (its signals stop matching).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from node.errors import Equivocation, Rejected
from node.feed import SignedHead, open_head, sign_head
from node.feed.keys import NodeIdentity
from node.model import Digest, Distribution, Envelope, Head, KeyId, Seq, Tlp
from node.model.access import may_serve
from node.store import Store, WriteTx

log = logging.getLogger(__name__)

_SCAN_BATCH = 1024  # entries' distributions read per query when finding a caller's visible head


@dataclass(frozen=True, slots=True)
class HeadsView:
    """What a caller is shown: origin-signed heads, and how far we hold each visible feed."""

    heads: tuple[Envelope, ...]
    held: dict[KeyId, Seq]


def heads_for(store: Store, *, identity: NodeIdentity, caller: KeyId, now: datetime) -> HeadsView:
    """Signed heads and held seqs of every origin whose entries ``caller`` may receive from us."""
    signed: list[Envelope] = []
    held: dict[KeyId, Seq] = {}
    quarantined = store.quarantined_origins()  # served to no one, so no head either
    for origin, head in store.heads().items():
        if origin in quarantined:
            continue
        # The caller's own feed is no secret to it: it learns how far we hold it (where a push
        # resumes), though TLP still decides whether it may pull those entries back.
        own = origin == caller
        visible = head if own else visible_head(store, origin=origin, caller=caller, server=identity.key_id)
        if visible is None:
            continue
        held[origin] = visible.seq
        if origin == identity.key_id:
            signed.append(sign_head(visible, identity, now=now))
        elif (relayed := _relayable_head(store, origin=origin, upto=visible.seq)) is not None:
            signed.append(relayed)
    return HeadsView(heads=tuple(signed), held=held)


def visible_head(store: Store, *, origin: KeyId, caller: KeyId, server: KeyId) -> Head | None:
    """The last entry of the prefix of ``origin``'s feed that ``caller`` may receive from us.

    A withheld entry ends what we serve of a feed (see ``serve``), so it also ends the head.
    """
    last: Head | None = None
    after = Seq(0)
    while rows := store.distributions_after(origin, after, limit=_SCAN_BATCH):
        for seq, digest, tlp, recipients in rows:
            distribution = Distribution(tlp=Tlp(tlp), recipients=recipients)
            if not may_serve(distribution, origin=origin, server=server, caller=caller):
                return last
            last = Head(origin=origin, seq=seq, digest=digest)
        after = rows[-1][0]
    return last


def _relayable_head(store: Store, *, origin: KeyId, upto: Seq) -> Envelope | None:
    """The highest origin-signed head a peer showed us that does not go beyond ``upto``."""
    return next((h.envelope for h in store.peer_heads(origin) if h.seq <= upto), None)


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
    for envelope in envelopes:
        if not any(s.keyid in pinned for s in envelope.signatures):
            continue  # not an origin we know: DESIGN §3 accepts no unpinned origin, even relayed
        try:
            head = open_head(envelope, pinned=pinned)
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
                peer=peer, origin=head.origin, seq=head.seq, digest=head.digest, envelope=signed.envelope
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
