"""The composition root: builds a node's parts from its home and exposes what the CLI does."""

from __future__ import annotations

import csv
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from node.app import keyfiles
from node.app.audit import AuditLog
from node.app.backup import backup_database
from node.app.bridges import Bridges
from node.app.contribute import (
    Collected,
    Progress,
    Refusal,
    Sources,
    collect,
    screen_item_categories,
    screen_relabels,
    screen_warninglisted,
    vetted_category,
)
from node.app.home import Home, require_home, rotate_tls, tls_credentials
from node.app.locks import partner_lock
from node.app.scan import CHUNK_ROWS, ScanReport, run_scan
from node.app.snapshots import resume_from_saved, save_indexes
from node.config import NodeConfig, load_config
from node.errors import InvalidInput, NotFound, PeerError
from node.feed import NodeIdentity, TlsCredentials, public_key_to_text
from node.hashing import ListRefusal, MediaHashes, hash_file, read_hash_list
from node.match import ListUpdate, MatchLists, builtin_warninglists
from node.model import (
    CertFingerprint,
    Compromise,
    ContentType,
    Distribution,
    Envelope,
    Indicator,
    KeyId,
    MatchResult,
    OpinionValue,
    Partner,
    PartnerPolicy,
    PdqThresholds,
    Seq,
    SharingGroup,
    Signal,
    Tlp,
    VideoThresholds,
    fingerprint,
    is_loopback_endpoint,
)
from node.model.clock import utc_now
from node.model.queries import IndicatorQuery, QueryAnswer
from node.rpc.client import LocalClient, PeerClient
from node.rpc.convert import match_result_from_proto
from node.stix import build_bundle
from node.store import EvidenceRecord, Store
from node.sync import partners as partner_ops
from node.sync import trust
from node.sync.export import HMA_CSV_HEADER, export_bundle, hma_csv_rows, match_list_rows, pytx_lines
from node.sync.ingest import Ingestor
from node.sync.lookup import Lookup, Provenance
from node.sync.opinions import FeedbackItem, OpinionDesk
from node.sync.publish import Contribution, Publisher, PublishReport
from node.sync.pull import Puller, PullReport
from node.sync.query import BENIGN, Matcher
from node.sync.refresh import ListRefresher
from node.sync.report import TransparencyReport, build_report
from node.sync.serve import entries_for
from node.sync.sightings import MatchCounter, SightingReporter, SightingTotal
from node.sync.sources import IMPORT_REFUSED
from node.sync.status import NodeStatus, node_status

log = logging.getLogger(__name__)

# The rejection counter's reason for an item of a local command that was refused: a media file
# that cannot be read, a malformed hash-list line, a STIX object the library refuses, a
# safelisted signal. Counted like partners' refused input (``accord status``, metrics).
LOCAL_REFUSED = "local_input_refused"


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


@dataclass(frozen=True, slots=True)
class ContributeReport:
    """What ``accord contribute`` did."""

    publish: PublishReport | None
    refused: tuple[Refusal, ...]
    duplicates: int = 0  # read twice in this import, or already published with the same labels
    forced: tuple[Refusal, ...] = ()  # safelisted signals contributed anyway (--force)


