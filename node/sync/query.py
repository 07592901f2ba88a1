"""Match queries: index hits plus provenance from the store (DESIGN §9).

The index answers which indicators are near; the store says who published them, under which
category and TLP, what other origins think of them and how far the operator trusts their
origin. The node reports every match; the operator's policy decides what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from node.hashing import MAX_IMAGE_PIXELS, MediaGate, hash_bytes
from node.match import MatchLists
from node.model import (
    PDQ_MIN_QUALITY,
    Compromise,
    IndexHit,
    Indicator,
    KeyId,
    Match,
    MatchResult,
    Opinion,
    OpinionTally,
    PartnerPolicy,
    PdqThresholds,
    Signal,
    SignalType,
    Trust,
    VideoHit,
    VideoThresholds,
)
from node.model.clock import Clock, utc_now
from node.model.provenance import ATTESTED_CATEGORY, AttestationMatch, Segment, frame_segments

BENIGN = "benign"
"""The category of safelist indicators: known-benign media that must never match as harmful."""

_NOT_BLOCKING = frozenset({BENIGN, ATTESTED_CATEGORY})
"""Categories that never match as harmful: safelist entries, and attested originals (reported
beside the matches as provenance, never a reason to act)."""

MatchRecorder = Callable[[list[str], list[str], datetime], None]
"""Keeps one call's matches: every matched indicator, those of other origins (for sightings),
and when (the node's :class:`node.sync.tape.MatchTape`, folded into the match log, flood
protection and the sightings counter)."""

NameSource = Callable[[], Mapping[KeyId, str]]
"""Returns the display name of each known origin (partners by their local name, and us)."""


class ProvenanceSource(Protocol):
    """Where provenance comes from (the store)."""

    def indicators_by_id(self, ids: Iterable[str]) -> dict[str, Indicator]:
        """Current versions of the given indicators."""
        ...

    def quarantined_origins(self) -> set[KeyId]:
        """Origins whose signals must not match (equivocation evidence is held)."""
        ...

    def opinions_about(self, indicator_ids: Iterable[str]) -> dict[str, list[Opinion]]:
        """Current opinions about the given indicators."""
        ...

    def partner_policies(self) -> dict[KeyId, PartnerPolicy]:
        """The operator's acceptance policy per partner key."""
        ...

    def compromises(self) -> dict[KeyId, Compromise]:
        """Keys the operator marked compromised."""
        ...

    def entry_seqs_of(self, indicator_ids: Iterable[str]) -> dict[str, int]:
        """The feed position that carried each indicator's current version."""
        ...


_DEFAULT_POLICY = PartnerPolicy()

MAX_PREPARED = 200_000
"""Indicators whose match answer is kept between calls; a full memo starts again."""

_ABSENT = object()  # not in the memo (None is a kept answer: "may not match")


@dataclass(frozen=True, slots=True, eq=False)
class _Listed:
    """An indicator that may match, apart from its ``valid_until`` (checked on every call), with
    what a match of it says: worked out from the provenance once, not on every hit."""

    indicator: Indicator
    within: int  # the distance at which it matches (0 for exact signal types)
    safe_within: int  # the distance at which it suppresses matches (``benign`` ones)
    name: str
    trust: Trust
    tally: OpinionTally
    attested: bool  # it carries an attestation record (provenance of an original)
    made: dict[tuple[int, int], Match] = field(default_factory=dict)

    def live(self, now: datetime) -> bool:
        valid_until = self.indicator.valid_until
        return valid_until is None or valid_until > now

    def match(self, hit: IndexHit, corroboration: int) -> Match:
        """The match of this indicator for ``hit``: an image or exact hit's is made once per
        distance and corroboration and shared (a Match is immutable), a video hit's every time."""
        if isinstance(hit, VideoHit):
            return self._make(hit, corroboration)
        key = (hit.distance, corroboration)
        made = self.made.get(key)
        if made is None:
            made = self.made[key] = self._make(hit, corroboration)
        return made

    def _make(self, hit: IndexHit, corroboration: int) -> Match:
        ind, tally = self.indicator, self.tally
        video = hit if isinstance(hit, VideoHit) else None
        return Match(
            indicator_id=ind.id,
            origin=ind.origin,
            origin_name=self.name,
            category=ind.category,
            signal_type=ind.signal.type,
            content_type=ind.content_type,
            distance=hit.distance,
            tlp=ind.tlp,
            query_match_percent=None if video is None else video.query_match_percent,
            compared_match_percent=None if video is None else video.compared_match_percent,
            agreed=tally.agreed,
            disputed=tally.disputed,
            corroboration=corroboration,
            trust=self.trust,
            c2pa=None if ind.note is None else ind.note.c2pa,
        )


