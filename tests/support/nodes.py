"""In-process nodes on real loopback gRPC servers, and the digest that compares their state.

A :class:`LiveNode` is a real home (key file, SQLite database, config) opened as an
``AccordNode`` with both gRPC servers bound to port 0: tests pin partners by the bound address
and drive publish / sync / restore through the app layer, without a process start per step.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import ContentType, Distribution, KeyId, Tlp
from node.rpc.server import Servers
from node.sync.publish import Contribution, PublishReport
from tests.support.feeds import pdq_signal


@dataclass(slots=True)
class LiveNode:
    """An opened node with its servers running (or stopped, after :meth:`stop`)."""

    node: AccordNode
    servers: Servers | None

    @classmethod
    def start(cls, root: Path, name: str, **limits: int) -> LiveNode:
        """Create a home at ``root``, open it and serve on free loopback ports."""
        init_home(root, name=name)
        return cls.open(root, **limits)

    @classmethod
    def open(cls, root: Path, *, serve: bool = True, **limits: int) -> LiveNode:
        """Open an existing home; serve it unless ``serve`` is False."""
        node = AccordNode.open(root)
        config = node.config
        node.config = replace(
            config,
            network=replace(config.network, local_listen="127.0.0.1:0"),
            limits=replace(config.limits, **limits),
        )
        return cls(node=node, servers=_start(node, "127.0.0.1:0") if serve else None)

    @property
    def address(self) -> str:
        """The partner API's address."""
        assert self.servers is not None
        return f"127.0.0.1:{self.servers.federation_port}"

    def pin(self, other: LiveNode, name: str, *, endpoint: str | None = None) -> None:
        """Pin ``other`` as a partner called ``name``, reached at ``endpoint`` if given."""
        key = public_key_to_text(other.node.identity.public_key)
        sealed_to = encryption_key_to_text(other.node.encryption.current.public)  # exchanged with the key
        self.node.add_partner(name, public_key=key, endpoint=endpoint, encryption_key=sealed_to)

    def publish(
        self, seed: int, *, n: int = 10, tlp: Tlp = Tlp.GREEN, to: frozenset[KeyId] = frozenset()
    ) -> PublishReport:
        """One entry of ``n`` PDQ indicators (signals derived from ``seed``)."""
        items = [Contribution(pdq_signal(1000 * seed + j), ContentType.IMAGE, 100) for j in range(n)]
        return self.node.publisher.contribute(
            items, category="csam", distribution=Distribution(tlp=tlp, recipients=to)
        )

    def stop(self) -> None:
        """Stop the servers and close the database."""
        if self.servers is not None:
            self.servers.stop(0)
            self.servers = None
        self.node.close()


def state_digest(db: Path) -> str:
    """Digest of the derived state (what matching and queries read), independent of timing."""
    digest = hashlib.sha256()
    with sqlite3.connect(db) as conn:
        for query in (
            "SELECT origin, seq, digest FROM heads ORDER BY origin",
            "SELECT origin, seq, digest, payload FROM entries ORDER BY origin, seq",
            "SELECT id, origin, signal_type, value, category, tlp, modified, revoked"
            " FROM indicators ORDER BY id",
        ):
            for row in conn.execute(query):
                digest.update(repr(row).encode())
    return digest.hexdigest()
