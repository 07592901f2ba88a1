"""Ingest: THE trust boundary. Every entry from outside passes through :meth:`Ingestor.ingest`.

Order matters and is the security argument (DESIGN §4):
size limit → verify the DSSE signature over the received bytes with a pinned key → parse only
the verified bytes → the signer must be the entry's origin → STIX profile → succession
(seq == head+1, prev == digest(head)) → entry, derived rows and new head in ONE transaction.
A refused entry stores nothing (except equivocation evidence) and is counted by reason.

The steps up to the STIX profile need no database and have no side effects (:meth:`Ingestor.
prepare`), so a pull may run them for the next entry while this one commits (:meth:`Ingestor.
commit`); the order above holds for every entry, and refusals are recorded in feed order.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from node.config import LimitsSection
from node.errors import (
    BadSignature,
    BrokenChain,
    Compromised,
    Equivocation,
    Gap,
    MalformedEntry,
    Quarantined,
    Rejected,
    Replayed,
    RetiredKey,
    UnknownSigner,
)
from node.feed import VerifiedPayload, decode_entry, open_envelope, signed_by
from node.model import (
    ENTRY_PAYLOAD_TYPE,
    Envelope,
    FeedEntry,
    Indicator,
    KeyId,
    Opinion,
    Seq,
    Sighting,
    SigningKey,
    Tlp,
)
from node.model.chain import Succession, classify
from node.model.clock import format_timestamp
from node.stix import BundleContents, read_entry_bundle
from node.store import Store, UpsertBatch, WriteTx, upsert_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Accepted:
    """An entry that is now part of the origin's feed as we hold it."""

    origin: KeyId
    seq: Seq
    indicators: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """An envelope after the checks that need no database: verified, parsed and read as STIX.

    Holds the refusal instead when one of those checks failed; :meth:`Ingestor.commit` records
    and raises it. Only :meth:`Ingestor.prepare` makes these.
    """

    envelope: Envelope
    verified: VerifiedPayload | None
    entry: FeedEntry | None
    indicators: list[Indicator] = field(default_factory=list)
    refusal: Rejected | None = None
    opinions: list[tuple[Opinion, Tlp]] = field(default_factory=list)
    sightings: list[tuple[Sighting, Tlp]] = field(default_factory=list)
    pinned: Mapping[KeyId, bytes] | None = None  # what it was verified against, to prepare again
    rows: UpsertBatch | None = None  # the indicators as upsert parameters, built off the write path

    @property
    def claimed_signer(self) -> KeyId:
        """The key the envelope names as its signer, verified or not. A pull uses it only to
        skip the rest of a refused signer's stream, never to decide what to trust."""
        return self.envelope.signatures[0].keyid if self.envelope.signatures else KeyId("")