class Matcher:
    """Matches signals against the lists and explains each match.

    Besides the index, what may match is decided from the store on every call, so a change
    applies to the next query (well within a second): revocation and expiry (``valid_until``),
    a quarantined origin (equivocation), an origin's acceptance policy (categories and signal
    types; the rest stays stored but does not match), and a compromise mark (indicators whose
    current version came from an entry at or after the marked position). A query on the
    safelist (the operator's file, or a ``benign`` indicator within reach) has no matches:
    what would have matched is reported as ``suppressed``.
    """

    def __init__(
        self,
        *,
        lists: MatchLists,
        store: ProvenanceSource,
        thresholds: PdqThresholds,
        names: NameSource,
        video: VideoThresholds | None = None,
        record: MatchRecorder | None = None,
        safelist: MatchLists | None = None,
        safelist_threshold: int = 31,
        clock: Clock = utc_now,
        self_key: KeyId | None = None,
        source_trust: Callable[[], Mapping[KeyId, Trust]] | None = None,
        sync: Callable[[], None] | None = None,
        generation: Callable[[], int] | None = None,
    ) -> None:
        """``safelist`` holds the operator's local safelist file; benign indicators come from
        ``lists``. ``record`` keeps each call's matches (the node's match tape, which counts them
        for the match log, flood protection and sightings). ``source_trust``
        gives the trust level of unsigned sources' origins (partners' comes with their policy).
        ``sync``, called first on every match, brings an in-memory ``store`` up to date
        (node/sync/provenance.py); its ``generation``, which grows whenever that found a change,
        lets each indicator's answer be worked out once and kept while it stays the same."""
        self._lists = lists
        self._store = store
        self._thresholds = thresholds
        self._names = names
        self._video = video or VideoThresholds()
        self._record = record
        self._safelist = safelist if safelist is not None else MatchLists()
        # The safelist file is read once, when the node opens: whether it lists anything is
        # decided here, not on every match.
        self._has_safelist = any(self._safelist.sizes().values())
        self._safelist_threshold = safelist_threshold
        # What the index is asked for: the widest threshold any indicator or the safelist has.
        self._widest = max(thresholds.widest, safelist_threshold)
        self.clock = clock  # public, as FloodGuard.clock: tests move time
        self._self_key = self_key
        self._source_trust = source_trust
        self._sync = sync
        self._generation = generation
        # (generation, answers): replaced together, so a reader never pairs one generation with
        # another's answers.
        self._prepared: tuple[int, dict[str, _Listed | None]] = (-1, {})

    def match(self, signals: Sequence[Signal]) -> list[MatchResult]:
        """One result per query signal, matches nearest first."""
        if self._sync is not None:
            self._sync()
        hits = self._lists.query_many(signals, pdq_threshold=self._widest, video=self._video)
        safe = self._local_safelist_flags(signals)
        if not any(hits) and not any(safe):
            return [MatchResult(query=signal, matches=()) for signal in signals]
        now = self.clock()  # one time for the whole call: liveness, the match log, sightings
        listed = self._listed(h.indicator_id for batch in hits for h in batch)
        results: list[MatchResult] = []
        for signal, batch, on_safelist in zip(signals, hits, safe, strict=True):
            live = [
                (hit, entry)
                for hit in batch
                if (entry := listed.get(hit.indicator_id)) is not None and entry.live(now)
            ]
            benign = any(
                entry.indicator.category == BENIGN and hit.distance <= entry.safe_within
                for hit, entry in live
            )
            found = [
                (hit, entry)
                for hit, entry in live
                if entry.indicator.category not in _NOT_BLOCKING and hit.distance <= entry.within
            ]
            attested = self._attestations(signal, live) if any(e.attested for _, e in live) else ()
            corroboration = len({entry.indicator.origin for _, entry in found})
            matches = tuple(entry.match(hit, corroboration) for hit, entry in found)
            if benign or on_safelist:
                results.append(
                    MatchResult(
                        query=signal, matches=(), suppressed=matches, safelisted=True, attestations=attested
                    )
                )
            else:
                results.append(MatchResult(query=signal, matches=matches, attestations=attested))
        matched = [m for r in results for m in r.matches]
        if matched and self._record is not None:
            others = [m.indicator_id for m in matched if m.trust is not Trust.OWN]
            self._record([m.indicator_id for m in matched], others, now)
        return results

    def _attestations(
        self, signal: Signal, live: Sequence[tuple[IndexHit, _Listed]]
    ) -> tuple[AttestationMatch, ...]:
        """The attested originals among ``live`` hits within reach, nearest first. A video
        attestation with frame times says which of its segments the query's frames match."""
        found: list[AttestationMatch] = []
        for hit, entry in live:
            ind = entry.indicator
            note = ind.note
            record = note.attestation if note is not None else None
            if note is None or record is None or hit.distance > entry.within:
                continue
            segments: tuple[Segment, ...] = ()
            if signal.type is SignalType.VPDQ and record.frames:
                segments = frame_segments(
                    record.frames, signal.frames(), threshold=self._video.frame_threshold
                )
            found.append(
                AttestationMatch(
                    indicator_id=ind.id,
                    origin=ind.origin,
                    origin_name=entry.name,
                    signal_type=ind.signal.type,
                    distance=hit.distance,
                    tlp=ind.tlp,
                    attestation=record,
                    note=note,
                    segments=segments,
                )
            )
        return tuple(sorted(found, key=lambda m: m.distance))

    def _listed(self, ids: Iterable[str]) -> dict[str, _Listed]:
        """Those of ``ids`` that may match (apart from ``valid_until``), each with its answer:
        kept from earlier calls while the provenance's generation stays the same, the rest
        worked out now."""
        if self._generation is None:
            return self._prepare(ids)
        generation = self._generation()
        kept_generation, kept = self._prepared
        if kept_generation != generation:
            kept = {}
            if generation > kept_generation:  # an older generation never replaces a newer one
                self._prepared = (generation, kept)
        found: dict[str, _Listed] = {}
        missing: list[str] = []
        for id_ in ids:
            entry = kept.get(id_, _ABSENT)
            if entry is _ABSENT:
                missing.append(id_)
            elif entry is not None:
                found[id_] = entry  # type: ignore[assignment]
        if missing:
            prepared = self._prepare(missing)
            if len(kept) + len(missing) > MAX_PREPARED:
                kept.clear()
            for id_ in missing:
                kept[id_] = prepared.get(id_)
            found.update(prepared)
        return found

    def _prepare(self, ids: Iterable[str]) -> dict[str, _Listed]:
        """The indicators of ``ids`` that may match, from the store: not revoked, of an origin
        not quarantined, trusted to match (not ``observe``) and accepted by its origin's policy,
        and not from a compromised key's later entries; with their names, thresholds, trust and
        other origins' opinions."""
        indicators = self._store.indicators_by_id(ids)
        if not indicators:
            return {}
        names = self._names()
        policies = self._policies()
        quarantined = self._store.quarantined_origins()
        admitted = {
            id_: ind
            for id_, ind in indicators.items()
            if not ind.revoked
            and ind.origin not in quarantined
            and _admits(policies.get(ind.origin, _DEFAULT_POLICY), ind)
        }
        compromised = self._store.compromises()
        suspect = [id_ for id_, ind in admitted.items() if ind.origin in compromised]
        if suspect:
            seqs = self._store.entry_seqs_of(suspect)
            for id_ in suspect:
                if compromised[admitted[id_].origin].covers(seqs.get(id_, 0)):
                    del admitted[id_]
        # Only other origins' opinions count: an origin agreeing with itself corroborates nothing.
        tallies = {
            id_: OpinionTally.of(o for o in opinions if o.origin != admitted[id_].origin)
            for id_, opinions in self._store.opinions_about(admitted).items()
        }
        return {
            id_: _Listed(
                indicator=ind,
                within=self._within(ind, names),
                safe_within=self._safe_within(ind),
                name=names.get(ind.origin, ind.origin[:12]),
                trust=Trust.OWN
                if ind.origin == self._self_key
                else policies.get(ind.origin, _DEFAULT_POLICY).trust,
                tally=tallies.get(id_) or OpinionTally(),
                attested=ind.note is not None and ind.note.attestation is not None,
            )
            for id_, ind in admitted.items()
        }

    def _policies(self) -> dict[KeyId, PartnerPolicy]:
        """Each origin's policy: partners' as the operator set it, unsigned sources' trust."""
        policies = dict(self._store.partner_policies())
        if self._source_trust is not None:
            for origin, trust in self._source_trust().items():
                policies.setdefault(origin, PartnerPolicy(trust=trust))
        return policies

    def safelist_changed(self) -> None:
        """The local safelist was changed in place (a reviewer's false positive): look again
        whether it lists anything."""
        self._has_safelist = any(self._safelist.sizes().values())

    @property
    def has_local_safelist(self) -> bool:
        """True when the operator's safelist file listed anything."""
        return self._has_safelist

    def _local_safelist_flags(self, signals: Sequence[Signal]) -> list[bool]:
        """Per signal: is it on the operator's safelist file (PDQ: within the threshold)?"""
        if not self.has_local_safelist:
            return [False] * len(signals)
        found = self._safelist.query_many(signals, pdq_threshold=self._safelist_threshold, video=self._video)
        return [bool(hits) for hits in found]

    def _safe_within(self, indicator: Indicator) -> int:
        if indicator.signal.type is SignalType.VPDQ:
            return self._video.frame_threshold
        return self._safelist_threshold if indicator.signal.type.is_perceptual else 0

    def _within(self, indicator: Indicator, names: Mapping[KeyId, str]) -> int:
        if indicator.signal.type is SignalType.VPDQ:
            return self._video.frame_threshold  # the video index applied the frame rule
        if not indicator.signal.type.is_perceptual:
            return 0
        partner = names.get(indicator.origin, "")
        return self._thresholds.limit_for(partner=partner, category=indicator.category)


