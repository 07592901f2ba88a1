"""What every use-case family of a node shares: its parts, built by :class:`AccordNode`."""

from __future__ import annotations

import logging

from node.app import keyfiles
from node.app.audit import AuditLog
from node.app.bridges import Bridges
from node.app.encryption_keys import EncryptionKeys
from node.app.home import Home
from node.app.matcher_parts import ReviewSafelist, origin_names
from node.config import NodeConfig
from node.feed import NodeIdentity, TlsCredentials
from node.match import MatchLists
from node.model import KeyId, is_loopback_endpoint
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.lookup import Lookup
from node.sync.matchlog import MatchLog
from node.sync.opinions import OpinionDesk
from node.sync.provenance import ProvenanceCache
from node.sync.publish import Publisher
from node.sync.pull import Puller
from node.sync.query import Matcher
from node.sync.refresh import ListRefresher
from node.sync.sightings import MatchCounter, SightingReporter

log = logging.getLogger(__name__)


class NodeParts:
    """The parts of an open node (set by :class:`node.app.node.AccordNode`) and the helpers
    every use-case family uses."""

    home: Home
    config: NodeConfig
    identity: NodeIdentity
    encryption: EncryptionKeys
    tls: TlsCredentials
    store: Store
    origin: KeyId
    lists: MatchLists
    review_safelist: ReviewSafelist  # reviewers' entries in the in-memory safelist
    counter: MatchCounter
    refresher: ListRefresher
    matcher: Matcher
    match_log: MatchLog
    provenance: ProvenanceCache
    publisher: Publisher
    opinions: OpinionDesk
    sightings: SightingReporter
    ingestor: Ingestor
    puller: Puller
    bridges: Bridges
    audit: AuditLog
    lookup: Lookup
    _sightings_at: float
    _saved_cursor: int | None

    @property
    def key_id(self) -> KeyId:
        """This node's key id: its identity, which stays the same across key rotations."""
        return self.origin

    def names(self) -> dict[KeyId, str]:
        """Display names of known origins: partners and unsigned sources by local name, and ourselves."""
        return origin_names(self.store, origin=self.key_id, own_name=self.config.node.name)

    def _follow_commits(self) -> None:
        """Bring this process's lists up to date with what we just committed (as before)."""
        self.refresher.refresh()

    def plaintext_allowed(self, endpoint: str) -> bool:
        """Whether a partner without a pinned certificate may be reached in plaintext at ``endpoint``."""
        network = self.config.network
        return network.insecure_plaintext or (network.tls == "auto" and is_loopback_endpoint(endpoint))

    def load_lists(self) -> int:
        """Load the match lists from the database (the initial load, then incremental)."""
        return self.refresher.load()

    def signing_identity(self) -> NodeIdentity:
        """The key that signs our feed now. A rotation made by another process (``accord key
        rotate`` while this one serves) is picked up from the home here, so the heads and key
        statements we sign are never signed by a retired key (partners refuse those)."""
        rotated = [k for k in self.store.signing_keys().values() if k.origin == self.origin]
        current = max(rotated, key=lambda k: k.from_seq).key_id if rotated else self.origin
        if current != self.identity.key_id:
            keyfiles.finish_rotation(self.home, self.store, self.origin)
            loaded = NodeIdentity.load(self.home.key_path)
            if loaded.key_id == current:
                log.warning("our signing key was rotated by another process: signing with %s", current[:12])
                self.identity = loaded
                self.audit.use_identity(loaded)
        return self.identity