class Ingestor:
    """Verifies and stores entries from pinned origins."""

    def __init__(self, *, store: Store, limits: LimitsSection, self_key: KeyId | None = None) -> None:
        self._store = store
        self._limits = limits
        # Our own entries come back from partners after a restore; they stay our contributions.
        self._self_key = self_key

    def ingest(self, envelope: Envelope, *, pinned: Mapping[KeyId, bytes], via: str | None) -> Accepted:
        """Accept ``envelope`` or raise a :class:`Rejected` subclass naming the rule it broke.

        ``pinned`` maps the key ids of pinned partners to their public keys; ``via`` names the
        peer it came from (for provenance and counting). Rejections are recorded before raising.
        """
        # One pause over both steps: the prepared objects are freed before the collector resumes.
        with collector_paused():
            return self.commit(self.prepare(envelope, pinned=pinned), via=via)

    def prepare(self, envelope: Envelope, *, pinned: Mapping[KeyId, bytes]) -> Prepared:
        """Size → signature over the received bytes → parse only those → signer is the origin →
        STIX profile. No side effects: a refusal is returned, for :meth:`commit` to record."""
        verified: VerifiedPayload | None = None
        entry: FeedEntry | None = None
        rotated = {k: v for k, v in self._store.signing_keys().items() if v.origin in pinned}
        try:
            with collector_paused():
                verified = open_envelope(
                    envelope,
                    pinned={**pinned, **{k: v.public_key for k, v in rotated.items()}},
                    expected_type=ENTRY_PAYLOAD_TYPE,
                    max_bytes=self._limits.max_envelope_bytes,
                )
                entry = decode_entry(verified.payload)
                signer = rotated[verified.signer].origin if verified.signer in rotated else verified.signer
                if entry.origin != signer:
                    raise MalformedEntry("entry names another origin than the key that signed it")
                if entry.rotation is not None and not signed_by(envelope, entry.rotation.public_key):
                    raise BadSignature("a key rotation is not also signed by the new key it announces")
                contents = self._contents(entry)
        except Rejected as exc:
            return Prepared(envelope=envelope, verified=verified, entry=entry, refusal=exc, pinned=pinned)
        own = entry.origin == self._self_key
        return Prepared(
            envelope=envelope,
            verified=verified,
            entry=entry,
            indicators=contents.indicators,
            opinions=contents.opinions,
            sightings=contents.sightings,
            pinned=pinned,
            rows=upsert_batch(contents.indicators, entry_seq=entry.seq, local=own),
        )

    def commit(self, prepared: Prepared, *, via: str | None) -> Accepted:
        """Record and raise ``prepared``'s refusal, or check succession and store the entry, its
        indicators and the origin's new head in one transaction. Commit in feed order."""
        if isinstance(prepared.refusal, UnknownSigner) and prepared.pinned is not None:
            # Prepared ahead of a rotation entry that has committed since: verify again with
            # the keys known now (the new key signs the entries after the rotation).
            prepared = self.prepare(prepared.envelope, pinned=prepared.pinned)
        try:
            if prepared.refusal is not None:
                raise prepared.refusal
            entry, verified, rows = prepared.entry, prepared.verified, prepared.rows
            if entry is None or verified is None or rows is None:  # prepare() fills them unless it refused
                raise TypeError("commit() takes what prepare() returned")
            with collector_paused():
                return self._commit(
                    entry,
                    verified=verified,
                    envelope=prepared.envelope,
                    indicators=prepared.indicators,
                    rows=rows,
                    feedback=(prepared.opinions, prepared.sightings),
                    via=via,
                )
        except Rejected as exc:
            signer = prepared.verified.signer if prepared.verified else None
            self._count(exc, via=via, entry=prepared.entry, signer=signer)
            raise

    def _contents(self, entry: FeedEntry) -> BundleContents:
        contents = read_entry_bundle(
            entry.bundle, origin=entry.origin, max_objects=self._limits.max_objects_per_entry
        )
        for indicator in contents.indicators:
            if indicator.tlp is not entry.distribution.tlp:
                raise MalformedEntry("an indicator's TLP marking differs from the entry's distribution")
        if any(tlp is not entry.distribution.tlp for _, tlp in contents.opinions):
            raise MalformedEntry("an opinion's TLP marking differs from the entry's distribution")
        if any(tlp is not entry.distribution.tlp for _, tlp in contents.sightings):
            raise MalformedEntry("a sighting's TLP marking differs from the entry's distribution")
        return contents

    def _commit(
        self,
        entry: FeedEntry,
        *,
        verified: VerifiedPayload,
        envelope: Envelope,
        indicators: list[Indicator],
        rows: UpsertBatch,
        feedback: tuple[list[tuple[Opinion, Tlp]], list[tuple[Sighting, Tlp]]],
        via: str | None,
    ) -> Accepted:
        with self._store.write() as tx:
            verdict = self._succession(tx, entry, verified)
            if verdict is Succession.NEXT:
                self._check_signer(tx, entry, verified)
                self._append(
                    tx,
                    entry=entry,
                    verified=verified,
                    envelope=envelope,
                    indicators=indicators,
                    rows=rows,
                    via=via,
                )
                tx.upsert_opinions(feedback[0], entry_seq=entry.seq)
                tx.add_sightings(feedback[1], entry_seq=entry.seq)
            elif verdict is Succession.EQUIVOCATION:
                # Evidence is committed by this transaction; the error is raised after it. Both
                # statements are kept: the entry we hold at this seq and the newcomer.
                held, held_digest = (
                    self._store.entry_at(entry.origin, entry.seq),
                    tx.digest_at(entry.origin, entry.seq),
                )
                if held is not None and held_digest is not None:
                    tx.add_evidence(
                        origin=entry.origin,
                        seq=entry.seq,
                        digest=held_digest,
                        envelope=held.envelope,
                        via=None,
                    )
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

    def _check_signer(self, tx: WriteTx, entry: FeedEntry, verified: VerifiedPayload) -> None:
        """The entry must be signed by the key that signs for its origin at this position (the
        origin's own key until its first rotation); a rotation entry makes its new key that key."""
        current = tx.current_signer(entry.origin)
        if verified.signer != current:
            raise RetiredKey(
                f"origin {entry.origin[:12]}… seq {entry.seq} is signed by a key it rotated away from"
            )
        if entry.rotation is not None:
            rotation = entry.rotation
            if rotation.key_id == current or tx.key_in_use(rotation.key_id):
                raise MalformedEntry("a key rotation must announce a key never used before")
            tx.add_signing_key(
                SigningKey(
                    origin=entry.origin,
                    key_id=rotation.key_id,
                    public_key=rotation.public_key,
                    from_seq=entry.seq + 1,
                )
            )
            log.warning("origin %s rotated its signing key at seq %d", entry.origin[:12], entry.seq)

    def _succession(self, tx: WriteTx, entry: FeedEntry, verified: VerifiedPayload) -> Succession:
        if tx.is_quarantined(entry.origin):
            raise Quarantined(f"origin {entry.origin[:12]}… is quarantined after equivocation; entry refused")
        compromised = tx.compromised_from(entry.origin)
        if compromised is not None and entry.seq >= compromised:
            # The operator's mark: whatever this key signs from that position on is worthless.
            raise Compromised(
                f"origin {entry.origin[:12]}… seq {entry.seq}: its key is marked compromised from"
                f" seq {compromised}; entry refused"
            )
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
        rows: UpsertBatch,
        via: str | None,
    ) -> None:
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
        # Only the creator versions its objects. Checked after the upsert, in the same transaction
        # (raising rolls all of it back): the upsert leaves another origin's rows unchanged, so when
        # it wrote every row, none of the ids was foreign and the check is skipped.
        written = tx.upsert_batch(rows)
        if written < len(indicators) and tx.foreign_indicator_ids([i.id for i in indicators], entry.origin):
            raise MalformedEntry("entry versions an indicator that another origin created")

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


_pause_guard = threading.Lock()
_pauses = 0
_collector_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while an entry's objects are built and stored.

    An entry of 20,000 indicators makes ~100,000 short-lived, acyclic objects (parsed JSON,
    indicators, rows) that reference counting frees when the entry is done. With the collector
    on, they trigger hundreds of collections per entry that traverse them again and again, which
    costs as much as the parsing itself. Pause around the whole of a job (a pull, an ingest) so
    that its objects are freed before the collector resumes: what is still alive then gets
    traversed once. Pauses nest and overlap across threads; the collector resumes when the last
    one ends, and only if it was enabled when the first one began.
    """
    global _pauses, _collector_was_enabled  # noqa: PLW0603 - one process-wide collector
    with _pause_guard:
        if _pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_guard:
            _pauses -= 1
            if _pauses == 0 and _collector_was_enabled:
                gc.enable()
