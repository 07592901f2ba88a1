"""The composition root: builds a node's parts from its home and exposes what the CLI does."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from node.app.audit import AuditLog
from node.app.backup import backup_database
from node.app.bridges import Bridges
from node.app.home import Home, require_home, rotate_tls, tls_credentials
from node.app.locks import partner_lock
from node.app.snapshots import resume_from_saved, save_indexes
from node.config import NodeConfig, load_config
from node.errors import InvalidInput, NotFound, PeerError
from node.feed import NodeIdentity, TlsCredentials, public_key_to_text
from node.hashing import ListItem, ListRefusal, MediaHashes, hash_file, read_hash_list
from node.match import MatchLists
from node.model import (
    PDQ_MIN_QUALITY,
    CertFingerprint,
    ContentType,
    Distribution,
    Envelope,
    KeyId,
    MatchResult,
    Partner,
    PdqThresholds,
    Seq,
    SharingGroup,
    Signal,
    Tlp,
    VideoThresholds,
    fingerprint,
    is_loopback_endpoint,
    parse_category,
)
from node.model.clock import utc_now
from node.model.queries import IndicatorQuery, QueryAnswer
from node.rpc.client import LocalClient, PeerClient
from node.rpc.convert import match_result_from_proto
from node.stix import build_bundle
from node.store import EvidenceRecord, Store
from node.sync import partners as partner_ops
from node.sync.export import export_bundle
from node.sync.ingest import Ingestor
from node.sync.lookup import Lookup, Provenance
from node.sync.publish import Contribution, Publisher, PublishReport
from node.sync.pull import Puller, PullReport
from node.sync.query import Matcher
from node.sync.refresh import ListRefresher
from node.sync.report import TransparencyReport, build_report
from node.sync.serve import entries_for
from node.sync.sources import IMPORT_REFUSED
from node.sync.status import NodeStatus, node_status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An item a command could not use, and why (never the hash value itself)."""

    source: str
    reason: str


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


