"""The composition root: builds a node's parts from its home and exposes what the CLI does.

The use cases live in one module per family (``partnering``, ``contributing``, ``exchanging``,
``analysing``); :class:`AccordNode` builds the parts they share (:class:`NodeParts`) and
combines them, so every transport (CLI, gRPC, TAXII) calls one object.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from functools import cached_property, partial
from pathlib import Path

from node.app import keyfiles
from node.app.accounts import AccountsMixin
from node.app.analysing import AnalysingMixin, describe_query
from node.app.attesting import AttestingMixin
from node.app.audit import AuditLog
from node.app.bridges import Bridges
from node.app.contributing import LOCAL_REFUSED, ContributeReport, ContributingMixin
from node.app.encryption_keys import load_encryption_keys
from node.app.exchanging import ExchangingMixin, PushReport
from node.app.flood import FloodGuard
from node.app.home import Home, require_home, tls_credentials
from node.app.matcher_parts import (
    matcher_parts,
    pdq_thresholds,
    safelist_file_updates,
    source_trust,
    video_thresholds,
)
from node.app.near_queries import near_from_lists
from node.app.partnering import PartneringMixin
from node.app.responding import RespondingMixin
from node.app.scan_snapshot import SnapshotSource
from node.config import NodeConfig, load_config
from node.feed import NodeIdentity
from node.hashing.gate import MediaGate
from node.match import MatchLists, builtin_warninglists
from node.model.clock import utc_now
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.lookup import Lookup
from node.sync.matchlog import MatchLog
from node.sync.opinions import OpinionDesk
from node.sync.provenance import ProvenanceCache
from node.sync.publish import Publisher
from node.sync.pull import Puller
from node.sync.refresh import ListRefresher
from node.sync.sightings import MatchCounter, SightingReporter
from node.sync.tape import MatchTape

log = logging.getLogger(__name__)

__all__ = ["LOCAL_REFUSED", "AccordNode", "ContributeReport", "PushReport", "describe_query"]


class AccordNode(
    PartneringMixin,
    ContributingMixin,
    ExchangingMixin,
    AnalysingMixin,
    AccountsMixin,
    AttestingMixin,
    RespondingMixin,  # + ActingMixin (rules, webhooks) and ReviewingMixin (queue, flood)
):
    """One node, opened from its home directory. Close it when done."""

    def __init__(self, home: Home, *, config: NodeConfig | None = None) -> None:
        self.home = home
        self.config = config or load_config(home.root)
        self.identity = NodeIdentity.load(home.key_path)
        self.tls = tls_credentials(home, organisation=self.config.node.name)
        self.store = Store(home.db_path)
        self.origin = keyfiles.origin_id(home, self.identity)
        keyfiles.finish_rotation(home, self.store, self.origin)
        self.identity = NodeIdentity.load(home.key_path)
        self.encryption = load_encryption_keys(home)
        self.lists = MatchLists(warninglists=builtin_warninglists)
        # The Matcher appends each call's matches to the tape; reading or writing any of the
        # three counters below folds it into all of them first (node/sync/tape.py).
        self.tape = MatchTape(self._fold_matches)
        self.counter = MatchCounter(clock=utc_now, before=self.tape.fold)
        self.refresher = ListRefresher(store=self.store, lists=self.lists)
        # Review queue and flood protection (issue 14): flood protection counts the Matcher's
        # matches timed as made, written with the match log's batches (or before a hold is
        # read); reviewers' safelist entries join the operator's.
        self.flood = FloodGuard(
            store=self.store, settings=lambda: self.config.flood, names=self.names, before=self.tape.fold
        )
        self.match_log = MatchLog(
            store=self.store,
            clock=utc_now,
            also_in_tx=self.flood.drain_in,
            after_tx=self.flood.announce,
            before=self.tape.fold,
        )
        self.provenance = ProvenanceCache(
            store=self.store,
            names=self.names,
            source_trust=partial(source_trust, self.store),
        )
        parts = matcher_parts(
            self.config,
            root=home.root,
            store=self.store,
            lists=self.lists,
            provenance=self.provenance,
            origin=self.origin,
            record=self.tape.append,
        )
        self.matcher, self.safelist, self.review_safelist = parts.matcher, parts.safelist, parts.reviewed
        self.publisher = Publisher(
            store=self.store,
            identity=self.identity,
            name=self.config.node.name,
            limits=self.config.limits,
            clock=utc_now,
            encryption=self.encryption.current,
            origin=self.origin,
        )
        self.opinions = OpinionDesk(store=self.store, publisher=self.publisher, clock=utc_now)
        self.sightings = SightingReporter(
            store=self.store, publisher=self.publisher, counter=self.counter, clock=utc_now
        )
        self.ingestor = Ingestor(
            store=self.store,
            limits=self.config.limits,
            self_key=self.origin,
            encryption_keys=lambda: self.encryption.all,
        )
        self.puller = Puller(
            store=self.store,
            ingestor=self.ingestor,
            self_key=self.origin,
            self_public_key=self.identity.public_key,
            alert_rounds=self.config.sync.body_missing_alert_rounds,
            max_head_age=timedelta(seconds=self.config.sync.max_head_age_seconds),
            restore_quorum=self.config.sync.restore_quorum,
        )
        self._sightings_at = time.monotonic()
        self._saved_cursor: int | None = None  # cursor of the indexes on disk, when known
        self.bridges = Bridges(
            root=home.root,
            config=lambda: self.config,
            store=self.store,
            key_id=self.origin,
            names=self.names,
            after_import=self.refresher.refresh,
        )
        self.audit = AuditLog(
            store=self.store,
            identity=self.identity,
            origin=self.origin,
            origin_key=keyfiles.origin_public_key(self.home, self.identity),
        )
        self.lookup = Lookup(
            store=self.store,
            names=self.names,
            own_key=(self.origin, keyfiles.origin_public_key(self.home, self.identity)),
            disputes=self.store.disputed_indicator_ids,
            warninglists=builtin_warninglists,
            near_index=partial(near_from_lists, self.lists, self.refresher),
        )
        self.outbox_wake = threading.Event()  # act_on sets it: serve's deliverer goes at once

    @cached_property
    def media_gate(self) -> MediaGate:
        """One pixel budget for all the media hashes the node's servers run at once (the gRPC
        Local API and the HTTP API share it: ``limits.media_pixels_in_flight``)."""
        limits = self.config.limits
        return MediaGate(budget_pixels=limits.media_pixels_in_flight, wait_seconds=limits.media_wait_seconds)

    @classmethod
    def open(cls, root: Path) -> AccordNode:
        """Open the node at ``root`` (which must exist)."""
        return cls(require_home(root))

    def close(self) -> None:
        """Keep the counted matches (the match log, and for sightings), then release the database."""
        try:
            self.match_log.flush()
            self.sightings.flush()
        finally:
            self.store.close()

    def scan_snapshot_source(self) -> SnapshotSource:
        """What a distributed scan freezes for its workers: the lists and all the matcher reads."""
        if not self.lists.ready:
            self.load_lists()
        return SnapshotSource(
            lists=self.lists,
            store=self.store,
            names=self.names(),
            source_trust=source_trust(self.store),
            thresholds=pdq_thresholds(self.config),
            video=video_thresholds(self.config),
            safelist=[(u.indicator_id, u.signal) for u in safelist_file_updates(self.home.root, self.config)],
            safelist_threshold=self.config.match.safelist_pdq_threshold,
            self_key=self.origin,
        )
