"""The composition root: builds a node's parts from its home and exposes what the CLI does."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from node.app import keyfiles
from node.app.home import Home, require_home
from node.app.locks import partner_lock
from node.config import NodeConfig, load_config
from node.errors import InvalidInput, NotFound, PeerError
from node.feed import NodeIdentity, public_key_to_text
from node.hashing import ListItem, ListRefusal, MediaHashes, hash_file, read_hash_list
from node.match import MatchLists
from node.model import (
    PDQ_MIN_QUALITY,
    Compromise,
    ContentType,
    Distribution,
    KeyId,
    MatchResult,
    OpinionValue,
    Partner,
    PartnerPolicy,
    PdqThresholds,
    Signal,
    Tlp,
    fingerprint,
    parse_category,
)
from node.model.clock import utc_now
from node.rpc.client import LocalClient, PeerClient
from node.rpc.convert import match_result_from_proto
from node.store import Store
from node.sync import partners as partner_ops
from node.sync import trust
from node.sync.export import export_bundle
from node.sync.ingest import Ingestor
from node.sync.opinions import FeedbackItem, OpinionDesk
from node.sync.publish import Contribution, Publisher, PublishReport
from node.sync.pull import Puller, PullReport
from node.sync.query import Matcher
from node.sync.refresh import ListRefresher
from node.sync.sightings import MatchCounter, SightingReporter, SightingTotal
from node.sync.status import NodeStatus, node_status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An item a command could not use, and why (never the hash value itself)."""

    source: str
    reason: str


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
        self.store = Store(home.db_path)
        self.origin = keyfiles.origin_id(home, self.identity)
        keyfiles.finish_rotation(home, self.store, self.origin)
        self.identity = NodeIdentity.load(home.key_path)
        self.lists = MatchLists()
        self.counter = MatchCounter(clock=utc_now)
        self.refresher = ListRefresher(store=self.store, lists=self.lists)
        self.matcher = Matcher(
            lists=self.lists,
            store=self.store,
            thresholds=self._thresholds(),
            names=self.names,
            self_key=self.origin,
            counter=self.counter,
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
        self.ingestor = Ingestor(store=self.store, limits=self.config.limits)
        self._sightings_at = time.monotonic()
        self.puller = Puller(store=self.store, ingestor=self.ingestor, self_key=self.origin)

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
            "listen": self.config.network.listen,
        }

    def names(self) -> dict[KeyId, str]:
        """Display names of known origins: partners by their local name, and ourselves."""
        names = {p.key_id: p.name for p in self.store.partners()}
        names[self.key_id] = self.config.node.name
        return names

    def add_partner(self, name: str, *, public_key: str, endpoint: str | None) -> Partner:
        """Pin a partner."""
        return partner_ops.add_partner(
            self.store, name=name, public_key=public_key, endpoint=endpoint, self_key=self.key_id
        )

    def remove_partner(self, name: str) -> None:
        """Unpin a partner."""
        partner_ops.remove_partner(self.store, name)

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
    ) -> ContributeReport:
        """Hash ``files``, read ``lists`` and parse ``signals``; publish what is valid as one batch."""
        category = parse_category(category)
        distribution = Distribution(tlp=tlp, recipients=self._recipient_keys(recipients))
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
        return ContributeReport(publish=report, refused=tuple(refused))

    def _recipient_keys(self, names: Iterable[str]) -> frozenset[KeyId]:
        partners = {p.name: p.key_id for p in self.store.partners()}
        keys: set[KeyId] = set()
        for name in names:
            if name not in partners:
                raise NotFound(f"no partner named {name!r} to address (see 'accord partner list')")
            keys.add(partners[name])
        return frozenset(keys)

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
        return report

    # --- matching, sync, status, export ---------------------------------------------------

    def load_lists(self) -> int:
        """Load the match lists from the database (the initial load, then incremental)."""
        return self.refresher.load()

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
        """Pull once from one partner, or from every partner with an endpoint."""
        partners = [p for p in self.store.partners() if p.endpoint]
        if partner_name is not None:
            partners = [p for p in partners if p.name == partner_name]
            if not partners:
                raise NotFound(f"no partner named {partner_name!r} with an endpoint")
        return [self.pull_partner(p) for p in partners]

    def pull_partner(self, partner: Partner) -> PullReport:
        """One pull from ``partner`` over gRPC, unless another process is pulling it right now."""
        if partner.endpoint is None:
            raise NotFound(f"partner {partner.name!r} has no endpoint to pull from")
        network = self.config.network
        with partner_lock(self.home.root, partner.name) as held:
            if not held:
                return PullReport(partner=partner.name, skipped=True)
            with PeerClient(
                partner.endpoint,
                identity=self.identity,
                timeout=network.rpc_timeout_seconds,
                max_message_bytes=network.max_message_bytes,
                caller=self.origin,
            ) as client:
                return self.puller.pull(partner, client)

    def status(self) -> NodeStatus:
        """The node's status from the database."""
        return node_status(self.store, name=self.config.node.name, key_id=self.key_id)

    def export_stix(self, path: Path, *, include_red: bool) -> int:
        """Write a STIX 2.1 bundle of held indicators to ``path``; returns how many it holds."""
        bundle, count = export_bundle(self.store, names=self.names(), include_red=include_red)
        path.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return count

    # --- feedback and trust (opinions, partner policy, compromised keys) -------------------

    def opine(self, targets: Sequence[str], *, value: OpinionValue, explanation: str | None) -> list[int]:
        """Publish our opinion of the indicators ``targets`` name; returns the entries' seqs."""
        seqs = self.opinions.state(self.opinions.resolve(targets), value=value, explanation=explanation)
        return [int(s) for s in seqs]

    def withdraw_opinions(self, targets: Sequence[str]) -> list[int]:
        """Withdraw our current opinions of the indicators ``targets`` name."""
        return [int(s) for s in self.opinions.withdraw(self.opinions.resolve(targets))]

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
        return trust.set_policy(
            self.store,
            name,
            categories=categories,
            signal_types=signal_types,
            trust=trust_level,
            share_sightings=share_sightings,
        )

    def partner_policy(self, name: str) -> PartnerPolicy:
        """Partner ``name``'s acceptance policy."""
        return trust.policy_of(self.store, name)

    def mark_compromised(self, name: str, *, from_seq: int) -> Compromise:
        """Mark partner ``name``'s key compromised from feed position ``from_seq``."""
        return trust.mark_compromised(self.store, name, from_seq=from_seq, clock=utc_now)

    def clear_compromise(self, name: str) -> None:
        """Lift the compromise mark on partner ``name``'s key."""
        trust.clear_compromise(self.store, name)

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
        return int(seq), new.key_id
