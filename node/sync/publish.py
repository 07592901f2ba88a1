"""Publish: turn the operator's contributions and revocations into signed entries of our feed.

Each batch becomes STIX indicators in one or more feed entries; each entry is serialised once
(RFC 8785), signed as a DSSE envelope and appended with its derived rows in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from node.config import LimitsSection
from node.errors import ConfigError, InvalidInput, NotFound
from node.feed import (
    CanonicalBundle,
    NodeIdentity,
    body_digest,
    canonical_bundle,
    encode_header,
    payload_digest,
    sign_envelope,
)
from node.feed.encryption import EncryptionKeyPair
from node.feed.sealing import seal_body, seal_content_key, sealed_size
from node.model import (
    ENTRY_PAYLOAD_TYPE,
    ContentType,
    Distribution,
    EntryHeader,
    Grant,
    Indicator,
    KeyId,
    KeyRotation,
    Opinion,
    Seal,
    Seq,
    Sighting,
    Signal,
    SigningKey,
    Tlp,
)
from node.model.clock import Clock, format_timestamp
from node.model.provenance import ATTESTED_CATEGORY, IndicatorNote
from node.stix import build_bundle
from node.store import Store, StoredBody, WriteTx
from node.store.feedback import MatchCount
from node.sync.process_wide import collector_paused
from node.sync.restore import ensure_may_publish

log = logging.getLogger(__name__)

_BUNDLE_OVERHEAD = 8  # identity, extension definition and marking objects beside the indicators
# A recipient's encryption key is sealed to only while the recipient confirmed it within this
# time (each pull or heads call it makes to us confirms it): a partner that went away, or
# rotated its key where we could not see it, gets nothing sealed to a key it may have lost.
MAX_KEY_CONFIRMATION_AGE = timedelta(days=30)
MAX_GRANTS_PER_ENTRY = 1000  # ~130 bytes each in the header: a grant entry stays far below the limit


@dataclass(frozen=True, slots=True)
class Contribution:
    """One signal to share, with what is known about the media it came from."""

    signal: Signal
    content_type: ContentType
    quality: int | None = None
    category: str | None = None  # overrides the batch's category (e.g. a CSV column)
    valid_until: datetime | None = None  # the source's expiry; None: valid until revoked
    note: IndicatorNote | None = None  # description, labels, attestation record (issue 15)


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What a publish call appended to our feed."""

    seqs: tuple[Seq, ...]
    added: int
    updated: int
    unchanged: int


