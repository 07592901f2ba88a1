"""Exchanging with partners and matching: lists, match, sync, push, status, maintenance.

One use-case family of :class:`node.app.node.AccordNode` (a mixin over :class:`NodeParts`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from node.app.backup import backup_database
from node.app.locks import partner_lock
from node.app.parts import NodeParts
from node.app.snapshots import resume_from_saved, save_indexes
from node.errors import NotFound, PeerError
from node.hashing import MediaHashes, hash_file
from node.match import builtin_warninglists
from node.model import (
    Envelope,
    MatchResult,
    Partner,
    Seq,
    Signal,
    SignedEntry,
)
from node.model.clock import utc_now
from node.rpc.client import LocalClient, PeerClient
from node.rpc.convert import match_result_from_proto
from node.store import EvidenceRecord
from node.sync.encryption import own_statement
from node.sync.pull import PullReport
from node.sync.serve import entries_for
from node.sync.sources import IMPORT_REFUSED
from node.sync.status import NodeStatus, node_status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushReport:
    """What ``accord push`` did: where the partner's copy of our feed resumed, and its verdict."""

    partner: str
    resumed_after: int
    accepted: int
    refused: dict[str, int]

    def summary(self) -> str:
        """One line for humans."""
        refused = ", ".join(f"{n} {reason}" for reason, n in sorted(self.refused.items()))
        text = f"{self.accepted} entries accepted after seq {self.resumed_after}"
        return text + (f"; refused: {refused}" if refused else "")


