"""Analyst queries and provenance: one engine behind ``accord query``/``show`` and the Local API.

The store selects rows with its indexes; this module adds what SQL cannot know (near-duplicate
distance, quarantined origins, disputes) and what the caller may see: TLP:RED only when a
person asked for it explicitly. Provenance re-verifies every stored envelope now, against the
origin's pinned key, and reads versions only from bytes that verified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from node.errors import AccordError, InvalidInput, NotFound
from node.feed import check_body, decode_bundle, decode_header, open_envelope
from node.match import Warninglists
from node.model import ENTRY_PAYLOAD_TYPE, Indicator, KeyId, Opinion, Seq, Signal
from node.model.clock import utc_now
from node.model.queries import IndicatorQuery, QueryAnswer, QueryRow, SortKey, status_of
from node.stix.reader import indicator_from_stix
from node.store import Store
from node.store.analyst import (
    EntryRecord,
    MatchCount,
    StatusSets,
    entries_mentioning,
    indicators_with_value,
    match_counts,
    pdq_candidates,
    quarantined_origins,
    select_indicators,
)
from node.sync.near import NearIndex, admits, carries_labels, near_hits

NameSource = Callable[[], Mapping[KeyId, str]]
DisputeSource = Callable[[], frozenset[str]]
"""Ids of indicators another origin's current Opinion disputes (the node passes the store's
``disputed_indicator_ids``; :func:`no_disputes` is for a lookup without opinions)."""

VERIFY_LIMIT_BYTES = 1 << 30  # stored envelopes passed their size limit at ingest already
ENTRY_TIME_MARGIN = timedelta(days=1)
"""Provenance searches an indicator's versions in entries created from this long before the
indicator's ``created`` on: an entry cannot carry an indicator made after it, and a day covers
any honest clock difference between the two timestamps (both are the origin's own clock)."""


def no_disputes() -> frozenset[str]:
    """The dispute source while no Opinions are held."""
    return frozenset()


@dataclass(frozen=True, slots=True)
class Version:
    """One feed entry that carried the indicator, and the version it carried (if verified)."""

    seq: Seq
    digest: str
    created: str
    received_at: str
    via: str | None  # the peer that delivered it; None: published by this node
    verification: str  # "ok" or why the stored envelope does not verify now
    indicator: Indicator | None  # the version in that entry; None when it did not verify


@dataclass(frozen=True, slots=True)
class Provenance:
    """Everything this node knows about one indicator."""

    row: QueryRow
    versions: tuple[Version, ...]
    matches: MatchCount | None
    opinions: tuple[str, ...] = ()  # other origins' current opinions, with their authors
    sightings: tuple[str, ...] = ()


class Lookup:
    """Queries and provenance over the indicators a node holds."""

    def __init__(
        self,
        *,
        store: Store,
        names: NameSource,
        own_key: tuple[KeyId, bytes],
        disputes: DisputeSource = no_disputes,
        warninglists: Callable[[], Warninglists] | None = None,
        near_index: NearIndex | None = None,
    ) -> None:
        """``warninglists`` marks rows whose value a MISP warninglist names (never matched).
        ``near_index`` answers near-duplicate searches from loaded match lists (else a scan)."""
        self._store = store
        self._names = names
        self._own_key = own_key
        self._disputes = disputes
        self._warninglists = warninglists
        self._near_index = near_index

    def query(self, query: IndicatorQuery) -> QueryAnswer:
        """The rows ``query`` selects that the caller may see, in the asked order."""
        sets = self._sets()
        if query.near is not None:
            return self._near(query, sets, query.near)
        found = select_indicators(self._store, query, sets)
        rows = self._rows(found[: query.limit], sets)
        return QueryAnswer(rows=tuple(rows), truncated=len(found) > query.limit)

    def _near(self, query: IndicatorQuery, sets: StatusSets, near: Signal) -> QueryAnswer:
        index = None if self._near_index is None else self._near_index(near, query.distance)
        if index is None:
            hits = self._near_scan(query, sets, near)
            found = list(self._store.indicators_by_id(hits).values())
        else:
            hits = near_hits(self._store, query, sets, near=near, index=index)
            found = [ind for ind in self._store.indicators_by_id(hits).values() if admits(query, ind, sets)]
        return self._near_answer(found, hits, query=query, sets=sets)

    def _near_scan(self, query: IndicatorQuery, sets: StatusSets, near: Signal) -> dict[str, int]:
        # An exact scan: every PDQ row passing the other filters is measured, so nothing within
        # the distance is missed (the match lists answer the same question for uploads).
        target = int(near.value, 16)
        hits: dict[str, int] = {}
        for indicator_id, value in pdq_candidates(self._store, query, sets):
            distance = (int(value, 16) ^ target).bit_count()
            if distance <= query.distance:
                hits[indicator_id] = distance
        return hits

    def rows_by_id(self, hits: Mapping[str, int], *, query: IndicatorQuery, truncated: bool) -> QueryAnswer:
        """The answer of a near-duplicate search another process made (the running node's
        index named the ids and distances): the rows read here, in the asked order."""
        # Labels are checked here too: a node serving an older build ignores the field it lacks.
        found = [i for i in self._store.indicators_by_id(hits).values() if carries_labels(query, i)]
        return self._near_answer(found, hits, query=query, truncated=truncated)

    def _near_answer(
        self,
        found: Sequence[Indicator],
        hits: Mapping[str, int],
        *,
        query: IndicatorQuery,
        sets: StatusSets | None = None,
        truncated: bool = False,
    ) -> QueryAnswer:
        """The rows of a near-duplicate search's hits, in the asked order, up to the limit."""
        sets = sets or self._sets()
        # Hits are few (unrelated PDQs lie ~128 bits apart), so they are read whole and ordered here.
        ordered = sorted(found, key=lambda ind: _sort_key(query.sort, ind, hits[ind.id]))
        rows = self._rows(ordered[: query.limit], sets, hits)
        return QueryAnswer(rows=tuple(rows), truncated=truncated or len(ordered) > query.limit)

    def _sets(self) -> StatusSets:
        return StatusSets(
            now=utc_now(), quarantined=quarantined_origins(self._store), disputed=self._disputes()
        )

    def _rows(
        self, indicators: Sequence[Indicator], sets: StatusSets, distances: Mapping[str, int] | None = None
    ) -> list[QueryRow]:
        names = self._names()
        return [
            QueryRow(
                indicator=ind,
                status=status_of(ind, now=sets.now, quarantined=sets.quarantined, disputed=sets.disputed),
                origin_name=names.get(ind.origin, ind.origin[:12]),
                distance=None if distances is None else distances.get(ind.id),
                warninglisted=self._warninglist_of(ind.signal),
            )
            for ind in self._store.with_notes(indicators)
        ]

    def _warninglist_of(self, signal: Signal) -> str | None:
        if self._warninglists is None or signal.type.is_perceptual:
            return None
        return self._warninglists().list_of(signal)

    # --- provenance -------------------------------------------------------------------------

    def show(self, target: str, *, include_red: bool) -> list[Provenance]:
        """Provenance of the indicator ``target`` names (an id), or of every indicator listing a
        signal (``TYPE:VALUE``). RED ones only with ``include_red``; none visible is NotFound."""
        indicators = self._targets(target)
        visible = [i for i in indicators if include_red or i.tlp.value != "red"]
        if not visible:
            # Held but RED looks the same as not held: the caller learns nothing either way.
            raise NotFound("no indicator held here matches that id or signal (RED needs --include-red)")
        sets = self._sets()
        counts = match_counts(self._store, (i.id for i in visible))
        opinions = self._store.opinions_about(i.id for i in visible)
        names = self._names()
        return [
            Provenance(
                row=row,
                versions=self._versions(row.indicator),
                matches=counts.get(row.indicator.id),
                opinions=tuple(_opinion_text(o, names) for o in opinions.get(row.indicator.id, [])),
                sightings=self._sightings(row.indicator, names),
            )
            for row in self._rows(visible, sets)
        ]

    def _sightings(self, indicator: Indicator, names: Mapping[KeyId, str]) -> tuple[str, ...]:
        """Sightings others reported to this node (only an indicator's origin receives them)."""
        return tuple(
            f"{names.get(t.sighted_by, t.sighted_by[:12])}: {t.count} match(es),"
            f" {t.first_seen.isoformat()} .. {t.last_seen.isoformat()}"
            for t in self._store.sightings_on(indicator.origin)
            if t.indicator_id == indicator.id
        )

    def _targets(self, target: str) -> list[Indicator]:
        if target.startswith("indicator--"):
            return list(self._store.indicators_by_id([target]).values())
        if ":" not in target:
            raise InvalidInput("give an indicator id (indicator--...) or a signal TYPE:VALUE")
        signal = Signal.parse(target)
        return indicators_with_value(self._store, signal.type.value, signal.value)

    def _versions(self, indicator: Indicator) -> tuple[Version, ...]:
        pinned = dict(self._store.pinned_keys())
        own_id, own_public = self._own_key
        pinned[own_id] = own_public
        key = pinned.get(indicator.origin)
        versions = []
        for record in entries_mentioning(self._store, indicator, margin=ENTRY_TIME_MARGIN):
            verification, version = self._verify(record, key, indicator)
            if verification == "ok" and version is None:
                continue  # the id appeared in the bytes but not as this indicator's object
            versions.append(
                Version(
                    seq=record.entry.seq,
                    digest=record.digest,
                    created=record.created,
                    received_at=record.received_at,
                    via=record.via,
                    verification=verification,
                    indicator=version,
                )
            )
        return tuple(versions)

    def _verify(  # noqa: PLR0911 - one return per verdict reads as the checklist it is
        self, record: EntryRecord, key: bytes | None, indicator: Indicator
    ) -> tuple[str, Indicator | None]:
        if key is None:
            return "cannot verify: the origin is no longer pinned", None
        try:
            verified = open_envelope(
                record.entry.envelope,
                pinned={indicator.origin: key},
                expected_type=ENTRY_PAYLOAD_TYPE,
                max_bytes=VERIFY_LIMIT_BYTES,
            )
            header = decode_header(verified.payload)
            if header.origin != indicator.origin or header.seq != record.entry.seq:
                return "FAILED: the signed entry names another origin or seq than where it is stored", None
            if record.entry.body is None or record.bundle is None:
                return "cannot verify: the body is not held, or is sealed to others", None
            # The body must be the one the signed header names (for a sealed body, the
            # ciphertext: its plaintext was checked against the header's digest when opened).
            check_body(header, record.entry.body, max_bytes=len(record.entry.body))
            # Only this indicator's object is read (an entry may hold 20,000 of them).
            objects = decode_bundle(record.bundle).get("objects")
            if not isinstance(objects, list):
                return "FAILED: the signed bundle holds no object list", None
            stix = next((o for o in objects if isinstance(o, dict) and o.get("id") == indicator.id), None)
            if stix is None:
                return "ok", None
            return "ok", indicator_from_stix(stix, origin=header.origin)
        except AccordError as exc:
            return f"FAILED: {exc}", None


def _sort_key(sort: SortKey, indicator: Indicator, distance: int) -> tuple[object, ...]:
    """The order :data:`node.store.analyst._ORDER` gives in SQL, for rows ordered in Python."""
    created = -indicator.created.timestamp()
    keys: dict[SortKey, tuple[object, ...]] = {
        SortKey.NEWEST: (created, indicator.id),
        SortKey.OLDEST: (-created, indicator.id),
        SortKey.MODIFIED: (-indicator.modified.timestamp(), indicator.id),
        SortKey.CATEGORY: (indicator.category, created, indicator.id),
        SortKey.ORIGIN: (indicator.origin, created, indicator.id),
        SortKey.DISTANCE: (distance, indicator.id),
    }
    return keys[sort]


def _opinion_text(opinion: Opinion, names: Mapping[KeyId, str]) -> str:
    """``author: value (explanation)`` for ``accord show``."""
    author = names.get(opinion.origin, opinion.origin[:12])
    why = f" ({opinion.explanation})" if opinion.explanation else ""
    return f"{author}: {opinion.value.value}{why}"
