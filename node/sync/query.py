"""Match queries: index hits plus provenance from the store (DESIGN §9).

The index answers which indicators are near; the store says who published them, under which
category and TLP. The node reports every match; the operator's policy decides what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from node.hashing import hash_bytes
from node.match import MatchLists
from node.model import (
    PDQ_MIN_QUALITY,
    Compromise,
    Indicator,
    KeyId,
    Match,
    MatchResult,
    Opinion,
    OpinionTally,
    PartnerPolicy,
    PdqThresholds,
    Signal,
    Trust,
)
from node.sync.sightings import MatchCounter

NameSource = Callable[[], Mapping[KeyId, str]]
"""Returns the display name of each known origin (partners by their local name, and us)."""


class ProvenanceSource(Protocol):
    """Where provenance comes from (the store)."""

    def indicators_by_id(self, ids: Iterable[str]) -> dict[str, Indicator]:
        """Current versions of the given indicators."""
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


class Matcher:
    """Matches signals against the lists and explains each match.

    Besides the index and revocation, three operator settings decide what matches, read from
    the store on every call so that a change applies to the next query (well within a second):
    an origin's acceptance policy (categories and signal types; the rest stays stored but
    does not match), and a compromise mark (indicators whose current version came from an
    entry at or after the marked position do not match).
    """

    def __init__(
        self,
        *,
        lists: MatchLists,
        store: ProvenanceSource,
        thresholds: PdqThresholds,
        names: NameSource,
        self_key: KeyId | None = None,
        counter: MatchCounter | None = None,
    ) -> None:
        self._lists = lists
        self._counter = counter  # counts matches of others' indicators, for sightings
        self._store = store
        self._thresholds = thresholds
        self._names = names
        self._self_key = self_key

    def match(self, signals: Sequence[Signal]) -> list[MatchResult]:
        """One result per query signal, matches nearest first."""
        hits = [self._lists.query(s, pdq_threshold=self._thresholds.widest) for s in signals]
        indicators = self._store.indicators_by_id(h.indicator_id for batch in hits for h in batch)
        if not indicators:
            return [MatchResult(query=signal, matches=()) for signal in signals]
        names = self._names()
        policies = self._store.partner_policies()
        listed = self._listed(indicators, policies)
        # Only other origins' opinions count: an origin agreeing with itself corroborates nothing.
        tallies = {
            id_: OpinionTally.of(o for o in opinions if o.origin != listed[id_].origin)
            for id_, opinions in self._store.opinions_about(listed).items()
        }
        results: list[MatchResult] = []
        for signal, batch in zip(signals, hits, strict=True):
            found = [
                (ind, hit.distance)
                for hit in batch
                if (ind := listed.get(hit.indicator_id)) is not None
                and hit.distance <= self._within(ind, names)
            ]
            corroboration = len({ind.origin for ind, _ in found})
            matches = tuple(
                self._match(
                    ind,
                    distance=distance,
                    names=names,
                    policies=policies,
                    tally=tallies.get(ind.id),
                    corroboration=corroboration,
                )
                for ind, distance in found
            )
            results.append(MatchResult(query=signal, matches=matches))
        if self._counter is not None:
            self._counter.record(
                m.indicator_id for r in results for m in r.matches if m.trust is not Trust.OWN
            )
        return results

    def _listed(
        self, indicators: Mapping[str, Indicator], policies: Mapping[KeyId, PartnerPolicy]
    ) -> dict[str, Indicator]:
        """The indicators that may match: not revoked (the lists may lag a revocation by one
        refresh; the store is the truth), accepted by their origin's policy, not compromised."""
        listed = {
            id_: ind
            for id_, ind in indicators.items()
            if not ind.revoked
            and policies.get(ind.origin, _DEFAULT_POLICY).accepts(
                category=ind.category, signal_type=ind.signal.type
            )
        }
        compromised = self._store.compromises()
        suspect = [id_ for id_, ind in listed.items() if ind.origin in compromised]
        if suspect:
            seqs = self._store.entry_seqs_of(suspect)
            for id_ in suspect:
                if compromised[listed[id_].origin].covers(seqs.get(id_, 0)):
                    del listed[id_]
        return listed

    def _match(
        self,
        ind: Indicator,
        *,
        distance: int,
        names: Mapping[KeyId, str],
        policies: Mapping[KeyId, PartnerPolicy],
        tally: OpinionTally | None,
        corroboration: int,
    ) -> Match:
        trust = Trust.OWN if ind.origin == self._self_key else policies.get(ind.origin, _DEFAULT_POLICY).trust
        tally = tally or OpinionTally()
        return Match(
            indicator_id=ind.id,
            origin=ind.origin,
            origin_name=names.get(ind.origin, ind.origin[:12]),
            category=ind.category,
            signal_type=ind.signal.type,
            content_type=ind.content_type,
            distance=distance,
            tlp=ind.tlp,
            agreed=tally.agreed,
            disputed=tally.disputed,
            corroboration=corroboration,
            trust=trust,
        )

    def _within(self, indicator: Indicator, names: Mapping[KeyId, str]) -> int:
        if not indicator.signal.type.is_perceptual:
            return 0
        partner = names.get(indicator.origin, "")
        return self._thresholds.limit_for(partner=partner, category=indicator.category)


def signals_of_media(data: bytes) -> tuple[list[Signal], list[str]]:
    """The signals to match for media bytes, and notes on what could not be used.

    A PDQ hash below the quality floor is left out: it would match unrelated flat images.
    """
    hashes = hash_bytes(data)
    signals = [hashes.md5, hashes.sha256]
    notes = [hashes.note] if hashes.note else []
    if hashes.pdq is not None and hashes.pdq_quality is not None:
        if hashes.pdq_quality >= PDQ_MIN_QUALITY:
            signals.append(hashes.pdq)
        elif not notes:  # the hashing note already explains a low quality when there is one
            notes.append(f"pdq quality {hashes.pdq_quality} is below {PDQ_MIN_QUALITY}: not matched by pdq")
    return signals, notes