class AccordNode:
    """One node, opened from its home directory. Close it when done."""

    def __init__(self, home: Home, *, config: NodeConfig | None = None) -> None:
        self.home = home
        self.config = config or load_config(home.root)
        self.identity = NodeIdentity.load(home.key_path)
        self.tls = tls_credentials(home, organisation=self.config.node.name)
        self.store = Store(home.db_path)
        self.lists = MatchLists()
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
        )
        self.publisher = Publisher(
            store=self.store,
            identity=self.identity,
            name=self.config.node.name,
            limits=self.config.limits,
            clock=utc_now,
        )
        self.ingestor = Ingestor(store=self.store, limits=self.config.limits, self_key=self.identity.key_id)
        self.puller = Puller(
            store=self.store,
            ingestor=self.ingestor,
            self_key=self.identity.key_id,
            self_public_key=self.identity.public_key,
        )
        self._saved_cursor: int | None = None  # cursor of the indexes on disk, when known
        self.bridges = Bridges(
            root=home.root,
            config=lambda: self.config,
            store=self.store,
            key_id=self.identity.key_id,
            names=self.names,
            after_import=self.refresher.refresh,
        )
        self.audit = AuditLog(store=self.store, identity=self.identity)
        self.lookup = Lookup(
            store=self.store,
            names=self.names,
            own_key=(self.identity.key_id, self.identity.public_key),
        )

    def _thresholds(self) -> PdqThresholds:
        match = self.config.match
        return PdqThresholds(
            default=match.pdq_threshold,
            by_category=match.category_thresholds,
            by_partner=match.partner_thresholds,
        )

    @classmethod
    def open(cls, root: Path) -> AccordNode:
        """Open the node at ``root`` (which must exist)."""
        return cls(require_home(root))

    def close(self) -> None:
        """Release the database."""
        self.store.close()

    # --- identity and partners -----------------------------------------------------------

    @property
    def key_id(self) -> KeyId:
        """This node's key id."""
        return self.identity.key_id

    def identity_card(self) -> dict[str, str]:
        """What to hand partners: name, key id, short fingerprint, public key."""
        return {
            "name": self.config.node.name,
            "key_id": self.key_id,
            "fingerprint": fingerprint(self.key_id),
            "public_key": public_key_to_text(self.identity.public_key),
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
        return partner_ops.pin_certificate(self.store, name, cert_fingerprint)

    def add_to_group(self, group: str, members: Sequence[str]) -> SharingGroup:
        """Create sharing group ``group`` if needed and add partners to it."""
        return partner_ops.add_to_group(self.store, group, list(members))

    def remove_from_group(self, group: str, members: Sequence[str]) -> SharingGroup | None:
        """Remove partners from ``group``, or the group itself when none are named."""
        return partner_ops.remove_from_group(self.store, group, list(members))

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
        signals: Sequence[str] = (),
        category: str,
        tlp: Tlp,
        content_type: ContentType | None = None,
        recipients: Iterable[str] = (),
        groups: Iterable[str] = (),
    ) -> ContributeReport:
        """Hash ``files``, read ``lists`` and parse ``signals``; publish what is valid as one batch.

        ``recipients`` (partner names) and ``groups`` (sharing group names) are resolved to key
        ids here, and those key ids are what the signed entry carries.
        """
        category = parse_category(category)
        keys = partner_ops.resolve_recipients(self.store, partners=list(recipients), groups=list(groups))
        distribution = Distribution(tlp=tlp, recipients=keys)
        items: list[Contribution] = []
        refused: list[Refusal] = []
        for path in files:
            self._from_file(path, items, refused, content_type)
        for path in lists:
            self._from_list(path, items, refused, content_type)
        for text in signals:
            signal = Signal.parse(text)
            items.append(Contribution(signal, content_type or ContentType.default_for(signal.type)))
        if not items:
            return ContributeReport(publish=None, refused=tuple(refused))
        report = self.publisher.contribute(items, category=category, distribution=distribution)
        self.refresher.refresh()
        self.audit.record(
            "contribute",
            {
                "category": category,
                "tlp": tlp.value,
                "items": len(items),
                "added": report.added,
                "updated": report.updated,
                "refused": len(refused),
                "entries": list(report.seqs),
            },
        )
        return ContributeReport(publish=report, refused=tuple(refused))

    def _from_file(
        self, path: Path, items: list[Contribution], refused: list[Refusal], content_type: ContentType | None
    ) -> None:
        try:
            hashes = hash_file(path)
        except InvalidInput as exc:
            refused.append(Refusal(str(path), str(exc)))
            return
        kind = content_type or hashes.content_type
        items.append(Contribution(hashes.md5, kind))
        items.append(Contribution(hashes.sha256, kind))
        if hashes.vpdq is not None:
            items.append(Contribution(hashes.vpdq, kind))
        elif hashes.video_unhashed:
            refused.append(Refusal(str(path), f"{hashes.note}; md5 and sha256 shared"))
        if hashes.pdq is None:
            return
        quality = hashes.pdq_quality if hashes.pdq_quality is not None else 0
        if quality < PDQ_MIN_QUALITY:
            refused.append(
                Refusal(str(path), f"pdq quality {quality} is below {PDQ_MIN_QUALITY}: pdq not shared")
            )
        else:
            items.append(Contribution(hashes.pdq, kind, quality))

    def _from_list(
        self, path: Path, items: list[Contribution], refused: list[Refusal], content_type: ContentType | None
    ) -> None:
        for item in read_hash_list(path):
            if isinstance(item, ListRefusal):
                refused.append(Refusal(f"{path}:{item.line}", item.reason))
            else:
                assert isinstance(item, ListItem)
                kind = content_type or ContentType.default_for(item.signal.type)
                items.append(Contribution(item.signal, kind, category=item.category))

    def revoke(self, targets: Sequence[str]) -> PublishReport:
        """Revoke our indicators named by id or by ``TYPE:VALUE``."""
        ids: list[str] = []
        for target in targets:
            if target.startswith("indicator--"):
                ids.append(target)
                continue
            own = [i for i in self.publisher.own_indicators(Signal.parse(target)) if not i.revoked]
            if not own:
                raise NotFound("this node has published no active indicator with that signal")
            ids.extend(i.id for i in own)
        report = self.publisher.revoke(ids)
        self.refresher.refresh()
        self.audit.record("revoke", {"indicator_ids": ids})
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
        return self.matcher.match(signals)

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

    def status(self) -> NodeStatus:
        """The node's status from the database."""
        return node_status(self.store, name=self.config.node.name, key_id=self.key_id)

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
