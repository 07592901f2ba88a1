"""The Matcher's provenance from memory, exact on every call (issue 16).

Reading policies, compromise marks, quarantined origins, names and opinions from SQLite on
every hit cost ~140 µs, half of what the index itself takes at 10M. Here they are held in
memory, with the indicators and opinions of recent hits, and one small read
(:func:`node.store.versions.store_versions`) says whether any of it changed since, whichever
process committed the change. That read is made only after a commit: a look at SQLite's
WAL-index header (:class:`node.store.commits.CommitWatch`, one ``pread``) tells whether
anyone committed since the last sync, and most matches stop there.

- a new indicator change id: the indicators written since (the change stream the match lists
  tail) are dropped from the cache, or the whole cache when the gap is large;
- the provenance counter (partners, sources, policies, compromise marks, evidence): every small
  table is read again, and the opinions cache is dropped (it hides compromised authors);
- the opinions counter: the opinions cache is dropped.

So a change is seen by the next match, as when everything was read from the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from node.model import Compromise, Indicator, KeyId, Opinion, PartnerPolicy, Trust
from node.store import Store
from node.store.versions import StoreVersions, indicator_ids_changed, store_versions

NameSource = Callable[[], Mapping[KeyId, str]]
TrustSource = Callable[[], Mapping[KeyId, Trust]]

MAX_CACHED = 200_000
"""Indicators (and opinion lists) kept per cache: ~100 MB at most; a full cache starts again."""
MAX_EVICTED = 20_000
"""Changed indicators evicted one by one; a larger backlog (a first sync) empties the cache."""


_ABSENT = object()  # not in a cache (None and [] are cached answers)


@dataclass(frozen=True, slots=True)
class _Tables:
    """The small tables, as read together after a provenance change."""

    policies: dict[KeyId, PartnerPolicy]
    compromises: dict[KeyId, Compromise]
    quarantined: frozenset[KeyId]
    names: Mapping[KeyId, str]
    trust: Mapping[KeyId, Trust]


@dataclass(slots=True)
class _Cache:
    """Rows read on demand, valid while ``epoch`` is the cache's current one."""

    epoch: int = 0
    rows: dict[str, object] = field(default_factory=dict)

    def drop(self, ids: Iterable[str] | None = None) -> None:
        """Forget ``ids`` (all when None); reads begun before now may no longer fill it."""
        self.epoch += 1
        if ids is None:
            self.rows = {}
            return
        for id_ in ids:
            self.rows.pop(id_, None)


