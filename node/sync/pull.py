"""Pull: fetch a peer's entries after our cursors and pass each through ingest.

The transport is a port (:class:`FeedSource`); the rpc layer provides the gRPC client and tests
may provide any other. One origin's refused entry stops that origin for this pull (later
entries would only be gaps) but never the other origins, and never the other peers.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from node.errors import PeerError, Rejected
from node.model import Envelope, KeyId, Partner, Seq
from node.store import Store
from node.sync.ingest import Ingestor

log = logging.getLogger(__name__)

_MAX_ROUNDS = 100_000  # calls per pull; each call carries at most the peer's per-call page budget


class FeedSource(Protocol):
    """A peer that serves feed entries."""

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[Envelope]:
        """Entries of the origins in ``cursors`` with seq after each cursor, in seq order per origin.

        Raises :class:`PeerError` when the peer cannot be reached or fails mid-stream.
        """
        ...


@dataclass(slots=True)
class PullReport:
    """What one pull from one peer received and refused."""

    partner: str
    accepted: int = 0
    indicators: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """True when the peer answered completely (individual refusals do not fail a pull)."""
        return self.error is None and not self.skipped

    def summary(self) -> str:
        """One line for humans and for the sync_state table."""
        if self.skipped:
            return "skipped: a pull from this partner is already running"
        refused = ", ".join(f"{n} {reason}" for reason, n in sorted(self.rejected.items()))
        text = f"{self.accepted} entries ({self.indicators} indicators) accepted"
        text += f"; refused: {refused}" if refused else ""
        return text + (f"; failed: {self.error}" if self.error else "")


class Puller:
    """Pulls from peers into the store. One pull per peer at a time within this process."""

    def __init__(self, *, store: Store, ingestor: Ingestor, self_key: KeyId) -> None:
        self._store = store
        self._ingestor = ingestor
        self._self_key = self_key
        self._running: set[str] = set()
        self._guard = threading.Lock()

    def pull(self, partner: Partner, source: FeedSource) -> PullReport:
        """Pull once from ``partner`` through ``source`` and record the outcome."""
        report = PullReport(partner=partner.name)
        if not self._claim(partner.name):
            report.skipped = True
            return report
        try:
            self._run(partner, source, report)
        finally:
            with self._guard:
                self._running.discard(partner.name)
        self._record(report)
        return report

    def _claim(self, name: str) -> bool:
        with self._guard:
            if name in self._running:
                return False
            self._running.add(name)
            return True

    def _run(self, partner: Partner, source: FeedSource, report: PullReport) -> None:
        pinned = self._store.pinned_keys()
        stopped: set[KeyId] = set()
        # A peer bounds each call; ask again from the advanced cursors until nothing new arrives.
        for _ in range(_MAX_ROUNDS):
            cursors = self._cursors(pinned, stopped)
            accepted_before = report.accepted
            try:
                self._round(partner, source.pull(cursors), pinned, stopped, report)
            except PeerError as exc:
                report.error = str(exc)
                break
            if report.accepted == accepted_before:
                break
        log.info("pull from %s: %s", partner.name, report.summary())

    def _cursors(self, pinned: Mapping[KeyId, bytes], stopped: set[KeyId]) -> dict[KeyId, Seq]:
        heads = self._store.heads()
        return {
            key: heads[key].seq if key in heads else Seq(0)
            for key in pinned
            if key != self._self_key and key not in stopped
        }

    def _round(
        self,
        partner: Partner,
        envelopes: Iterator[Envelope],
        pinned: Mapping[KeyId, bytes],
        stopped: set[KeyId],
        report: PullReport,
    ) -> None:
        for envelope in envelopes:
            origin = _claimed_origin(envelope)
            if origin in stopped:
                continue
            try:
                accepted = self._ingestor.ingest(envelope, pinned=pinned, via=partner.name)
            except Rejected as exc:
                report.rejected[exc.reason] += 1
                stopped.add(origin)  # later entries of this origin would only be gaps
                continue
            report.accepted += 1
            report.indicators += accepted.indicators

    def _record(self, report: PullReport) -> None:
        with self._store.write() as tx:
            tx.record_sync(
                partner=report.partner,
                success=report.ok,
                result=report.summary(),
                error=report.error,
                received=report.accepted,
                rejected=sum(report.rejected.values()),
            )


def _claimed_origin(envelope: Envelope) -> KeyId:
    """The signer an envelope claims; used only to skip the rest of a refused origin's stream."""
    return envelope.signatures[0].keyid if envelope.signatures else KeyId("")
