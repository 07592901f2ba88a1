"""Ingest: THE trust boundary. Every entry from outside passes through :meth:`Ingestor.ingest`.

Order matters and is the security argument (DESIGN §4):
size limit → verify the DSSE signature over the received bytes with a pinned key → parse only
the verified bytes → the signer must be the entry's origin → STIX profile → succession
(seq == head+1, prev == digest(head)) → entry, derived rows and new head in ONE transaction.
A refused entry stores nothing (except equivocation evidence) and is counted by reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from node.config import LimitsSection
from node.errors import (
    BrokenChain,
    Equivocation,
    Gap,
    MalformedEntry,
    Quarantined,
    Rejected,
    Replayed,
)
from node.feed import VerifiedPayload, decode_entry, open_envelope
from node.model import ENTRY_PAYLOAD_TYPE, Envelope, FeedEntry, Indicator, KeyId, Seq
from node.model.chain import Succession, classify
from node.model.clock import format_timestamp
from node.stix import read_bundle
from node.store import Store, WriteTx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Accepted:
    """An entry that is now part of the origin's feed as we hold it."""

    origin: KeyId
    seq: Seq
    indicators: int


class Ingestor:
    """Verifies and stores entries from pinned origins."""

    def __init__(self, *, store: Store, limits: LimitsSection) -> None:
        self._store = store
        self._limits = limits

    def ingest(self, envelope: Envelope, *, pinned: Mapping[KeyId, bytes], via: str | None) -> Accepted:
        """Accept ``envelope`` or raise a :class:`Rejected` subclass naming the rule it broke.

        ``pinned`` maps the key ids of pinned partners to their public keys; ``via`` names the
        peer it came from (for provenance and counting). Rejections are recorded before raising.
        """
        verified: VerifiedPayload | None = None
        entry: FeedEntry | None = None
        try:
            verified = open_envelope(
                envelope,
                pinned=pinned,
                expected_type=ENTRY_PAYLOAD_TYPE,
                max_bytes=self._limits.max_envelope_bytes,
            )
            entry = decode_entry(verified.payload)
            if entry.origin != verified.signer:
                raise MalformedEntry("entry names another origin than the key that signed it")
            indicators = self._indicators(entry)
            return self._commit(entry, verified=verified, envelope=envelope, indicators=indicators, via=via)
        except Rejected as exc:
            self._count(exc, via=via, entry=entry, signer=verified.signer if verified else None)
            raise

    def _indicators(self, entry: FeedEntry) -> list[Indicator]:
        indicators = read_bundle(
            entry.bundle, origin=entry.origin, max_objects=self._limits.max_objects_per_entry
        )
        for indicator in indicators:
            if indicator.tlp is not entry.distribution.tlp:
                raise MalformedEntry("an indicator's TLP marking differs from the entry's distribution")
        return indicators

    def _commit(
        self,
        entry: FeedEntry,
        *,
        verified: VerifiedPayload,
        envelope: Envelope,
        indicators: list[Indicator],
        via: str | None,
    ) -> Accepted:
        with self._store.write() as tx:
            verdict = self._succession(tx, entry, verified)
            if verdict is Succession.NEXT:
                self._append(
                    tx, entry=entry, verified=verified, envelope=envelope, indicators=indicators, via=via
                )
            elif verdict is Succession.EQUIVOCATION:
                # Evidence is committed by this transaction; the error is raised after it.
                tx.add_evidence(
                    origin=entry.origin, seq=entry.seq, digest=verified.digest, envelope=envelope, via=via
                )
        if verdict is Succession.NEXT:
            log.info(
                "accepted entry origin=%s seq=%d indicators=%d via=%s",
                entry.origin[:12],
                entry.seq,
                len(indicators),
                via,
            )
            return Accepted(origin=entry.origin, seq=entry.seq, indicators=len(indicators))
        raise _refusal(verdict, entry)

    def _succession(self, tx: WriteTx, entry: FeedEntry, verified: VerifiedPayload) -> Succession:
        if tx.is_quarantined(entry.origin):
            raise Quarantined(f"origin {entry.origin[:12]}… is quarantined after equivocation; entry refused")
        return classify(
            tx.head(entry.origin),
            seq=entry.seq,
            prev=entry.prev,
            digest=verified.digest,
            held_digest=tx.digest_at(entry.origin, entry.seq),
        )

    def _append(
        self,
        tx: WriteTx,
        *,
        entry: FeedEntry,
        verified: VerifiedPayload,
        envelope: Envelope,
        indicators: list[Indicator],
        via: str | None,
    ) -> None:
        if tx.foreign_indicator_ids([i.id for i in indicators], entry.origin):
            raise MalformedEntry("entry versions an indicator that another origin created")
        tx.append_entry(
            origin=entry.origin,
            seq=entry.seq,
            digest=verified.digest,
            prev=entry.prev,
            envelope=envelope,
            tlp=entry.distribution.tlp,
            recipients=entry.distribution.recipients,
            created=format_timestamp(entry.created),
            via=via,
            objects=len(indicators),
        )
        tx.upsert_indicators(indicators, entry_seq=entry.seq)

    def _count(
        self, exc: Rejected, *, via: str | None, entry: FeedEntry | None, signer: KeyId | None
    ) -> None:
        origin = entry.origin if entry else signer
        log.warning(
            "refused entry from %s (origin %s): %s", via or "local input", (origin or "?")[:12], exc.reason
        )
        with self._store.write() as tx:
            tx.record_rejection(
                partner=via,
                origin=origin,
                seq=entry.seq if entry else None,
                reason=exc.reason,
                message=str(exc),
            )


def _refusal(verdict: Succession, entry: FeedEntry) -> Rejected:
    where = f"origin {entry.origin[:12]}… seq {entry.seq}"
    if verdict is Succession.DUPLICATE:
        return Replayed(f"{where} was accepted before; the replayed copy is ignored")
    if verdict is Succession.EQUIVOCATION:
        return Equivocation(
            f"{where}: a different, validly signed entry holds this seq; both kept as evidence"
        )
    if verdict is Succession.GAP:
        return Gap(f"{where} arrives before the entries that precede it; waiting for them")
    return BrokenChain(f"{where} does not name the digest of the previous entry as its prev")
