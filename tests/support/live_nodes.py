"""Real nodes in this process: a home, a database and (optionally) real gRPC servers on port 0.

For federation tests that need several nodes and direct access to their stores (to play a
hostile peer by altering what it holds); the topology tests in ``tests/integration`` run
separate ``accord serve`` processes instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import ContentType, Distribution, KeyId, Signal, Tlp
from node.rpc.server import Servers
from node.sync.publish import Contribution


@dataclass
class LiveNode:
    """A node and, when it serves, its running servers."""

    name: str
    node: AccordNode
    servers: Servers | None

    @property
    def key_id(self) -> KeyId:
        return self.node.key_id

    @property
    def endpoint(self) -> str:
        assert self.servers is not None, f"{self.name} does not serve"
        return f"127.0.0.1:{self.servers.federation_port}"

    def pin(self, other: LiveNode, *, pull: bool = True) -> None:
        """Pin ``other``; with ``pull`` (and when it serves) this node pulls from it."""
        endpoint = other.endpoint if pull and other.servers is not None else None
        self.node.add_partner(
            other.name,
            public_key=public_key_to_text(other.node.identity.public_key),
            endpoint=endpoint,
            encryption_key=encryption_key_to_text(other.node.encryption.current.public),
        )

    def publish(self, *signals: Signal, tlp: Tlp = Tlp.GREEN, to: frozenset[KeyId] = frozenset()) -> None:
        """Publish one entry listing ``signals``."""
        items = [
            Contribution(s, ContentType.default_for(s.type), 100 if s.type.is_perceptual else None)
            for s in signals
        ]
        self.node.publisher.contribute(
            items, category="csam", distribution=Distribution(tlp=tlp, recipients=to)
        )

    def matches(self, signal: Signal) -> bool:
        """Whether ``signal`` matches here now (the lists brought up to date first)."""
        if not self.node.lists.ready:
            self.node.load_lists()
        self.node.refresher.refresh()
        return bool(self.node.matcher.match([signal])[0].matches)


@contextmanager
def live_nodes(
    root: Path, *names: str, serving: tuple[str, ...] | None = None
) -> Iterator[dict[str, LiveNode]]:
    """Nodes named ``names`` under ``root``; those in ``serving`` (default all) run servers."""
    with ExitStack() as stack:
        nodes: dict[str, LiveNode] = {}
        for name in names:
            init_home(root / name, name=name)
            node = AccordNode.open(root / name)
            stack.callback(node.close)
            node.config = replace(
                node.config, network=replace(node.config.network, local_listen="127.0.0.1:0")
            )
            servers = None
            if serving is None or name in serving:
                servers = _start(node, "127.0.0.1:0")
                stack.callback(servers.stop, 0)
            nodes[name] = LiveNode(name=name, node=node, servers=servers)
        yield nodes