class AccordNode:
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
        self.lists = MatchLists(warninglists=builtin_warninglists)
        self.counter = MatchCounter(clock=utc_now)
        self.refresher = ListRefresher(store=self.store, lists=self.lists)
        self.matcher = Matcher(
            lists=self.lists,
            store=self.store,
            thresholds=self._thresholds(),
            names=self.names,
            video=VideoThresholds(
                frame_threshold=self.config.match.vpdq_frame_threshold,
                query_match_percent=self.config.match.vpdq_query_match_percent,
                compared_match_percent=self.config.match.vpdq_compared_match_percent,
            ),
            record=self.store.record_matches,
            safelist=self._local_safelist(),
            safelist_threshold=self.config.match.safelist_pdq_threshold,
            self_key=self.origin,
            counter=self.counter,
            source_trust=lambda: {s.origin: s.trust for s in self.bridges.sources()},
        )
        self.publisher = Publisher(
            store=self.store,
            identity=self.identity,
            name=self.config.node.name,
            limits=self.config.limits,
            clock=utc_now,
            origin=self.origin,
        )
        self.opinions = OpinionDesk(store=self.store, publisher=self.publisher, clock=utc_now)
        self.sightings = SightingReporter(
            store=self.store, publisher=self.publisher, counter=self.counter, clock=utc_now
        )
        self.ingestor = Ingestor(store=self.store, limits=self.config.limits, self_key=self.origin)
        self.puller = Puller(
            store=self.store,
            ingestor=self.ingestor,
            self_key=self.origin,
            self_public_key=self.identity.public_key,
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
        )

    def _thresholds(self) -> PdqThresholds:
        match = self.config.match
        return PdqThresholds(
            default=match.pdq_threshold,
            by_category=match.category_thresholds,
            by_partner=match.partner_thresholds,
        )

    def _local_safelist(self) -> MatchLists:
        """The operator's safelist file (``match.safelist``), as a small index of its own."""
        safelist = MatchLists()
        if not self.config.match.safelist:
            return safelist
        path = self.home.root / self.config.match.safelist
        updates = []
        for item in read_hash_list(path):
            if isinstance(item, ListRefusal):
                log.warning("safelist %s line %d refused: %s", path, item.line, item.reason)
                continue
            updates.append(ListUpdate(f"safelist:{item.line}", item.signal, active=True))
        safelist.apply(updates)
        safelist.ready = True
        return safelist

    @classmethod
    def open(cls, root: Path) -> AccordNode:
        """Open the node at ``root`` (which must exist)."""
        return cls(require_home(root))

    def close(self) -> None:
        """Keep the counted matches (for sightings), then release the database."""
        try:
            self.sightings.flush()
        finally:
            self.store.close()

    # --- identity and partners -----------------------------------------------------------

    @property
    def key_id(self) -> KeyId:
        """This node's key id: its identity, which stays the same across key rotations."""
        return self.origin

    def identity_card(self) -> dict[str, str]:
        """What to hand partners: name, key id, short fingerprint, public key."""
        return {
            "name": self.config.node.name,
            "key_id": self.key_id,
            "fingerprint": fingerprint(self.key_id),
            "public_key": public_key_to_text(keyfiles.origin_public_key(self.home, self.identity)),
            "signing_key_id": self.identity.key_id,
            "tls_fingerprint": self.tls.fingerprint,
            "listen": self.config.network.listen,
        }

    def rotate_tls(self) -> CertFingerprint:
        """A new TLS key and certificate (a running server uses it after a restart)."""
        self.tls = rotate_tls(self.home, organisation=self.config.node.name)
        return self.tls.fingerprint

    def serves_tls(self, listen: str) -> TlsCredentials | None:
        """The credentials the partner API serves on ``listen``, or None for plaintext.

        TLS unless the address is loopback (and ``network.tls`` is not ``always``), or the
        operator set ``network.insecure_plaintext``.
        """
        network = self.config.network
        if network.insecure_plaintext:
            return None
        if network.tls == "always" or not is_loopback_endpoint(listen):
            return self.tls
        return None

    def plaintext_allowed(self, endpoint: str) -> bool:
        """Whether a partner without a pinned certificate may be reached in plaintext at ``endpoint``."""
        network = self.config.network
        return network.insecure_plaintext or (network.tls == "auto" and is_loopback_endpoint(endpoint))

    def names(self) -> dict[KeyId, str]:
        """Display names of known origins: partners and unsigned sources by local name, and ourselves."""
        names = {p.key_id: p.name for p in self.store.partners()}
        names |= {s.origin: s.name for s in self.bridges.sources()}  # unsigned sources, by their local name
        names[self.key_id] = self.config.node.name
        return names

    def add_partner(
        self, name: str, *, public_key: str, endpoint: str | None, cert_fingerprint: str | None = None
    ) -> Partner:
        """Pin a partner (its key and, for TLS, its certificate fingerprint)."""
        partner = partner_ops.add_partner(
            self.store,
            name=name,
            public_key=public_key,
            endpoint=endpoint,
            self_key=self.key_id,
            cert_fingerprint=cert_fingerprint,
        )
        self.audit.record("partner-add", {"partner": name, "key_id": partner.key_id, "endpoint": endpoint})
        return partner

    def pin_partner_certificate(self, name: str, cert_fingerprint: str) -> Partner:
        """Pin a partner's (new) TLS certificate fingerprint."""
        partner = partner_ops.pin_certificate(self.store, name, cert_fingerprint)
        self.audit.record("partner-pin", {"partner": name, "cert_fingerprint": cert_fingerprint})
        return partner

    def add_to_group(self, group: str, members: Sequence[str]) -> SharingGroup:
        """Create sharing group ``group`` if needed and add partners to it."""
        added = partner_ops.add_to_group(self.store, group, list(members))
        self.audit.record("group-add", {"group": group, "partners": list(members)})
        return added

    def remove_from_group(self, group: str, members: Sequence[str]) -> SharingGroup | None:
        """Remove partners from ``group``, or the group itself when none are named."""
        left = partner_ops.remove_from_group(self.store, group, list(members))
        self.audit.record("group-remove", {"group": group, "partners": list(members)})
        return left

    def sharing_groups(self) -> list[SharingGroup]:
        """Every sharing group with its members."""
        return self.store.sharing_groups()

    def remove_partner(self, name: str) -> None:
        """Unpin a partner."""
        partner_ops.remove_partner(self.store, name)
        self.audit.record("partner-remove", {"partner": name})

    def partners(self) -> list[Partner]:
        """Pinned partners."""
        return self.store.partners()

    # --- contributing ---------------------------------------------------------------------

    def contribute(
        self,
        *,
        files: Sequence[Path] = (),
        lists: Sequence[Path] = (),
        stix: Sequence[Path] = (),
        signals: Sequence[str] = (),
        category: str,
        tlp: Tlp,
        content_type: ContentType | None = None,
        recipients: Iterable[str] = (),
        groups: Iterable[str] = (),
        valid_until: datetime | None = None,
        force: bool = False,
        any_file: bool = False,
        new_category: bool = False,
        force_warninglisted: bool = False,
        progress: Progress | None = None,
    ) -> ContributeReport:
        """Hash media (directories walked), read hash lists, STIX bundles and ``signals``; publish.

        Restartable: a signal already published by us under the same labels is a duplicate and
        adds nothing. A safelisted signal is refused unless ``force``. Large batches are split
        into entries within ``limits.max_objects_per_entry``. ``recipients`` (partner names) and
        ``groups`` (sharing group names) are resolved to key ids here, and those key ids are
        what the signed entry carries. A path that is not an image or video (by its content) is
        refused unless ``any_file``. A category outside the shared vocabulary is refused unless
        ``new_category``. A signal we already share keeps its category and audience: an item
        that would change the category or widen the TLP (or its recipients) is refused, naming
        ``accord relabel``, which does that explicitly. A value on a MISP warninglist of
        known-benign file hashes is refused unless ``force_warninglisted``.
        """
        category = vetted_category(category, new_category=new_category)
        keys = partner_ops.resolve_recipients(self.store, partners=list(recipients), groups=list(groups))
        distribution = Distribution(tlp=tlp, recipients=keys)
        if valid_until is not None and valid_until <= utc_now():
            raise InvalidInput("--valid-until must be in the future")
        sources = Sources(files=files, lists=lists, stix=stix, signals=signals, any_file=any_file)
        collected = collect(sources, content_type=content_type, valid_until=valid_until, progress=progress)
        if not new_category:
            screen_item_categories(collected)
        forced = self._screen_safelisted(collected, category=category, force=force)
        forced += screen_warninglisted(
            collected, builtin_warninglists, category=category, force=force_warninglisted
        )
        screen_relabels(collected, self._own_current(collected), category=category, distribution=distribution)
        self._count_refused(collected.refused)
        unique = len({item.signal for item in collected.items})
        repeats = len(collected.items) - unique
        if not collected.items:
            return ContributeReport(publish=None, refused=tuple(collected.refused), forced=forced)
        report = self.publisher.contribute(collected.items, category=category, distribution=distribution)
        self._follow_commits()
        self.audit.record(
            "contribute",
            {
                "category": category,
                "tlp": tlp.value,
                "items": len(collected.items),
                "added": report.added,
                "updated": report.updated,
                "duplicates": repeats + report.unchanged,
                "refused": len(collected.refused),
                "forced": len(forced),
                "entries": list(report.seqs),
            },
        )
        return ContributeReport(
            publish=report,
            refused=tuple(collected.refused),
            duplicates=repeats + report.unchanged,
            forced=forced,
        )

    def _screen_safelisted(self, collected: Collected, *, category: str, force: bool) -> tuple[Refusal, ...]:
        """Refuse (or, with ``force``, keep and report) harmful contributions on the safelist."""
        harmful = [item for item in collected.items if (item.category or category) != BENIGN]
        if not harmful:
            return ()
        holds_benign = self._holds_benign()
        if not (holds_benign or self.matcher.has_local_safelist):
            return ()  # nothing is safelisted: skip the check
        if not self.lists.ready and holds_benign:
            self.load_lists()  # partners' benign indicators live in the lists
        results = self.matcher.match([item.signal for item in harmful])
        flagged = {r.query for r in results if r.safelisted}
        if not flagged:
            return ()
        notes = tuple(Refusal(s.redacted(), "on the safelist (known benign)") for s in flagged)
        if not force:
            collected.items = [i for i in collected.items if i.signal not in flagged]
            collected.refused.extend(
                replace(n, reason=n.reason + ": refused, use --force to contribute it anyway") for n in notes
            )
            return ()
        return notes

    def _own_current(self, collected: Collected) -> dict[Signal, tuple[Indicator, Distribution]]:
        """Our newest live indicator of each collected signal that has one, with its audience."""
        current: dict[Signal, Indicator] = {}
        signals = {item.signal for item in collected.items}
        for signal, found in self.store.local_indicators_with_signals(signals).items():
            live = [i for i in found if not i.revoked and i.origin == self.origin]
            if live:
                current[signal] = max(live, key=lambda i: i.modified)
        shared = self.store.distributions_of(ind.id for ind in current.values())
        return {s: (ind, shared[ind.id]) for s, ind in current.items() if ind.id in shared}

    def _count_refused(self, refused: Sequence[Refusal]) -> None:
        """Count refused local items, in one transaction. A refusal names the item (path, line,
        object, or a redacted signal) and never carries a hash value."""
        if not refused:
            return
        with self.store.write() as tx:
            for refusal in refused:
                tx.record_rejection(
                    partner=None,
                    origin=None,
                    seq=None,
                    reason=LOCAL_REFUSED,
                    message=f"{refusal.source}: {refusal.reason}",
                )

    def _follow_commits(self) -> None:
        """Bring this process's lists up to date with what we just committed (as before)."""
        self.refresher.refresh()

    def _holds_benign(self) -> bool:
        return any(row.category == BENIGN for row in self.store.counts())

    # --- curation ---------------------------------------------------------------------------

    def own_indicator_ids(self, targets: Iterable[str]) -> list[str]:
        """Ids of our live indicators named by id or ``TYPE:VALUE``; NotFound for any other."""
        ids: list[str] = []
        for target in targets:
            if target.startswith("indicator--"):
                ids.append(target)
                continue
            own = [i for i in self.publisher.own_indicators(Signal.parse(target)) if not i.revoked]
            if not own:
                raise NotFound(
                    f"this node has published no active indicator with {Signal.parse(target).redacted()}"
                )
            ids.extend(i.id for i in own)
        return ids

    def targets_from_list(self, path: Path) -> tuple[list[str], list[Refusal]]:
        """The signals a hash list names (as ``TYPE:VALUE``) and its refused lines (counted)."""
        targets: list[str] = []
        refused: list[Refusal] = []
        for item in read_hash_list(path):
            if isinstance(item, ListRefusal):
                refused.append(Refusal(f"{path}:{item.line}", item.reason))
            else:
                targets.append(str(item.signal))
        self._count_refused(refused)
        return targets, refused

    def revoke(self, targets: Sequence[str]) -> PublishReport:
        """Revoke our indicators named by id or by ``TYPE:VALUE``."""
        return self._amend(targets, lambda ind: replace(ind, revoked=True), action="revoke")

    def expire(self, targets: Sequence[str], *, at: datetime) -> PublishReport:
        """Publish versions of our indicators valid until ``at``; they stop matching from then on."""

        def change(ind: Indicator) -> Indicator:
            if at <= ind.created:
                raise InvalidInput(f"{ind.id} was created at {ind.created.isoformat()}; --at must be later")
            return replace(ind, valid_until=at)

        return self._amend(targets, change, action="expire")

    def relabel(
        self,
        targets: Sequence[str],
        *,
        category: str | None,
        content_type: ContentType | None,
        tlp: Tlp | None = None,
        recipients: Iterable[str] = (),
        groups: Iterable[str] = (),
        new_category: bool = False,
    ) -> PublishReport:
        """Publish versions of our indicators under a new category, content type and/or TLP.

        This is the one command that changes a category or widens who receives an indicator
        (``contribute`` refuses to); with ``tlp`` the new versions go out under that TLP and
        the recipients (partners, groups) named here, and the audit log records the change.
        """
        slug = None if category is None else vetted_category(category, new_category=new_category)
        if tlp is not None:
            return self._redistribute(
                targets,
                category=slug,
                content_type=content_type,
                tlp=tlp,
                recipients=recipients,
                groups=groups,
            )

        def change(ind: Indicator) -> Indicator:
            return replace(
                ind,
                category=slug or ind.category,
                content_type=content_type or ind.content_type,
            )

        return self._amend(targets, change, action="relabel")

    def _redistribute(
        self,
        targets: Sequence[str],
        *,
        category: str | None,
        content_type: ContentType | None,
        tlp: Tlp,
        recipients: Iterable[str],
        groups: Iterable[str],
    ) -> PublishReport:
        """New versions of our live indicators under another distribution (and labels)."""
        keys = partner_ops.resolve_recipients(self.store, partners=list(recipients), groups=list(groups))
        distribution = Distribution(tlp=tlp, recipients=keys)
        ids = self.own_indicator_ids(targets)
        live = [
            i for i in self.store.indicators_by_id(ids).values() if not i.revoked and i.origin == self.origin
        ]
        if not live:
            raise NotFound("none of the named indicators is an active indicator of this node")
        items = [
            Contribution(
                ind.signal,
                content_type or ind.content_type,
                ind.quality,
                category=category or ind.category,
                valid_until=ind.valid_until,
            )
            for ind in live
        ]
        report = self.publisher.contribute(items, category=items[0].category or "", distribution=distribution)
        self._follow_commits()
        self.audit.record(
            "relabel",
            {
                "indicator_ids": [i.id for i in live],
                "tlp": tlp.value,
                "recipients": sorted(keys),
                "category": category,
                "entries": list(report.seqs),
            },
        )
        return report

    def _amend(
        self, targets: Sequence[str], change: Callable[[Indicator], Indicator], *, action: str
    ) -> PublishReport:
        ids = self.own_indicator_ids(targets)
        report = self.publisher.amend(ids, change)
        self._follow_commits()
        self.audit.record(action, {"indicator_ids": ids, "entries": list(report.seqs)})
        return report

    # --- matching, sync, status, export ---------------------------------------------------

    def load_lists(self) -> int:
        """Load the match lists from the database (the initial load, then incremental)."""
        return self.refresher.load()

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
            identity=self.identity,
            timeout=network.rpc_timeout_seconds,
            max_message_bytes=network.max_message_bytes,
            pin=partner.cert_fingerprint,
            plaintext_allowed=self.plaintext_allowed(endpoint),
            page_timeout=self.config.sync.page_timeout_seconds,
            caller=self.origin,
        )

    def backup(self, target: Path) -> None:
        """A consistent copy of the database at ``target`` (SQLite online backup; safe while serving)."""
        backup_database(self.store, target)

    def receive_push(self, partner: Partner, envelopes: Iterator[Envelope]) -> PullReport:
        """Ingest what ``partner`` pushed (the Push RPC), exactly as pulled entries, and record it."""
        report = self.puller.receive(partner, envelopes)
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
            entries = entries_for(
                self.store, caller=partner.key_id, server=self.key_id, cursors={self.key_id: held}
            )
            reply = client.push((e.envelope for e in entries), per_message=1)
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
        lists = builtin_warninglists if count_warninglisted else None
        return node_status(self.store, name=self.config.node.name, key_id=self.key_id, warninglists=lists)

    def export_stix(self, path: Path, *, include_red: bool) -> int:
        """Write a STIX 2.1 bundle of held indicators to ``path``; returns how many it holds."""
        bundle, count = export_bundle(self.store, names=self.names(), include_red=include_red)
        path.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        self.audit.record("export", {"path": str(path), "indicators": count, "include_red": include_red})
        return count

    # --- analysts -------------------------------------------------------------------------

    def query(self, query: IndicatorQuery, *, actor: str | None = None) -> QueryAnswer:
        """Indicators selected by ``query``; a query that may return RED rows is audited."""
        answer = self.lookup.query(query)
        if query.include_red:
            red = sum(1 for r in answer.rows if r.indicator.tlp is Tlp.RED)
            self.audit.record(
                "query-red", {**describe_query(query), "rows": len(answer.rows), "red_rows": red}, actor=actor
            )
        return answer

    def show(self, target: str, *, include_red: bool) -> list[Provenance]:
        """Full provenance of an indicator id or of every indicator listing a signal (audited)."""
        found = self.lookup.show(target, include_red=include_red)
        named = target if target.startswith("indicator--") else target.split(":", 1)[0] + ":<value>"
        self.audit.record("show", {"target": named, "indicators": len(found), "include_red": include_red})
        return found

    def stix_bundle(self, answer: QueryAnswer) -> dict[str, object]:
        """A STIX 2.1 bundle of the indicators in ``answer``."""
        indicators = [r.indicator for r in answer.rows]
        names = {r.indicator.origin: r.origin_name for r in answer.rows}
        return build_bundle(indicators, origin_names=names)

    def report(self, *, since: datetime, until: datetime) -> TransparencyReport:
        """The transparency report for ``[since, until)``."""
        return build_report(
            self.store, node=self.config.node.name, names=self.names(), since=since, until=until
        )

    def export_match_list(self, path: Path, *, fmt: str, include_red: bool) -> int:
        """Write the match lists as ``pytx`` lines or ``hma-csv``; returns the rows written."""
        observed = {k for k, p in self.store.partner_policies().items() if not p.trust.matches}
        observed |= {s.origin for s in self.bridges.sources() if not s.trust.matches}
        rows = match_list_rows(
            self.store,
            names=self.names(),
            include_red=include_red,
            now=utc_now(),
            observed=frozenset(observed),
            warninglisted=lambda signal: builtin_warninglists().list_of(signal) is not None,
        )
        written = 0
        with path.open("w", encoding="utf-8", newline="") as stream:
            if fmt == "pytx":
                for line in pytx_lines(rows):
                    stream.write(line + "\n")
                    written += 1
            elif fmt == "hma-csv":
                writer = csv.writer(stream)
                writer.writerow(HMA_CSV_HEADER)
                for row in hma_csv_rows(rows):
                    writer.writerow(row)
                    written += 1
            else:
                raise InvalidInput(f"unknown export format {fmt!r} (pytx, hma-csv, stix)")
        return written

    def scan(
        self,
        source: Path,
        out: Path,
        *,
        fmt: str,
        chunk_rows: int = CHUNK_ROWS,
        progress: Progress | None = None,
    ) -> ScanReport:
        """Match a data-set manifest (or a media directory) against the lists into a report."""
        if not self.lists.ready:
            self.load_lists()
        return run_scan(self.matcher, source, out, fmt=fmt, chunk_rows=chunk_rows, progress=progress)

    # --- feedback and trust (opinions, partner policy, compromised keys) -------------------

    def opine(self, targets: Sequence[str], *, value: OpinionValue, explanation: str | None) -> list[int]:
        """Publish our opinion of the indicators ``targets`` name; returns the entries' seqs."""
        ids = self.opinions.resolve(targets)
        seqs = [int(s) for s in self.opinions.state(ids, value=value, explanation=explanation)]
        self.audit.record(
            "opinion", {"indicator_ids": [i.id for i in ids], "opinion": value.value, "entries": seqs}
        )
        return seqs

    def withdraw_opinions(self, targets: Sequence[str]) -> list[int]:
        """Withdraw our current opinions of the indicators ``targets`` name."""
        ids = self.opinions.resolve(targets)
        seqs = [int(s) for s in self.opinions.withdraw(ids)]
        self.audit.record("opinion-withdraw", {"indicator_ids": [i.id for i in ids], "entries": seqs})
        return seqs

    def feedback(self) -> tuple[list[FeedbackItem], list[SightingTotal]]:
        """Other origins' current opinions about, and sightings of, our own indicators."""
        return self.opinions.feedback(), self.sightings.totals()

    def publish_sightings(self) -> list[int]:
        """Publish the pending sightings of partners that opted in now; returns the seqs."""
        return [int(s) for s in self.sightings.publish()]

    def maintain(self) -> int:
        """The serve loop's periodic work: apply new rows to the match lists and, every
        ``sync.sightings_seconds``, report sightings. Returns the rows applied."""
        applied = self.refresher.refresh()
        now = time.monotonic()
        if now - self._sightings_at >= self.config.sync.sightings_seconds:
            self._sightings_at = now
            self.sightings.publish()
        return applied

    def set_partner_policy(
        self,
        name: str,
        *,
        categories: Sequence[str] | None,
        signal_types: Sequence[str] | None,
        trust_level: str | None,
        share_sightings: bool | None,
    ) -> PartnerPolicy:
        """Change what this node accepts from partner ``name`` and how far it trusts it."""
        policy = trust.set_policy(
            self.store,
            name,
            categories=categories,
            signal_types=signal_types,
            trust=trust_level,
            share_sightings=share_sightings,
        )
        self.audit.record(
            "partner-policy",
            {
                "partner": name,
                "categories": None if categories is None else list(categories),
                "signal_types": None if signal_types is None else list(signal_types),
                "trust": trust_level,
                "share_sightings": share_sightings,
            },
        )
        return policy

    def partner_policy(self, name: str) -> PartnerPolicy:
        """Partner ``name``'s acceptance policy."""
        return trust.policy_of(self.store, name)

    def mark_compromised(self, name: str, *, from_seq: int) -> Compromise:
        """Mark partner ``name``'s key compromised from feed position ``from_seq``."""
        mark = trust.mark_compromised(self.store, name, from_seq=from_seq, clock=utc_now)
        self.audit.record("partner-compromise", {"partner": name, "from_seq": from_seq})
        return mark

    def clear_compromise(self, name: str) -> None:
        """Lift the compromise mark on partner ``name``'s key."""
        trust.clear_compromise(self.store, name)
        self.audit.record("partner-uncompromise", {"partner": name})

    def compromised(self) -> dict[str, Compromise]:
        """Compromise marks by partner name."""
        return trust.compromised_partners(self.store)

    def rotate_key(self) -> tuple[int, KeyId]:
        """Rotate the signing key: publish the rotation (signed by old and new) and swap the key
        files. Returns the rotation entry's seq and the new key id. The identity stays."""
        new, _ = keyfiles.stage_new_key(self.home, self.identity)
        seq = self.publisher.rotate(new)
        keyfiles.finish_rotation(self.home, self.store, self.origin)
        self.identity = new
        self.audit.use_identity(new)
        self.audit.record("key-rotate", {"entry": int(seq), "new_key_id": new.key_id})
        return int(seq), new.key_id


def describe_query(query: IndicatorQuery) -> dict[str, object]:
    """The filters of ``query`` for the audit log: which were used, never a hash value."""
    return {
        "signal_type": None if query.signal is None else query.signal.type.value,
        "near_search": None if query.near is None else query.distance,
        "categories": sorted(query.categories),
        "origins": sorted(query.origins),
        "tlps": sorted(t.value for t in query.tlps),
        "statuses": sorted(s.value for s in query.statuses),
        "since": None if query.since is None else query.since.isoformat(),
        "until": None if query.until is None else query.until.isoformat(),
        "include_red": query.include_red,
    }