class Publisher:
    """Appends entries to this node's own feed."""

    def __init__(
        self,
        *,
        store: Store,
        identity: NodeIdentity,
        name: str,
        limits: LimitsSection,
        clock: Clock,
        encryption: EncryptionKeyPair,
        origin: KeyId | None = None,
    ) -> None:
        self._store = store
        self._identity = identity
        self._encryption = encryption
        # Our identity: the key id partners pinned. After a key rotation another key signs.
        self._origin = origin or identity.key_id
        self._name = name
        self._limits = limits
        self._clock = clock

    @property
    def origin(self) -> KeyId:
        """Our key id: the origin of every entry we publish."""
        return self._origin

    def contribute(
        self, items: Sequence[Contribution], *, category: str, distribution: Distribution
    ) -> PublishReport:
        """Share ``items`` under ``category`` and ``distribution``; re-sharing a signal relabels it."""
        with collector_paused():  # a big batch is many short-lived, acyclic objects
            return self._contribute(items, category=category, distribution=distribution)

    def _contribute(
        self, items: Sequence[Contribution], *, category: str, distribution: Distribution
    ) -> PublishReport:
        now = self._clock()
        fresh: list[Indicator] = []
        added = updated = unchanged = 0
        unique = {c.signal: c for c in items}
        versions = self._current_versions(unique, attested=category == ATTESTED_CATEGORY)
        for item in unique.values():
            current = versions.get(item.signal)
            label = item.category or category
            indicator = self._version(item, current, category=label, tlp=distribution, now=now)
            if indicator is None:
                unchanged += 1
                continue
            fresh.append(indicator)
            added, updated = (added + 1, updated) if current is None else (added, updated + 1)
        seqs = self._publish(fresh, distribution)
        return PublishReport(seqs=seqs, added=added, updated=updated, unchanged=unchanged)

    def revoke(self, indicator_ids: Iterable[str]) -> PublishReport:
        """Publish revoked versions of our own indicators; they never match again anywhere."""
        return self.amend(indicator_ids, lambda ind: replace(ind, revoked=True))

    def amend(self, indicator_ids: Iterable[str], change: Callable[[Indicator], Indicator]) -> PublishReport:
        """Publish ``change(current)`` as a new version of each of our live indicators.

        Curation (revoke, expire, relabel) is always a new signed version: partners see it at
        their next sync, and only the creator may version its objects (DESIGN §7). A version
        ``change`` leaves as it was is not published (counted ``unchanged``). Each new version
        keeps its indicator's distribution. Raises :class:`NotFound` for an id that is not ours.
        """
        wanted = list(dict.fromkeys(indicator_ids))
        found = self._store.indicators_by_id(wanted)
        missing = [i for i in wanted if i not in found or found[i].origin != self.origin]
        if missing:
            raise NotFound(f"{len(missing)} indicator(s) are not in this node's own feed, e.g. {missing[0]}")
        now = self._clock()
        live = [ind for ind in found.values() if not ind.revoked]
        changed = [(ind, new) for ind in live if (new := change(ind)) != ind]
        by_distribution: dict[Distribution, list[Indicator]] = {}
        distributions = self._store.distributions_of(ind.id for ind, _ in changed)
        for ind, new in changed:
            version = replace(new, modified=_after(ind.modified, now))
            by_distribution.setdefault(distributions[ind.id], []).append(version)
        seqs: tuple[Seq, ...] = ()
        with collector_paused():
            for distribution, batch in by_distribution.items():
                seqs += self._publish(batch, distribution)
        return PublishReport(seqs=seqs, added=0, updated=len(changed), unchanged=len(wanted) - len(changed))

    def retarget(self, indicator_ids: Iterable[str], distribution: Distribution) -> PublishReport:
        """Share our live indicators ``indicator_ids`` under another TLP / audience.

        A new version never reaches a smaller audience than the previous one (DESIGN §5): a
        partner that held the wider version would keep matching it. So each indicator is first
        revoked where it was shared, then its signal is published afresh (a new indicator id)
        to ``distribution``, with its category, content type, quality and expiry.
        """
        wanted = list(dict.fromkeys(indicator_ids))
        found = self._store.indicators_by_id(wanted)
        live = [found[i] for i in wanted if i in found and not found[i].revoked]
        current = self._store.distributions_of(ind.id for ind in live)
        moving = [ind for ind in live if current.get(ind.id) != distribution]
        if not moving:
            return PublishReport(seqs=(), added=0, updated=0, unchanged=len(wanted))
        revoked = self.revoke(ind.id for ind in moving)
        fresh = [
            Contribution(
                signal=ind.signal,
                content_type=ind.content_type,
                quality=ind.quality,
                category=ind.category,
                valid_until=ind.valid_until,
            )
            for ind in moving
        ]
        added = self.contribute(fresh, category=moving[0].category, distribution=distribution)
        return PublishReport(
            seqs=revoked.seqs + added.seqs,
            added=0,
            updated=len(moving),
            unchanged=len(wanted) - len(moving),
        )

    def grant(self, reader: KeyId, content_keys: Sequence[tuple[Seq, bytes]]) -> tuple[Seq, ...]:
        """Give ``reader`` the bodies of our entries in ``content_keys`` (seq, content key): header-
        level entries whose grants seal each content key to the reader's confirmed key."""
        seqs: list[Seq] = []
        bundle = canonical_bundle(build_bundle([], origin_names={}))
        for start in range(0, len(content_keys), MAX_GRANTS_PER_ENTRY):
            chunk = content_keys[start : start + MAX_GRANTS_PER_ENTRY]
            with self._store.write() as tx:
                [key] = self._recipient_keys(tx, frozenset({reader}))
                grants = tuple(Grant(seq=seq, stanza=seal_content_key(ck, key)) for seq, ck in chunk)
                seqs.append(
                    self._append_entry(tx, bundle, Distribution(tlp=Tlp.GREEN), objects=0, grants=grants)
                )
        log.info("granted %s the bodies of %d entries in entries %s", reader[:12], len(content_keys), seqs)
        return tuple(seqs)

    def own_indicators(self, signal: Signal) -> list[Indicator]:
        """Our indicators listing ``signal`` (any version state)."""
        found = self._store.local_indicators_with_signals([signal]).get(signal, [])
        return [i for i in found if i.origin == self.origin]

    def _current_versions(
        self, signals: Iterable[Signal], *, attested: bool = False
    ) -> dict[Signal, Indicator]:
        """Our newest live indicator of each signal that has one (a few queries for any batch).

        Attestations and block-list indicators of one signal are separate indicators: attesting
        a file never relabels a contribution of it, nor contributing it an attestation.
        """
        current: dict[Signal, Indicator] = {}
        for signal, found in self._store.local_indicators_with_signals(signals).items():
            live = [
                i
                for i in found
                if not i.revoked and i.origin == self.origin and (i.category == ATTESTED_CATEGORY) == attested
            ]
            if live:
                current[signal] = max(live, key=lambda i: i.modified)
        return current

    def _version(
        self,
        item: Contribution,
        current: Indicator | None,
        *,
        category: str,
        tlp: Distribution,
        now: datetime,
    ) -> Indicator | None:
        """A new indicator, a relabelled version of ``current``, or None when nothing changes."""
        if current is None:
            return Indicator(
                id=f"indicator--{uuid.uuid4()}",
                signal=item.signal,
                category=category,
                content_type=item.content_type,
                tlp=tlp.tlp,
                origin=self.origin,
                created=now,
                modified=now,
                quality=item.quality,
                valid_until=item.valid_until,
                note=item.note,
            )
        labels = (current.category, current.tlp, current.content_type, current.valid_until, current.note)
        if labels == (category, tlp.tlp, item.content_type, item.valid_until, item.note):
            return None
        return replace(
            current,
            category=category,
            tlp=tlp.tlp,
            content_type=item.content_type,
            modified=_after(current.modified, now),
            quality=item.quality if item.quality is not None else current.quality,
            valid_until=item.valid_until,
            note=item.note,
        )

    def _publish(self, indicators: list[Indicator], distribution: Distribution) -> tuple[Seq, ...]:
        per_entry = max(1, self._limits.max_objects_per_entry - _BUNDLE_OVERHEAD)
        seqs: list[Seq] = []
        for start in range(0, len(indicators), per_entry):
            seqs.extend(self._append_batch(indicators[start : start + per_entry], distribution))
        return tuple(seqs)

    def _append_batch(self, batch: list[Indicator], distribution: Distribution) -> list[Seq]:
        bundle = canonical_bundle(build_bundle(batch, origin_names={self.origin: self._name}))
        if len(batch) > 1 and _body_size(len(bundle.text), distribution) > self._limits.max_envelope_bytes:
            half = len(batch) // 2  # too large for one envelope: two entries instead
            return self._append_batch(batch[:half], distribution) + self._append_batch(
                batch[half:], distribution
            )
        with self._store.write() as tx:
            seq = self._append_entry(tx, bundle, distribution, objects=len(batch))
            tx.upsert_indicators(batch, entry_seq=seq, local=True)
        log.info("published entry seq=%d indicators=%d tlp=%s", seq, len(batch), distribution.tlp.value)
        return [seq]

    def publish_opinions(self, opinions: Sequence[Opinion], distribution: Distribution) -> Seq:
        """Publish our ``opinions`` (new, replacing or revoked versions) as one entry.

        Opinions are few and small (one per indicator an analyst reviewed), so one entry holds
        them; a batch beyond the entry limits is refused rather than split.
        """
        tlp = distribution.tlp
        bundle = canonical_bundle(
            build_bundle([], origin_names={self.origin: self._name}, opinions=[(o, tlp) for o in opinions])
        )
        if len(opinions) > self._limits.max_objects_per_entry - _BUNDLE_OVERHEAD or (
            _body_size(len(bundle.text), distribution) > self._limits.max_envelope_bytes
        ):
            raise InvalidInput(f"{len(opinions)} opinions do not fit in one entry; state fewer at once")
        with self._store.write() as tx:
            seq = self._append_entry(tx, bundle, distribution, objects=len(opinions))
            tx.upsert_opinions([(o, tlp) for o in opinions], entry_seq=seq)
        log.info("published entry seq=%d opinions=%d tlp=%s", seq, len(opinions), tlp.value)
        return seq

    def publish_sightings(
        self,
        origins: set[KeyId],
        *,
        make: Callable[[list[MatchCount]], dict[Distribution, list[Sighting]]],
    ) -> list[Seq]:
        """Take the pending match counts of ``origins``' indicators and publish the sightings
        ``make`` turns them into, in the same transaction: a count is reported exactly once."""
        seqs: list[Seq] = []
        with self._store.write() as tx:
            counts = tx.take_match_counts(origins)
            per_entry = max(1, self._limits.max_objects_per_entry - _BUNDLE_OVERHEAD)
            for distribution, sightings in make(counts).items():
                for start in range(0, len(sightings), per_entry):
                    marked = [(s, distribution.tlp) for s in sightings[start : start + per_entry]]
                    bundle = canonical_bundle(
                        build_bundle([], origin_names={self.origin: self._name}, sightings=marked)
                    )
                    seq = self._append_entry(tx, bundle, distribution, objects=len(marked))
                    tx.add_sightings(marked, entry_seq=seq)
                    seqs.append(seq)
        if seqs:
            log.info("published sightings of %d indicators in entries %s", len(counts), seqs)
        return seqs

    def rotate(self, new: NodeIdentity) -> Seq:
        """Publish the entry that makes ``new`` our signing key, signed by the current key and
        ``new``; every later entry is signed by ``new`` alone (the caller swaps the key file)."""
        rotation = KeyRotation(public_key=new.public_key)
        bundle = canonical_bundle(build_bundle([], origin_names={}))
        with self._store.write() as tx:
            if rotation.key_id == self._identity.key_id or tx.key_in_use(rotation.key_id):
                raise InvalidInput("the new key is in use already; rotate to a fresh key")
            seq = self._append_entry(
                tx, bundle, Distribution(tlp=Tlp.GREEN), objects=0, rotation=rotation, cosigner=new
            )
            tx.add_signing_key(
                SigningKey(origin=self.origin, key_id=new.key_id, public_key=new.public_key, from_seq=seq + 1)
            )
        self._identity = new
        log.warning("rotated our signing key at seq %d: key %s signs from now on", seq, new.key_id[:12])
        return seq

    def _append_entry(
        self,
        tx: WriteTx,
        bundle: CanonicalBundle,
        distribution: Distribution,
        *,
        objects: int,
        rotation: KeyRotation | None = None,
        cosigner: NodeIdentity | None = None,
        grants: tuple[Grant, ...] = (),
    ) -> Seq:
        """Sign the header of ``bundle``'s entry after our head and append it inside ``tx``.

        A restricted body is sealed to its recipients' confirmed encryption keys and to our own;
        the header announces our encryption key when our feed has not announced it yet.
        """
        ensure_may_publish(tx, self.origin)  # a restored node must not fork its own feed
        if tx.current_signer(self.origin) != self._identity.key_id:
            # Another process rotated our key: an entry signed with the old one would be refused
            # by every partner and block our feed behind it.
            raise ConfigError("this process holds a retired signing key (the key was rotated); restart it")
        head = tx.head(self.origin)
        seq = Seq(head.seq + 1 if head else 1)
        body = self._body(tx, bundle, distribution, seq=seq)
        header = EntryHeader(
            origin=self.origin,
            seq=seq,
            prev=head.digest if head else None,
            created=self._clock(),
            tlp=distribution.tlp,
            body_digest=body_digest(body.ciphertext),
            body_size=len(body.ciphertext),
            seal=body.seal,
            rotation=rotation,
            encryption_key=self._announcement(tx),
            grants=grants,
        )
        payload = encode_header(header)
        cosigners = (cosigner,) if cosigner is not None else ()
        tx.append_entry(
            origin=self.origin,
            seq=seq,
            digest=payload_digest(payload),
            prev=header.prev,
            envelope=sign_envelope(ENTRY_PAYLOAD_TYPE, payload, self._identity, *cosigners),
            tlp=distribution.tlp,
            recipients=distribution.recipients,
            created=format_timestamp(header.created),
            via=None,
            objects=objects,
            body=StoredBody(
                digest=header.body_digest,
                size=header.body_size,
                sealed=header.sealed,
                body=body.ciphertext,
                plaintext=bundle.text if header.sealed else None,
            ),
        )
        if header.encryption_key is not None:
            tx.record_encryption_key(
                node=self.origin,
                key_id=self._encryption.key_id,
                key=self._encryption.public,
                announced=format_timestamp(header.created),
                source="own feed",
            )
        return seq

    def _body(self, tx: WriteTx, bundle: CanonicalBundle, distribution: Distribution, *, seq: Seq) -> _Body:
        if not distribution.tlp.names_recipients:
            return _Body(ciphertext=bundle.text, seal=None)
        keys = self._recipient_keys(tx, distribution.recipients)
        sealed = seal_body(
            bundle.text,
            origin=self.origin,
            seq=seq,
            recipients=keys,
            self_key=self._encryption.public,
            audience=distribution.recipients,
        )
        return _Body(
            ciphertext=sealed.ciphertext,
            seal=Seal(plaintext_digest=sealed.plaintext_digest, stanzas=sealed.stanzas),
        )

    def _recipient_keys(self, tx: WriteTx, recipients: frozenset[KeyId]) -> list[bytes]:
        """The encryption keys to seal to: each recipient's newest key, signed by it (or pinned by
        the operator) recently, never one of a partner whose key is marked compromised."""
        known = self._store.encryption_keys()
        cutoff = format_timestamp(self._clock() - MAX_KEY_CONFIRMATION_AGE)
        keys: list[bytes] = []
        unusable: list[str] = []
        for recipient in sorted(recipients):
            record = known.get(recipient)
            if recipient == self.origin:
                keys.append(self._encryption.public)
            elif record is None or record.announced < cutoff or tx.compromised_from(recipient) is not None:
                unusable.append(recipient)
            else:
                keys.append(record.key)
        if unusable:
            named = {p.key_id: p.name for p in self._store.partners()}
            names = ", ".join(named.get(KeyId(k), k[:12] + "…") for k in unusable)
            raise InvalidInput(
                f"no recently confirmed encryption key for {names}: a restricted body is sealed only to"
                " keys a partner confirmed to us (it does so on every pull or heads call it makes to"
                " us, and in its own feed); sync with it first, or leave it out of the recipients"
            )
        return keys

    def _announcement(self, tx: WriteTx) -> bytes | None:
        """Our encryption key, when our feed has not announced it yet (partners seal to it)."""
        row = tx.execute(
            "SELECT 1 FROM encryption_keys WHERE node = ? AND key_id = ? AND source = 'own feed'",
            (self.origin, self._encryption.key_id),
        ).fetchone()
        return None if row is not None else self._encryption.public

    def announce_encryption_key(self) -> Seq | None:
        """Publish a header-level entry announcing our current encryption key, unless our feed
        already did (after ``accord key rotate --encryption``, or before a first contribution)."""
        with self._store.write() as tx:
            if self._announcement(tx) is None:
                return None
            bundle = canonical_bundle(build_bundle([], origin_names={}))
            seq = self._append_entry(tx, bundle, Distribution(tlp=Tlp.GREEN), objects=0)
        log.info("announced our encryption key %s at seq %d", self._encryption.key_id[:12], seq)
        return seq

    def use_encryption_key(self, keys: EncryptionKeyPair) -> None:
        """Seal to ourselves and announce with ``keys`` from now on (after a rotation)."""
        self._encryption = keys


@dataclass(frozen=True, slots=True)
class _Body:
    ciphertext: bytes  # the body as it travels: the bundle itself when not sealed
    seal: Seal | None


def _body_size(bundle_bytes: int, distribution: Distribution) -> int:
    """The size a bundle of ``bundle_bytes`` travels at: padded to its class when sealed."""
    if not distribution.tlp.names_recipients:
        return bundle_bytes
    return sealed_size(bundle_bytes, audience=len(distribution.recipients))


def _after(previous: datetime, now: datetime) -> datetime:
    """A modified time strictly after ``previous`` (STIX versions must move forward)."""
    return now if now > previous else previous + timedelta(milliseconds=1)