class ExchangingMixin(NodeParts):
    """Exchanging with partners and matching."""

    def open_lists(self) -> tuple[int, bool]:
        """The server's start: resume from the indexes it saved, else build from the database.
        Returns how many indicators are listed, and whether saved indexes were used."""
        self._saved_cursor = resume_from_saved(
            self.home.root, lists=self.lists, refresher=self.refresher, store=self.store, key_id=self.key_id
        )
        if self._saved_cursor is None:
            self.load_lists()
        return sum(self.lists.sizes().values()), self._saved_cursor is not None

    def save_indexes(self) -> int | None:
        """Save the PDQ and video indexes with the change cursor they reflect; returns it, or
        None when nothing changed since this node's last save."""
        saved = save_indexes(
            self.home.root,
            lists=self.lists,
            refresher=self.refresher,
            key_id=self.key_id,
            unless_at=self._saved_cursor,
        )
        if saved is not None:
            self._saved_cursor = saved
        return saved

    def match(self, signals: Sequence[Signal], *, prefer_running_node: bool = False) -> list[MatchResult]:
        """Match signals against the lists.

        With ``prefer_running_node``, ask this node's own ``accord serve`` over its Local API
        when it is running (its lists are already in memory), else load them here. Both paths
        run the same Matcher.
        """
        if prefer_running_node:
            answered = self._match_via_running_node(signals)
            if answered is not None:
                return answered
        if not self.lists.ready:
            self.load_lists()
        results = self.matcher.match(signals)
        self.match_log.flush()
        self.sightings.flush()  # this process may end now: keep its counts for the next report
        return results

    def _match_via_running_node(self, signals: Sequence[Signal]) -> list[MatchResult] | None:
        client = LocalClient(
            self.config.network.local_listen, timeout=self.config.network.rpc_timeout_seconds
        )
        try:
            status = client.status()
            if status.key_id != self.key_id or not status.ready:
                return None  # another node holds that port, or ours is still loading
            batch = self.config.limits.max_batch_signals
            results: list[MatchResult] = []
            for start in range(0, len(signals), batch):
                chunk = [str(s) for s in signals[start : start + batch]]
                results.extend(match_result_from_proto(r) for r in client.match(chunk).results)
            return results
        except PeerError:
            return None  # not running: match in this process
        finally:
            client.close()

    def hash_file(self, path: Path) -> MediaHashes:
        """The signals of a media file."""
        return hash_file(path)

    def sync(self, partner_name: str | None = None) -> list[PullReport]:
        """Pull once from one partner or TAXII source, or from every partner (with an endpoint) and source."""
        partners = [p for p in self.store.partners() if p.endpoint]
        taxii = self.bridges.taxii_source_names()
        if partner_name is not None:
            partners = [p for p in partners if p.name == partner_name]
            taxii = [t for t in taxii if t == partner_name]
            if not partners and not taxii:
                raise NotFound(f"no partner named {partner_name!r} with an endpoint, nor such a TAXII source")
        return [self.pull_partner(p) for p in partners] + [self.pull_source(t) for t in taxii]

    def pull_source(self, name: str) -> PullReport:
        """One pull of a TAXII source, reported like a partner's pull."""
        report = self.bridges.pull_source(name)
        rejected: Counter[str] = Counter({IMPORT_REFUSED: len(report.refused)} if report.refused else {})
        return PullReport(
            partner=name, indicators=report.added + report.staged, rejected=rejected, error=report.error
        )

    def pull_partner(self, partner: Partner) -> PullReport:
        """One pull from ``partner`` over gRPC, unless another process is pulling it right now."""
        if partner.endpoint is None:
            raise NotFound(f"partner {partner.name!r} has no endpoint to pull from")
        with partner_lock(self.home.root, partner.name) as held:
            if not held:
                return PullReport(partner=partner.name, skipped=True)
            with self._peer_client(partner.endpoint, partner) as client:
                return self.puller.pull(partner, client)

    def _peer_client(self, endpoint: str, partner: Partner) -> PeerClient:
        """A client for ``partner`` at ``endpoint``: TLS pinned to its certificate when one is
        pinned, plaintext only where allowed, with the configured deadlines and limits."""
        network = self.config.network
        return PeerClient(
            endpoint,
            identity=self.signing_identity(),
            timeout=network.rpc_timeout_seconds,
            max_message_bytes=network.max_message_bytes,
            pin=partner.cert_fingerprint,
            plaintext_allowed=self.plaintext_allowed(endpoint),
            page_timeout=self.config.sync.page_timeout_seconds,
            caller=self.origin,
            statement=self.encryption_statement,
        )

    def encryption_statement(self) -> Envelope:
        """Our encryption key, signed now by the key that signs our feed (partners seal to it)."""
        return own_statement(
            self.signing_identity(), self.encryption.current, origin=self.origin, now=utc_now()
        )

    def backup(self, target: Path) -> None:
        """A consistent copy of the database at ``target`` (SQLite online backup; safe while
        serving). Audited: a backup holds every indicator, RED included."""
        backup_database(self.store, target)
        self.audit.record("backup", {"path": str(target)})

    def receive_push(self, partner: Partner, items: Iterator[SignedEntry]) -> PullReport:
        """Ingest what ``partner`` pushed (the Push RPC), exactly as pulled entries, and record it."""
        report = self.puller.receive(partner, items)
        with self.store.write() as tx:
            tx.record_sync(
                partner=partner.name,
                success=True,
                result="pushed: " + report.summary(),
                error=None,
                received=report.accepted,
                rejected=sum(report.rejected.values()),
            )
        return report

    def push(self, partner_name: str) -> PushReport:
        """Push our own entries that ``partner_name`` does not hold yet (and may receive) to it."""
        partner = self.store.partner(partner_name)
        if partner is None or partner.endpoint is None:
            raise NotFound(f"no partner named {partner_name!r} with an endpoint to push to")
        with self._peer_client(partner.endpoint, partner) as client:
            held = client.held().get(self.key_id, Seq(0))
            entries = entries_for(self.store, cursors={self.key_id: held})
            reply = client.push((SignedEntry(e.envelope, e.body) for e in entries), per_message=1)
        report = PushReport(
            partner=partner.name,
            resumed_after=int(held),
            accepted=reply.accepted,
            refused=dict(reply.refused),
        )
        log.info("push to %s: %s", partner.name, report.summary())
        return report

    def evidence(self) -> list[EvidenceRecord]:
        """Every envelope kept as proof of equivocation."""
        return self.store.evidence()

    def status(self, *, count_warninglisted: bool = False) -> NodeStatus:
        """The node's status from the database. ``count_warninglisted`` also counts the held
        indicators a MISP warninglist names (one read of every active exact value: what
        ``accord status`` shows, not what each metrics scrape pays for)."""
        sync = self.config.sync
        return node_status(
            self.store,
            name=self.config.node.name,
            key_id=self.key_id,
            max_head_age=timedelta(seconds=sync.max_head_age_seconds),
            alert_rounds=sync.body_missing_alert_rounds,
            warninglists=builtin_warninglists if count_warninglisted else None,
        )

    def publish_sightings(self) -> list[int]:
        """Publish the pending sightings of partners that opted in now; returns the seqs."""
        return [int(s) for s in self.sightings.publish()]

    def maintain(self) -> int:
        """The serve loop's periodic work: apply new rows to the match lists, write the match
        log and, every ``sync.sightings_seconds``, report sightings. Returns the rows applied.

        Reviewers' safelist entries decided by another process (``accord review decide``) are
        picked up here too."""
        applied = self.refresher.refresh()
        if self.review_safelist.follow():
            self.matcher.safelist_changed()
        self.match_log.flush()  # the matches counted since the last refresh
        now = time.monotonic()
        if now - self._sightings_at >= self.config.sync.sightings_seconds:
            self._sightings_at = now
            self.sightings.publish()
        return applied