def _admits(policy: PartnerPolicy, indicator: Indicator) -> bool:
    """The origin's trust lets its indicators match, and its policy accepts this one."""
    return policy.trust.matches and policy.accepts(
        category=indicator.category, signal_type=indicator.signal.type
    )


def signals_of_media(
    data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS, gate: MediaGate | None = None
) -> tuple[list[Signal], list[str]]:
    """The signals to match for media bytes, and notes on what could not be used.

    A PDQ hash below the quality floor is left out: it would match unrelated flat images. A
    video gives its vpdq signal (its good frames only). An image over ``max_pixels`` gets no
    PDQ (a note says so); with a ``gate``, Overloaded when its pixel budget stays full.
    """
    hashes = hash_bytes(data, max_pixels=max_pixels, gate=gate)
    signals = [hashes.md5, hashes.sha256]
    notes = [hashes.note] if hashes.note else []
    if hashes.pdq is not None and hashes.pdq_quality is not None:
        if hashes.pdq_quality >= PDQ_MIN_QUALITY:
            signals.append(hashes.pdq)
        elif not notes:  # the hashing note already explains a low quality when there is one
            notes.append(f"pdq quality {hashes.pdq_quality} is below {PDQ_MIN_QUALITY}: not matched by pdq")
    if hashes.vpdq is not None:
        signals.append(hashes.vpdq)
    return signals, notes
