"""Pull: fetch a peer's entries after our cursors and pass each through ingest.

The transport is a port (:class:`FeedSource`); the rpc layer provides the gRPC client and tests
may provide any other. One origin's refused entry stops that origin for this pull (later
entries would only be gaps) but never the other origins, and never the other peers.

A helper thread receives and prepares (verifies, parses, reads) the next entry while this one
commits: committing is mostly SQLite and fsync, which release the GIL, so the two overlap.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol, runtime_checkable

from node.errors import (
    BodyWithheld,
    PeerCertificateMismatch,
    PeerError,
    PlaintextRefused,
    Rejected,
    Withheld,
)
from node.model import Envelope, KeyId, Partner, Seq, SignedEntry
from node.model.clock import utc_now
from node.store import Store
from node.sync.encryption import confirm_passed_on
from node.sync.heads import HeadsReport, check_heads, stale_origins
from node.sync.ingest import Ingestor, Prepared
from node.sync.process_wide import collector_paused, quick_handover
from node.sync.restore import MAJORITY, settle_after_heads

log = logging.getLogger(__name__)

_MAX_ROUNDS = 100_000  # calls per pull; each call carries at most the peer's per-call page budget
_AHEAD = 1  # entries prepared ahead of the one committing: bounds memory to about three entries
_POLL_SECONDS = 0.1  # how often a blocked helper thread checks whether the pull was abandoned
# When the caller stops early, the helper may be waiting on the network; it ends by itself once
# the caller closes the channel, so the caller waits only this long for it.
_JOIN_SECONDS = 1.0
# Transport refusals are security events, counted with refused input (an unreachable peer is not).
_COUNTED_FAILURES = (PeerCertificateMismatch, PlaintextRefused)


_BODIES_PER_PULL = 4096  # missing bodies asked of one peer per pull; the rest wait for the next
# A body missing this many sync rounds (no peer served it) is alerted on (log, status).
BODY_MISSING_ALERT_ROUNDS = 3


class FeedSource(Protocol):
    """A peer that serves feed entries."""

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
        """Entries of the origins in ``cursors`` with seq after each cursor, in seq order per origin.

        Raises :class:`PeerError` when the peer cannot be reached or fails mid-stream.
        """
        ...


@runtime_checkable
class BodySource(Protocol):
    """A peer that also serves bodies by feed position (a gRPC peer does; tests may not)."""

    def bodies(self, wanted: Sequence[tuple[KeyId, Seq]]) -> Iterator[tuple[KeyId, Seq, bytes]]:
        """The bodies of ``wanted`` the peer holds, as (origin, seq, body). Raises PeerError."""
        ...


@runtime_checkable
class HeadSource(Protocol):
    """A peer that also shows origin-signed feed heads (a gRPC peer does; tests may not)."""

    def heads(self) -> list[Envelope]:
        """The origin-signed heads the peer shows us. Raises :class:`PeerError` on failure."""
        ...

    def encryption_statements(self) -> list[Envelope]:
        """The signed encryption-key statements of the peer's last heads answer (its own and
        those it passes on)."""
        ...


@dataclass(slots=True)
class PullReport:
    """What one pull from one peer received and refused."""

    partner: str
    accepted: int = 0
    indicators: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    error_reason: str | None = None  # set when the failure is counted as a refusal
    bodies: int = 0  # missing bodies fetched from this peer
    unreadable: int = 0  # headers accepted whose body is missing or sealed to others
    skipped: bool = False
    refused_origins: dict[KeyId, str] = field(default_factory=dict)  # the first refusal per origin named

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
        text += f", {self.bodies} missing bodies fetched" if self.bodies else ""
        text += f"; refused: {refused}" if refused else ""
        return text + (f"; failed: {self.error}" if self.error else "")


class Puller:
    """Pulls from peers into the store. One pull per peer at a time within this process."""

    def __init__(
        self,
        *,
        store: Store,
        ingestor: Ingestor,
        self_key: KeyId,
        self_public_key: bytes | None = None,
        alert_rounds: int = BODY_MISSING_ALERT_ROUNDS,
        max_head_age: timedelta = timedelta(hours=3),
        restore_quorum: str = MAJORITY,
    ) -> None:
        self._alert_rounds = alert_rounds
        self._max_head_age = max_head_age
        self._store = store
        self._ingestor = ingestor
        self._self_key = self_key
        self._self_public_key = self_public_key  # to take back our own entries after a restore
        self._restore_quorum = restore_quorum  # partners that must show their heads after one
        self._running: set[str] = set()
        self._guard = threading.Lock()

    def pull(self, partner: Partner, source: FeedSource) -> PullReport:
        """Pull once from ``partner`` through ``source`` and record the outcome."""
        report = PullReport(partner=partner.name)
        if not self._claim(partner.name):
            report.skipped = True
            return report
        try:
            # A first sync into an empty node builds the secondary indexes after its rows; the
            # collector waits (entries are many acyclic objects); the committing thread gets the
            # GIL back from the preparing one sooner.
            with collector_paused(), self._store.bulk_load(), quick_handover():
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

    def receive(self, partner: Partner, items: Iterator[SignedEntry]) -> PullReport:
        """Ingest entries ``partner`` pushed to us, exactly as a pull would, and record it."""
        report = PullReport(partner=partner.name)
        with collector_paused(), quick_handover():
            self._round(partner, items, self._store.pinned_keys(), {}, report)
        self._ingestor.open_granted()
        log.info("push from %s: %s", partner.name, report.summary())
        return report

    def _run(self, partner: Partner, source: FeedSource, report: PullReport) -> None:
        pinned = self._store.pinned_keys()
        stopped: dict[KeyId, str] = {}  # origin → why this pull stopped taking its entries
        own_key = self._self_public_key if self._store.restored_at() is not None else None
        if own_key is not None:
            # Restored from a backup: ask the partner for our own entries after our local head.
            # They are verified with our own key like any origin's, and accepted in order.
            pinned[self._self_key] = own_key
        shown = self._heads(partner, source, pinned, report)  # None: the peer showed no heads
        # A peer bounds each call; ask again from the advanced cursors until nothing new arrives.
        for _ in range(_MAX_ROUNDS):
            cursors = self._cursors(pinned, stopped)
            accepted_before = report.accepted
            try:
                self._round(partner, source.pull(cursors), pinned, stopped, report)
            except PeerError as exc:
                report.error = str(exc)
                if isinstance(exc, _COUNTED_FAILURES):
                    report.error_reason = exc.reason
                    log.warning("refused partner %s: %s", partner.name, exc)
                break
            if report.accepted == accepted_before:
                break
        if report.error is None:
            if shown is not None:
                self._check_omissions(partner, shown, report)
            self._fetch_bodies(partner, source, report)
        self._ingestor.open_granted()
        log.info("pull from %s: %s", partner.name, report.summary())
        if (
            own_key is not None
            and report.error is None
            and self._self_key not in stopped
            and shown is not None
        ):
            self._confirm_restore(partner.name)

    def _confirm_restore(self, partner: str) -> None:
        """``partner`` showed its heads (ours among them) and served what it would of our feed."""
        with self._store.write() as tx:
            verdict = settle_after_heads(tx, self._self_key, partner=partner, rule=self._restore_quorum)
        if verdict is None:
            return
        if verdict.may_publish:
            log.warning(
                "restored node: %d partner(s) showed our head, none beyond seq %d; publishing allowed again",
                len(verdict.confirmed),
                verdict.state.own_seq,
            )
        else:
            log.warning("restored node: publishing still refused: %s", verdict.explain())

    def _heads(
        self, partner: Partner, source: FeedSource, pinned: Mapping[KeyId, bytes], report: PullReport
    ) -> HeadsReport | None:
        """Verify, compare and record the heads the peer shows (before pulling, so an
        equivocating origin is quarantined before any of its forked entries could be taken).
        None when the peer showed none (it cannot, or the call failed)."""
        if not isinstance(source, HeadSource):
            return None
        try:
            envelopes = source.heads()
        except PeerError as exc:
            log.warning("heads from %s unavailable: %s", partner.name, exc)
            return None
        checked = check_heads(
            self._store, envelopes, peer=partner.name, pinned=pinned, self_key=self._self_key
        )
        report.rejected.update(checked.rejected)
        self._confirm_peer_key(partner, source, report)
        for origin, signed in stale_origins(self._store, now=utc_now(), max_age=self._max_head_age).items():
            if origin in checked.shown:
                log.warning(
                    "origin %s: the newest signed head any peer showed us is from %s (%s showed it);"
                    " a relay may be replaying old heads",
                    origin[:12],
                    signed,
                    partner.name,
                )
        return checked

    def _confirm_peer_key(self, partner: Partner, source: HeadSource, report: PullReport) -> None:
        """Record the encryption keys the peer's Heads answer confirmed (we may seal to them)."""
        refused = confirm_passed_on(
            self._store,
            source.encryption_statements(),
            peer=partner.name,
            pinned=self._store.pinned_keys(),
            self_key=self._self_key,
        )
        report.rejected.update(refused)

    def _check_omissions(self, partner: Partner, shown: HeadsReport, report: PullReport) -> None:
        """A peer that showed a signed head beyond what it served withheld entries from us: the
        cursor stays where it is and the entries can come from another peer. An origin whose
        entry was refused for what it was (not for a gap) is already counted by that refusal."""
        heads = self._store.heads()
        quarantined = self._store.quarantined_origins()
        for origin, seq in sorted(shown.shown.items()):
            have = heads[origin].seq if origin in heads else 0
            # Our own feed is among them only after a restore: a partner that shows our head
            # beyond what it serves us withholds our own entries, and is counted for it.
            skip = origin in quarantined or report.refused_origins.get(origin, "gap") != "gap"
            if skip or seq <= have:
                continue
            exc = Withheld(
                f"{partner.name} showed origin {origin[:12]}… at seq {seq} but served only up to seq {have}"
            )
            log.warning("omission: %s", exc)
            report.rejected[exc.reason] += 1
            with self._store.write() as tx:
                tx.record_rejection(
                    partner=partner.name,
                    origin=origin,
                    seq=Seq(have + 1),
                    reason=exc.reason,
                    message=str(exc),
                )

    def _fetch_bodies(self, partner: Partner, source: FeedSource, report: PullReport) -> None:
        """Ask ``partner`` for every body we hold a header without (whoever served the header),
        then count one more round for those still missing and alert on the ones missing long."""
        wanted = [(origin, seq) for origin, seq, _ in self._store.missing_bodies(limit=_BODIES_PER_PULL)]
        if wanted and isinstance(source, BodySource):
            try:
                for origin, seq, body in source.bodies(wanted):
                    try:
                        if self._ingestor.attach_body(origin, seq, body, via=partner.name):
                            report.bodies += 1
                    except Rejected as exc:  # counted by attach_body
                        report.rejected[exc.reason] += 1
            except PeerError as exc:
                log.warning("bodies from %s unavailable: %s", partner.name, exc)
        still = self._store.missing_bodies(limit=_BODIES_PER_PULL)
        if not still:
            return
        with self._store.write() as tx:
            tx.count_missing_round((origin, seq) for origin, seq, _ in still)
        late = [(o, s) for o, s, rounds in still if rounds + 1 >= self._alert_rounds]
        if late:
            log.warning(
                "%d entry bodies missing for %d or more sync rounds (no peer served them),"
                " e.g. origin %s seq %d",
                len(late),
                self._alert_rounds,
                late[0][0][:12],
                late[0][1],
            )

    def _cursors(self, pinned: Mapping[KeyId, bytes], stopped: dict[KeyId, str]) -> dict[KeyId, Seq]:
        heads = self._store.heads()
        return {key: heads[key].seq if key in heads else Seq(0) for key in pinned if key not in stopped}

    def _round(
        self,
        partner: Partner,
        items: Iterator[SignedEntry],
        pinned: Mapping[KeyId, bytes],
        stopped: dict[KeyId, str],
        report: PullReport,
    ) -> None:
        for prepared in _prepared_ahead(self._ingestor, items, pinned):
            origin = prepared.claimed_signer
            if origin in stopped:
                continue  # prepared, which has no side effects, but never committed
            try:
                accepted = self._ingestor.commit(prepared, via=partner.name)
            except Rejected as exc:
                report.rejected[exc.reason] += 1
                stopped[origin] = exc.reason  # later entries of this origin would only be gaps
                named = prepared.header.origin if prepared.header is not None else origin
                report.refused_origins.setdefault(named, exc.reason)
                continue
            report.accepted += 1
            report.indicators += accepted.indicators
            if prepared.item.body is None:
                self._body_omitted(partner, accepted.origin, accepted.seq, report)
            if not accepted.readable:
                report.unreadable += 1

    def _body_omitted(self, partner: Partner, origin: KeyId, seq: Seq, report: PullReport) -> None:
        """``partner`` served a header without its body (or with a wrong one): an omission by
        that peer. Every body travels with its header from a peer that holds it, sealed or not,
        so the body is fetched elsewhere and the peer is counted."""
        exc = BodyWithheld(f"{partner.name} served origin {origin[:12]}… seq {seq} without its body")
        report.rejected[exc.reason] += 1
        with self._store.write() as tx:
            tx.record_rejection(
                partner=partner.name, origin=origin, seq=seq, reason=exc.reason, message=str(exc)
            )

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
            if report.error_reason is not None:
                tx.record_rejection(
                    partner=report.partner,
                    origin=None,
                    seq=None,
                    reason=report.error_reason,
                    message=report.error or report.error_reason,
                )


@dataclass(frozen=True, slots=True)
class _Failed:
    """The helper thread's exception (a PeerError mid-stream, or a bug), raised in the caller."""

    error: BaseException


_END = object()


def _prepared_ahead(
    ingestor: Ingestor, items: Iterator[SignedEntry], pinned: Mapping[KeyId, bytes]
) -> Iterator[Prepared]:
    """``items`` prepared in a helper thread, in order, at most :data:`_AHEAD` ahead.

    Preparing has no side effects, so an entry the caller skips (its origin was stopped) or
    never takes (the caller stopped early) was never acted on.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=_AHEAD)
    abandoned = threading.Event()

    def hand_over(item: object) -> bool:
        while not abandoned.is_set():
            try:
                ready.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not hand_over(ingestor.prepare(item, pinned=pinned)):
                    return
        except BaseException as exc:  # handed to the caller's thread and raised there
            hand_over(_Failed(exc))
        else:
            hand_over(_END)

    helper = threading.Thread(target=work, name="accord-pull-prepare", daemon=True)
    helper.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            assert isinstance(item, Prepared)
            yield item
    finally:
        abandoned.set()
        helper.join(_JOIN_SECONDS)