class ProvenanceCache:
    """A :class:`node.sync.query.ProvenanceSource` served from memory; call :meth:`sync` first."""

    def __init__(
        self, *, store: Store, names: NameSource, source_trust: TrustSource, max_cached: int = MAX_CACHED
    ) -> None:
        self._store = store
        self._read_names = names
        self._read_trust = source_trust
        self._max = max_cached
        self._lock = threading.Lock()
        self._versions: StoreVersions | None = None
        self._seen: bytes | None = None  # the store's commit look at the last sync
        self._tables: _Tables | None = None
        self._indicators = _Cache()
        self._opinions = _Cache()
        self._generation = 0

    def generation(self) -> int:
        """A number that grows whenever a :meth:`sync` found anything changed: what is derived
        from these copies (the Matcher's per-indicator answers) holds while it stays the same."""
        return self._generation

    def sync(self) -> None:
        """Bring the copies up to date with the store: nothing to do, without a SQLite call,
        when nobody committed since the last sync; else one small read, more if it changed."""
        seen = self._seen
        if seen is not None and self._store.commits.look() == seen:
            return
        with self._lock:
            # Looked before reading: what is read below is at least as new as ``look``, so a
            # commit after it changes the next look and is not missed. Under the lock, so a
            # slower sync never puts back an older state than a faster one recorded.
            look = self._store.commits.look()
            now = store_versions(self._store)
            if now != self._versions:
                self._update(now)
            self._seen = look

    def _update(self, now: StoreVersions) -> None:
        """Refresh what changed between the copies' versions and ``now`` (under the lock)."""
        was = self._versions
        if was is None or now.provenance != was.provenance:
            self._tables = self._read_tables()
            self._opinions.drop()
        elif now.opinions != was.opinions:
            self._opinions.drop()
        if was is None or now.indicators - was.indicators > MAX_EVICTED:
            self._indicators.drop()
        elif now.indicators != was.indicators:
            self._indicators.drop(indicator_ids_changed(self._store, was.indicators, now.indicators))
        self._versions = now
        self._generation += 1  # last: a reader that sees the new number finds the new copies

    def _read_tables(self) -> _Tables:
        return _Tables(
            policies=self._store.partner_policies(),
            compromises=self._store.compromises(),
            quarantined=frozenset(self._store.quarantined_origins()),
            names=dict(self._read_names()),
            trust=dict(self._read_trust()),
        )

    @property
    def _current(self) -> _Tables:
        if self._tables is None:
            self.sync()  # the first use before any match
        return self._tables if self._tables is not None else self._read_tables()

    def names(self) -> Mapping[KeyId, str]:
        """Display names of known origins, as of the last :meth:`sync`."""
        return self._current.names

    def source_trust(self) -> Mapping[KeyId, Trust]:
        """Unsigned sources' trust, as of the last :meth:`sync`."""
        return self._current.trust

    def partner_policies(self) -> dict[KeyId, PartnerPolicy]:
        """The operator's acceptance policy per partner key."""
        return self._current.policies

    def compromises(self) -> dict[KeyId, Compromise]:
        """Keys the operator marked compromised."""
        return self._current.compromises

    def quarantined_origins(self) -> set[KeyId]:
        """Origins we hold equivocation evidence for."""
        return set(self._current.quarantined)

    def indicators_by_id(self, ids: Iterable[str]) -> dict[str, Indicator]:
        """Current versions of the given indicators: cached, the rest read once."""
        found = self._cached(self._indicators, ids, self._store.indicators_by_id, absent=False)
        return {k: v for k, v in found.items() if isinstance(v, Indicator)}

    def opinions_about(self, indicator_ids: Iterable[str]) -> dict[str, list[Opinion]]:
        """Current opinions about the given indicators (no opinion is cached too)."""
        found = self._cached(self._opinions, indicator_ids, self._store.opinions_about, absent=True)
        return {k: v for k, v in found.items() if isinstance(v, list) and v}

    def entry_seqs_of(self, indicator_ids: Iterable[str]) -> dict[str, int]:
        """The feed position of each indicator's current version (asked only for a compromised
        origin's indicators: read from the store)."""
        return self._store.entry_seqs_of(indicator_ids)

    def _cached(
        self,
        cache: _Cache,
        ids: Iterable[str],
        read: Callable[[list[str]], Mapping[str, object]],
        *,
        absent: bool,
    ) -> dict[str, object]:
        """Rows of ``ids`` from ``cache``, reading the missing ones; with ``absent`` an id the
        store has nothing for is remembered as an empty list."""
        rows = cache.rows
        found: dict[str, object] = {}
        missing: list[str] = []
        for id_ in ids:
            row = rows.get(id_, _ABSENT)
            if row is not _ABSENT:
                found[id_] = row
            elif id_ not in missing:
                missing.append(id_)
        if not missing:
            return found
        epoch = cache.epoch
        read_now: dict[str, object] = dict(read(missing))
        if absent:
            read_now = {id_: read_now.get(id_, []) for id_ in missing}
        with self._lock:
            # A change seen while we read may have made these rows stale: keep them for this
            # call only (the store answered after the change's commit or before it, as before).
            if cache.epoch == epoch:
                if len(cache.rows) + len(read_now) > self._max:
                    cache.rows = {}
                cache.rows.update(read_now)
        return found | read_now
