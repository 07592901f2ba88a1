"""Ingest: THE trust boundary. Every entry from outside passes through :meth:`Ingestor.ingest`.

Order matters and is the security argument (DESIGN §4, §5):
size limit → verify the DSSE signature over the received header bytes with a pinned key →
parse only the verified bytes → the signer must be the entry's origin → the body must be the one
the header names (digest), a sealed body is opened only through a stanza sealed to us and checked
against its plaintext digest → STIX profile, object by object → succession on headers (seq ==
head+1, prev == digest(head)) → header, body, derived rows and new head in ONE transaction.

The chain advances on headers: a body that is missing, sealed to others, or swapped by the peer
that delivered it never stops the origin's feed. A missing body is fetched later from any peer
that holds it (:meth:`Ingestor.attach_body`); objects apply by ``(id, modified)`` whatever order
bodies arrive in, and a revocation is final. Objects that fail a content check are dropped and
counted, never the entry. A refused header stores nothing (except equivocation evidence) and is
counted by reason.

The steps up to the STIX profile need no database and have no side effects (:meth:`Ingestor.
prepare`), so a pull may run them for the next entry while this one commits (:meth:`Ingestor.
commit`); the order above holds for every entry, and refusals are recorded in feed order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node.config import LimitsSection
from node.errors import (
    BadSignature,
    BrokenChain,
    Compromised,
    Equivocation,
    Gap,
    MalformedEntry,
    MalformedStix,
    NotFound,
    Quarantined,
    Rejected,
    Replayed,
    RetiredKey,
    SealedBodyInvalid,
    TooLarge,
    UnknownSigner,
)
from node.feed import VerifiedPayload, check_body, decode_bundle, decode_header, open_envelope, signed_by
from node.feed.encryption import EncryptionKeyPair, encryption_key_id
from node.feed.sealing import (
    NONCE_BYTES,
    TAG_BYTES,
    open_content_key,
    open_sealed,
    sealed_bundle_document,
)
from node.model import (
    ENTRY_PAYLOAD_TYPE,
    ENTRY_PAYLOAD_TYPE_V1,
    EntryHeader,
    Envelope,
    Indicators,
    KeyId,
    Opinion,
    Seq,
    Siblings,
    Sighting,
    SignedEntry,
    SigningKey,
    Tlp,
)
from node.model.chain import Succession, classify
from node.model.clock import format_timestamp
from node.stix import BundleContents, read_entry_bundle
from node.store import Store, StoredBody, UpsertBatch, WriteTx, upsert_batch
from node.sync.bundle_text import read_entry_text
from node.sync.process_wide import collector_paused

log = logging.getLogger(__name__)

# A sealed body is its bundle padded to a power-of-two class plus the nonce and tag: with the
# padding, a bundle just under the envelope limit travels at up to twice that size.
_SEAL_SLACK = NONCE_BYTES + TAG_BYTES


@dataclass(frozen=True, slots=True)
class Accepted:
    """An entry whose header is now part of the origin's feed as we hold it."""

    origin: KeyId
    seq: Seq
    indicators: int
    readable: bool = True  # False: the body is missing or sealed to others
    dropped: int = 0  # objects left out by content checks


