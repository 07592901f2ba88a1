"""How a node's Matcher is put together, for the node itself and for its match processes.

``accord serve`` with ``network.match_workers`` answers the Match API from several processes
(node/app/match_workers.py); each builds its Matcher here, from the same home and config, so
every process gives the same answer to the same query.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from node.config import NodeConfig
from node.hashing import ListRefusal, read_hash_list
from node.match import ListUpdate, MatchLists
from node.model import KeyId, PdqThresholds, Signal, VideoThresholds
from node.model.sources import Trust
from node.store import Store
from node.store import review as review_rows
from node.sync import sources
from node.sync.provenance import ProvenanceCache
from node.sync.query import Matcher, MatchRecorder

log = logging.getLogger(__name__)


def pdq_thresholds(config: NodeConfig) -> PdqThresholds:
    """The PDQ thresholds of ``[match]``: the default, per category and per partner."""
    match = config.match
    return PdqThresholds(
        default=match.pdq_threshold,
        by_category=match.category_thresholds,
        by_partner=match.partner_thresholds,
    )


def video_thresholds(config: NodeConfig) -> VideoThresholds:
    """The vPDQ rule of ``[match]``."""
    match = config.match
    return VideoThresholds(
        frame_threshold=match.vpdq_frame_threshold,
        query_match_percent=match.vpdq_query_match_percent,
        compared_match_percent=match.vpdq_compared_match_percent,
    )


def safelist_file_updates(root: Path, config: NodeConfig) -> list[ListUpdate]:
    """The operator's safelist file (``match.safelist``, relative to the home), as list updates;
    a line that cannot be read is logged and skipped."""
    if not config.match.safelist:
        return []
    path = root / config.match.safelist
    updates = []
    for item in read_hash_list(path):
        if isinstance(item, ListRefusal):
            log.warning("safelist %s line %d refused: %s", path, item.line, item.reason)
            continue
        updates.append(ListUpdate(f"safelist:{item.line}", item.signal, active=True))
    return updates


def local_safelist(root: Path, config: NodeConfig) -> MatchLists:
    """The operator's safelist file as a small index of its own (reviewers' entries join it)."""
    safelist = MatchLists()
    safelist.apply(safelist_file_updates(root, config))
    safelist.ready = True
    return safelist


class ReviewSafelist:
    """Keeps the reviewers' entries (false positives put on the safelist) in a node's in-memory
    safelist as they are in the store, whichever process decided them (``accord review decide``
    beside ``serve``, the HTTP API, a match process's parent)."""

    def __init__(self, store: Store, safelist: MatchLists) -> None:
        self._store = store
        self._safelist = safelist
        self._held: set[tuple[int, Signal]] = set()
        self._lock = threading.Lock()

    def follow(self) -> bool:
        """Apply the entries added and removed since the last call; True if any were."""
        with self._lock:
            now = set(review_rows.safelist_entries(self._store))
            added, removed = now - self._held, self._held - now
            if not added and not removed:
                return False
            self._safelist.apply(
                [ListUpdate(f"review:{d}:{s}", s, active=True) for d, s in added]
                + [ListUpdate(f"review:{d}:{s}", s, active=False) for d, s in removed]
            )
            self._held = now
            return True


def origin_names(store: Store, *, origin: KeyId, own_name: str) -> dict[KeyId, str]:
    """Display names of known origins: partners and unsigned sources by local name, and ourselves."""
    names = {p.key_id: p.name for p in store.partners()}
    names |= {s.origin: s.name for s in sources.list_sources(store)}  # unsigned sources, by their local name
    names[origin] = own_name
    return names


def source_trust(store: Store) -> dict[KeyId, Trust]:
    """The trust level of each unsigned source's origin."""
    return {s.origin: s.trust for s in sources.list_sources(store)}


@dataclass(frozen=True, slots=True)
class MatcherParts:
    """A node's Matcher and the safelist it consults (the operator's file and the reviewers'
    entries, kept current by ``reviewed``)."""

    matcher: Matcher
    safelist: MatchLists
    reviewed: ReviewSafelist


def matcher_parts(
    config: NodeConfig,
    *,
    root: Path,
    store: Store,
    lists: MatchLists,
    provenance: ProvenanceCache,
    origin: KeyId,
    record: MatchRecorder | None,
) -> MatcherParts:
    """The node's Matcher over ``lists``, explained from ``provenance`` (kept current by the
    change stream, whichever process commits), with the operator's safelist file and the
    reviewers' entries now in the store."""
    safelist = local_safelist(root, config)
    reviewed = ReviewSafelist(store, safelist)
    reviewed.follow()
    matcher = Matcher(
        lists=lists,
        store=provenance,
        thresholds=pdq_thresholds(config),
        names=provenance.names,
        video=video_thresholds(config),
        record=record,
        safelist=safelist,
        safelist_threshold=config.match.safelist_pdq_threshold,
        self_key=origin,
        source_trust=provenance.source_trust,
        sync=provenance.sync,
        generation=provenance.generation,
    )
    return MatcherParts(matcher=matcher, safelist=safelist, reviewed=reviewed)
