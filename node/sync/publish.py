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
    canonical_bundle,
    encode_entry,
    payload_digest,
    sign_envelope,
)
from node.model import (
    ENTRY_PAYLOAD_TYPE,
    ContentType,
    Distribution,
    FeedEntry,
    Indicator,
    KeyId,
    KeyRotation,
    Opinion,
    Seq,
    Sighting,
    Signal,
    SigningKey,
    Tlp,
)
from node.model.clock import Clock, format_timestamp
from node.stix import build_bundle
from node.store import Store, WriteTx
from node.store.feedback import MatchCount
from node.sync.ingest import collector_paused
from node.sync.restore import ensure_may_publish

log = logging.getLogger(__name__)

_BUNDLE_OVERHEAD = 8  # identity, extension definition and marking objects beside the indicators
# Origin, seq, prev, created, TLP, payload type and signature around the bundle (~400 bytes);
# recipients are counted on top (see _entry_overhead).
_ENTRY_MARGIN = 1024


@dataclass(frozen=True, slots=True)
class Contribution:
    """One signal to share, with what is known about the media it came from."""

    signal: Signal
    content_type: ContentType
    quality: int | None = None
    category: str | None = None  # overrides the batch's category (e.g. a CSV column)
    valid_until: datetime | None = None  # the source's expiry; None: valid until revoked


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
        origin: KeyId | None = None,
    ) -> None:
        self._store = store
        self._identity = identity
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
        versions = self._current_versions(unique)
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

    def own_indicators(self, signal: Signal) -> list[Indicator]:
        """Our indicators listing ``signal`` (any version state)."""
        found = self._store.local_indicators_with_signals([signal]).get(signal, [])
        return [i for i in found if i.origin == self.origin]

    def _current_versions(self, signals: Iterable[Signal]) -> dict[Signal, Indicator]:
        """Our newest live indicator of each signal that has one (a few queries for any batch)."""
        current: dict[Signal, Indicator] = {}
        for signal, found in self._store.local_indicators_with_signals(signals).items():
            live = [i for i in found if not i.revoked and i.origin == self.origin]
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
            )
        labels = (current.category, current.tlp, current.content_type, current.valid_until)
        if labels == (category, tlp.tlp, item.content_type, item.valid_until):
            return None
        return replace(
            current,
            category=category,
            tlp=tlp.tlp,
            content_type=item.content_type,
            modified=_after(current.modified, now),
            quality=item.quality if item.quality is not None else current.quality,
            valid_until=item.valid_until,
        )

    def _publish(self, indicators: list[Indicator], distribution: Distribution) -> tuple[Seq, ...]:
        per_entry = max(1, self._limits.max_objects_per_entry - _BUNDLE_OVERHEAD)
        seqs: list[Seq] = []
        for start in range(0, len(indicators), per_entry):
            seqs.extend(self._append_batch(indicators[start : start + per_entry], distribution))
        return tuple(seqs)

    def _append_batch(self, batch: list[Indicator], distribution: Distribution) -> list[Seq]:
        bundle = canonical_bundle(build_bundle(batch, origin_names={self.origin: self._name}))
        if (
            len(batch) > 1
            and len(bundle.text) + _entry_overhead(distribution) > self._limits.max_envelope_bytes
        ):
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
            len(bundle.text) + _entry_overhead(distribution) > self._limits.max_envelope_bytes
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
    ) -> Seq:
        """Sign ``bundle`` as the entry after our head and append it inside ``tx``."""
        ensure_may_publish(tx, self.origin)  # a restored node must not fork its own feed
        if tx.current_signer(self.origin) != self._identity.key_id:
            # Another process rotated our key: an entry signed with the old one would be refused
            # by every partner and block our feed behind it.
            raise ConfigError("this process holds a retired signing key (the key was rotated); restart it")
        head = tx.head(self.origin)
        entry = FeedEntry(
            origin=self.origin,
            seq=Seq(head.seq + 1 if head else 1),
            prev=head.digest if head else None,
            created=self._clock(),
            distribution=distribution,
            bundle=bundle.data,
            rotation=rotation,
        )
        payload = encode_entry(entry, bundle=bundle)
        cosigners = (cosigner,) if cosigner is not None else ()
        tx.append_entry(
            origin=self.origin,
            seq=entry.seq,
            digest=payload_digest(payload),
            prev=entry.prev,
            envelope=sign_envelope(ENTRY_PAYLOAD_TYPE, payload, self._identity, *cosigners),
            tlp=distribution.tlp,
            recipients=distribution.recipients,
            created=format_timestamp(entry.created),
            via=None,
            objects=objects,
        )
        return entry.seq


def _entry_overhead(distribution: Distribution) -> int:
    """An upper bound of what a signed envelope holds besides its bundle's bytes."""
    return _ENTRY_MARGIN + sum(len(r) + 3 for r in distribution.recipients)


def _after(previous: datetime, now: datetime) -> datetime:
    """A modified time strictly after ``previous`` (STIX versions must move forward)."""
    return now if now > previous else previous + timedelta(milliseconds=1)