@dataclass(slots=True)
class Contents:
    """What a readable body yields: rows to store, and what content checks dropped."""

    plaintext: bytes
    audience: frozenset[KeyId] = frozenset()  # who the origin sealed it to (readers learn it)
    indicators: Indicators = field(default_factory=Indicators)
    opinions: list[tuple[Opinion, Tlp]] = field(default_factory=list)
    sightings: list[tuple[Sighting, Tlp]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    rows: UpsertBatch | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """An entry after the checks that need no database: header verified and parsed, body checked
    and (when we may) opened and read as STIX.

    Holds the refusal instead when the header failed; :meth:`Ingestor.commit` records and raises
    it. ``body_refusal`` names a body the delivering peer got wrong (swapped, truncated): the
    header is still accepted and the body counts as missing. Only :meth:`Ingestor.prepare`
    makes these.
    """

    item: SignedEntry
    verified: VerifiedPayload | None
    header: EntryHeader | None
    body: StoredBody | None = None
    contents: Contents | None = None
    refusal: Rejected | None = None
    body_refusal: Rejected | None = None
    pinned: Mapping[KeyId, bytes] | None = None  # what it was verified against, to prepare again

    @property
    def envelope(self) -> Envelope:
        """The header envelope as received."""
        return self.item.header

    @property
    def claimed_signer(self) -> KeyId:
        """The key the envelope names as its signer, verified or not. A pull uses it only to
        skip the rest of a refused signer's stream, never to decide what to trust."""
        signatures = self.item.header.signatures
        return signatures[0].keyid if signatures else KeyId("")


class Ingestor:
    """Verifies and stores entries from pinned origins."""

    def __init__(
        self,
        *,
        store: Store,
        limits: LimitsSection,
        self_key: KeyId | None = None,
        encryption_keys: Callable[[], Sequence[EncryptionKeyPair]] = tuple,
    ) -> None:
        self._store = store
        self._limits = limits
        # Our own entries come back from partners after a restore; they stay our contributions.
        self._self_key = self_key
        # Current and old private keys: a sealed body opens through a stanza sealed to one.
        self._encryption_keys = encryption_keys

    def ingest(self, item: SignedEntry, *, pinned: Mapping[KeyId, bytes], via: str | None) -> Accepted:
        """Accept ``item`` or raise a :class:`Rejected` subclass naming the rule it broke.

        ``pinned`` maps the key ids of pinned partners to their public keys; ``via`` names the
        peer it came from (for provenance and counting). Rejections are recorded before raising.
        """
        # One pause over both steps: the prepared objects are freed before the collector resumes.
        with collector_paused():
            return self.commit(self.prepare(item, pinned=pinned), via=via)

    def prepare(self, item: SignedEntry, *, pinned: Mapping[KeyId, bytes]) -> Prepared:
        """Size → signature over the received header bytes → parse only those → signer is the
        origin → body digest → open when sealed to us → STIX profile. No side effects: a refusal
        is returned, for :meth:`commit` to record."""
        verified: VerifiedPayload | None = None
        header: EntryHeader | None = None
        rotated = {k: v for k, v in self._store.signing_keys().items() if v.origin in pinned}
        try:
            with collector_paused():
                if item.header.payload_type == ENTRY_PAYLOAD_TYPE_V1:
                    raise MalformedEntry(
                        "feed format 1 is no longer read: the origin runs an older Accord and must upgrade"
                    )
                verified = open_envelope(
                    item.header,
                    pinned={**pinned, **{k: v.public_key for k, v in rotated.items()}},
                    expected_type=ENTRY_PAYLOAD_TYPE,
                    max_bytes=self._limits.max_envelope_bytes,
                )
                header = decode_header(verified.payload)
                signer = rotated[verified.signer].origin if verified.signer in rotated else verified.signer
                if header.origin != signer:
                    raise MalformedEntry("entry names another origin than the key that signed it")
                if header.rotation is not None and not signed_by(item.header, header.rotation.public_key):
                    raise BadSignature("a key rotation is not also signed by the new key it announces")
        except Rejected as exc:
            return Prepared(item=item, verified=verified, header=header, refusal=exc, pinned=pinned)
        with collector_paused():
            body, contents, body_refusal = self._prepare_body(header, item.body)
        return Prepared(
            item=item,
            verified=verified,
            header=header,
            body=body,
            contents=contents,
            body_refusal=body_refusal,
            pinned=pinned,
        )

    def _prepare_body(
        self, header: EntryHeader, body: bytes | None, *, content_key: bytes | None = None
    ) -> tuple[StoredBody, Contents | None, Rejected | None]:
        """The body as we will hold it, its contents when we can read it, and the delivering
        peer's fault when the body is not the one the header names (it then counts as missing)."""
        missing = StoredBody(
            digest=header.body_digest, size=header.body_size, sealed=header.sealed, body=None
        )
        if body is None:
            return missing, None, None
        try:
            check_body(header, body, max_bytes=self._max_body_bytes)
        except Rejected as exc:
            return missing, None, exc
        held = StoredBody(digest=header.body_digest, size=header.body_size, sealed=header.sealed, body=body)
        try:
            opened = self._open(header, body, content_key=content_key)
        except SealedBodyInvalid as exc:
            # The origin signed this very ciphertext: we hold and forward it, and read nothing.
            return held, None, exc
        if opened is None:
            return held, None, None  # sealed to others: stored and forwarded, never read
        plaintext, audience = opened
        # The canonical text's common shapes first (node/sync/bundle_text.py); else parse it all.
        read = self._walk(header, plaintext)
        document = None
        if read is None and header.seal is not None:
            # Only the walk or a strict parse proves a sealed body's bundle is one JSON object.
            try:
                document = sealed_bundle_document(plaintext)
            except SealedBodyInvalid as exc:
                return held, None, exc
        contents = self._contents(header, plaintext, read=read, document=document)
        contents.audience = audience
        readable = StoredBody(
            digest=held.digest,
            size=held.size,
            sealed=held.sealed,
            body=body,
            plaintext=plaintext if header.sealed else None,
        )
        return readable, contents, None

    @property
    def _max_body_bytes(self) -> int:
        return 2 * self._limits.max_envelope_bytes + _SEAL_SLACK

    def _open(
        self, header: EntryHeader, body: bytes, *, content_key: bytes | None
    ) -> tuple[bytes, frozenset[KeyId]] | None:
        """The bundle bytes and the audience of ``body``; None when it is sealed to others. A
        sealed bundle is not yet proven JSON: :meth:`_prepare_body` does that."""
        if header.seal is None:
            return body, frozenset()
        opened = open_sealed(
            body,
            origin=header.origin,
            seq=header.seq,
            stanzas=header.seal.stanzas,
            plaintext_digest=header.seal.plaintext_digest,
            keys=self._encryption_keys(),
            content_key=content_key,
            parse=False,
        )
        return None if opened is None else (opened.bundle, opened.audience)

    def _walk(self, header: EntryHeader, plaintext: bytes) -> BundleContents | None:
        """:func:`read_entry_text`, or None where it steps aside (the full read then names why)."""
        try:
            limit = self._limits.max_objects_per_entry
            return read_entry_text(plaintext, origin=header.origin, max_objects=limit)
        except (MalformedEntry, MalformedStix, TooLarge):
            return None

    def _contents(
        self,
        header: EntryHeader,
        plaintext: bytes,
        *,
        read: BundleContents | None,
        document: dict[str, Any] | None,
    ) -> Contents:
        """Read the bundle object by object; what breaks the profile or carries another TLP
        than the header's is dropped and named. ``read`` is what the text walk read, if it did;
        else ``document`` is ``plaintext`` already parsed as strictly as :func:`decode_bundle`
        does (a sealed body's check does that), or None to parse it here."""
        contents = Contents(plaintext=plaintext)
        limit = self._limits.max_objects_per_entry
        try:
            if read is None:
                bundle = decode_bundle(plaintext) if document is None else document
                read = read_entry_bundle(bundle, origin=header.origin, max_objects=limit)
        except (MalformedEntry, MalformedStix, TooLarge) as exc:
            contents.dropped.append(f"the body is not a readable bundle: {exc}")
            contents.rows = upsert_batch([], entry_seq=header.seq, local=False)
            return contents
        contents.dropped.extend(read.dropped)
        _keep_marked(read, header.tlp, contents)
        own = header.origin == self._self_key
        contents.rows = upsert_batch(contents.indicators, entry_seq=header.seq, local=own)
        return contents

    def commit(self, prepared: Prepared, *, via: str | None) -> Accepted:
        """Record and raise ``prepared``'s refusal, or check succession and store the header,
        its body as far as we hold it, its rows and the origin's new head in one transaction."""
        if isinstance(prepared.refusal, UnknownSigner) and prepared.pinned is not None:
            # Prepared ahead of a rotation entry that has committed since: verify again with
            # the keys known now (the new key signs the entries after the rotation).
            prepared = self.prepare(prepared.item, pinned=prepared.pinned)
        try:
            if prepared.refusal is not None:
                raise prepared.refusal
            header, verified, body = prepared.header, prepared.verified, prepared.body
            if header is None or verified is None or body is None:  # prepare() fills them unless it refused
                raise TypeError("commit() takes what prepare() returned")
            with collector_paused():
                accepted = self._commit(
                    header,
                    verified=verified,
                    envelope=prepared.envelope,
                    body=body,
                    contents=prepared.contents,
                    via=via,
                )
        except Rejected as exc:
            signer = prepared.verified.signer if prepared.verified else None
            self._count(
                exc,
                via=via,
                origin=prepared.header.origin if prepared.header else signer,
                seq=prepared.header.seq if prepared.header else None,
            )
            raise
        self._report_body(prepared, accepted, via=via)
        return accepted

    def _report_body(self, prepared: Prepared, accepted: Accepted, *, via: str | None) -> None:
        """Count what went wrong with an accepted header's body (the chain moved on regardless)."""
        if prepared.body_refusal is not None:
            self._count(prepared.body_refusal, via=via, origin=accepted.origin, seq=accepted.seq)
        if prepared.contents is not None and prepared.contents.dropped:
            self._count_dropped(prepared.contents.dropped, via=via, origin=accepted.origin, seq=accepted.seq)

    def _commit(
        self,
        header: EntryHeader,
        *,
        verified: VerifiedPayload,
        envelope: Envelope,
        body: StoredBody,
        contents: Contents | None,
        via: str | None,
    ) -> Accepted:
        with self._store.write() as tx:
            verdict = self._succession(tx, header, verified)
            if verdict is Succession.NEXT:
                self._check_signer(tx, header, verified)
                tx.append_entry(
                    origin=header.origin,
                    seq=header.seq,
                    digest=verified.digest,
                    prev=header.prev,
                    envelope=envelope,
                    tlp=header.tlp,
                    recipients=contents.audience if contents else frozenset(),
                    created=format_timestamp(header.created),
                    via=via,
                    objects=len(contents.indicators) if contents else 0,
                    body=body,
                )
                if contents is not None:
                    _apply(tx, header, contents)
                self._header_level(tx, header, via=via)
            elif verdict is Succession.EQUIVOCATION:
                # Evidence is committed by this transaction; the error is raised after it. Both
                # statements are kept: the entry we hold at this seq and the newcomer.
                held, held_digest = (
                    self._store.entry_at(header.origin, header.seq),
                    tx.digest_at(header.origin, header.seq),
                )
                if held is not None and held_digest is not None:
                    tx.add_evidence(
                        origin=header.origin,
                        seq=header.seq,
                        digest=held_digest,
                        envelope=held.envelope,
                        via=None,
                    )
                tx.add_evidence(
                    origin=header.origin, seq=header.seq, digest=verified.digest, envelope=envelope, via=via
                )
        if verdict is Succession.DUPLICATE and body.body is not None:
            # A header we hold again, with the body we may still be missing (it is checked).
            with contextlib.suppress(Rejected):  # a wrong body is counted by attach_body
                self.attach_body(header.origin, header.seq, body.body, via=via)
        if verdict is Succession.NEXT:
            log.info(
                "accepted entry origin=%s seq=%d tlp=%s indicators=%d body=%s via=%s",
                header.origin[:12],
                header.seq,
                header.tlp.value,
                len(contents.indicators) if contents else 0,
                "read" if contents else ("held" if body.body is not None else "missing"),
                via,
            )
            return Accepted(
                origin=header.origin,
                seq=header.seq,
                indicators=len(contents.indicators) if contents else 0,
                readable=contents is not None,
                dropped=len(contents.dropped) if contents else 0,
            )
        raise _refusal(verdict, header)

    def _header_level(self, tx: WriteTx, header: EntryHeader, *, via: str | None) -> None:
        """What a header says beyond its body: an encryption key announced, content keys granted."""
        if header.encryption_key is not None:
            tx.record_encryption_key(
                node=header.origin,
                key_id=encryption_key_id(header.encryption_key),
                key=header.encryption_key,
                announced=format_timestamp(header.created),
                source=f"feed seq {header.seq}" + (f" via {via}" if via else ""),
            )
        if not header.grants:
            return
        keys = self._encryption_keys()
        for grant in header.grants:
            content_key = open_content_key([grant.stanza], keys)
            if content_key is not None:
                tx.add_granted_key(origin=header.origin, seq=grant.seq, content_key=content_key)
                log.info("origin %s granted us the body of seq %d", header.origin[:12], grant.seq)

    def open_granted(self) -> int:
        """Read the sealed bodies we hold that a grant has since opened to us.

        Returns how many became readable. Run after a pull (a grant may arrive after the body,
        or before it: :meth:`attach_body` looks for a granted key too).
        """
        opened = 0
        for origin, seqs in self._store.granted_unread().items():
            for entry in self._store.unreadable_sealed(origin, seqs):
                if entry.body is not None and self._read_held(
                    entry.origin, entry.seq, entry.envelope, entry.body
                ):
                    opened += 1
        return opened

    def _read_held(self, origin: KeyId, seq: Seq, envelope: Envelope, body: bytes) -> bool:
        header = decode_header(envelope.payload)  # stored bytes, verified when accepted
        key = self._store.granted_key(origin, seq)
        if key is None:
            return False
        stored, contents, refusal = self._prepare_body(header, body, content_key=key)
        if contents is None or stored.plaintext is None:
            if refusal is not None:
                self._count(refusal, via=None, origin=origin, seq=seq)
            return False
        with self._store.write() as tx:
            tx.open_held_body(
                origin=origin,
                seq=seq,
                plaintext=stored.plaintext,
                objects=len(contents.indicators),
                audience=contents.audience,
            )
            _apply(tx, header, contents)
        return True

    def attach_body(self, origin: KeyId, seq: Seq, body: bytes, *, via: str | None) -> bool:
        """Store a body that arrives after its header, from any peer; apply it if we can read it.

        Returns True when it was new to us. Raises BodyMismatch (counted) when it is not the body
        the stored header names, and NotFound when we hold no header there.
        """
        entry = self._store.entry_at(origin, seq)
        if entry is None:
            raise NotFound(f"no header of origin {origin[:12]}… seq {seq} is held")
        if entry.body is not None:
            return False
        header = decode_header(entry.envelope.payload)  # stored bytes, verified when accepted
        with collector_paused():
            stored, contents, refusal = self._prepare_body(
                header, body, content_key=self._store.granted_key(origin, seq)
            )
        if stored.body is None:
            assert refusal is not None
            self._count(refusal, via=via, origin=origin, seq=seq)
            raise refusal
        with self._store.write() as tx:
            fresh = tx.attach_body(
                origin=origin,
                seq=seq,
                body=body,
                plaintext=stored.plaintext,
                objects=len(contents.indicators) if contents else 0,
                audience=contents.audience if contents else frozenset(),
            )
            if fresh and contents is not None:
                _apply(tx, header, contents)
        if fresh:
            log.info("fetched the body of origin %s seq %d via %s", origin[:12], seq, via)
            if refusal is not None:
                self._count(refusal, via=via, origin=origin, seq=seq)
            if contents is not None and contents.dropped:
                self._count_dropped(contents.dropped, via=via, origin=origin, seq=seq)
        return fresh

    def _check_signer(self, tx: WriteTx, header: EntryHeader, verified: VerifiedPayload) -> None:
        """The entry must be signed by the key that signs for its origin at this position (the
        origin's own key until its first rotation); a rotation entry makes its new key that key."""
        current = tx.current_signer(header.origin)
        if verified.signer != current:
            raise RetiredKey(
                f"origin {header.origin[:12]}… seq {header.seq} is signed by a key it rotated away from"
            )
        if header.rotation is not None:
            rotation = header.rotation
            if rotation.key_id == current or tx.key_in_use(rotation.key_id):
                raise MalformedEntry("a key rotation must announce a key never used before")
            tx.add_signing_key(
                SigningKey(
                    origin=header.origin,
                    key_id=rotation.key_id,
                    public_key=rotation.public_key,
                    from_seq=header.seq + 1,
                )
            )
            log.warning("origin %s rotated its signing key at seq %d", header.origin[:12], header.seq)

    def _succession(self, tx: WriteTx, header: EntryHeader, verified: VerifiedPayload) -> Succession:
        if tx.is_quarantined(header.origin):
            raise Quarantined(
                f"origin {header.origin[:12]}… is quarantined after equivocation; entry refused"
            )
        compromised = tx.compromised_from(header.origin)
        if compromised is not None and header.seq >= compromised:
            # The operator's mark: whatever this key signs from that position on is worthless.
            raise Compromised(
                f"origin {header.origin[:12]}… seq {header.seq}: its key is marked compromised from"
                f" seq {compromised}; entry refused"
            )
        return classify(
            tx.head(header.origin),
            seq=header.seq,
            prev=header.prev,
            digest=verified.digest,
            held_digest=tx.digest_at(header.origin, header.seq),
        )

    def _count(self, exc: Rejected, *, via: str | None, origin: KeyId | None, seq: Seq | None) -> None:
        log.warning(
            "refused entry from %s (origin %s): %s", via or "local input", (origin or "?")[:12], exc.reason
        )
        with self._store.write() as tx:
            tx.record_rejection(partner=via, origin=origin, seq=seq, reason=exc.reason, message=str(exc))

    def _count_dropped(self, dropped: Sequence[str], *, via: str | None, origin: KeyId, seq: Seq) -> None:
        """Objects left out of an accepted entry: one counted refusal each, named (never a value)."""
        log.warning(
            "dropped %d object(s) of origin %s seq %d via %s: %s",
            len(dropped),
            origin[:12],
            seq,
            via,
            dropped[0],
        )
        with self._store.write() as tx:
            for reason in dropped:
                tx.record_rejection(
                    partner=via, origin=origin, seq=seq, reason="object_dropped", message=reason
                )


def _keep_marked(read: BundleContents, tlp: Tlp, contents: Contents) -> None:
    """Keep the objects marked with the header's TLP; an object marked otherwise is dropped (a
    body never widens what its header says)."""
    for part in read.indicators.parts():  # siblings share their first's marking
        if (part.first if isinstance(part, Siblings) else part).tlp is tlp:
            contents.indicators.extend(part)
        else:
            ids = part.ids if isinstance(part, Siblings) else [part.id]
            contents.dropped.extend(f"indicator {i}: its TLP marking differs from the entry's" for i in ids)
    for opinion, marked in read.opinions:
        if marked is tlp:
            contents.opinions.append((opinion, marked))
        else:
            contents.dropped.append(f"opinion {opinion.id}: its TLP marking differs from the entry's")
    for sighting, marked in read.sightings:
        if marked is tlp:
            contents.sightings.append((sighting, marked))
        else:
            contents.dropped.append(f"sighting {sighting.id}: its TLP marking differs from the entry's")


def _apply(tx: WriteTx, header: EntryHeader, contents: Contents) -> None:
    """Apply a readable body's objects. Each applies by ``(id, modified)``: a newer version
    replaces an older one whatever order bodies arrive in, a revocation is final, and an object
    of another origin's is never versioned (the upsert leaves those rows as they are)."""
    if contents.rows is not None:
        written = tx.upsert_batch(contents.rows)
        if written < len(contents.indicators):
            foreign = tx.foreign_indicator_ids(list(contents.indicators.ids()), header.origin)
            contents.dropped.extend(f"indicator {i}: another origin created it" for i in foreign)
    tx.upsert_opinions(contents.opinions, entry_seq=header.seq)
    tx.add_sightings(contents.sightings, entry_seq=header.seq)


def _refusal(verdict: Succession, header: EntryHeader) -> Rejected:
    where = f"origin {header.origin[:12]}… seq {header.seq}"
    if verdict is Succession.DUPLICATE:
        return Replayed(f"{where} was accepted before; the replayed copy is ignored")
    if verdict is Succession.EQUIVOCATION:
        return Equivocation(
            f"{where}: a different, validly signed entry holds this seq; both kept as evidence"
        )
    if verdict is Succession.GAP:
        return Gap(f"{where} arrives before the entries that precede it; waiting for them")
    return BrokenChain(f"{where} does not name the digest of the previous entry as its prev")
