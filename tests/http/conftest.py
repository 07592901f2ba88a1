"""A real node home with published indicators, served by the real HTTP API on loopback port 0."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from node.app import AccordNode, init_home
from node.app.http_api import http_server
from node.http.server import HttpServer
from node.model import KeyId, Signal, Tlp
from node.model.accounts import Role
from tests.support.feeds import pdq_signal
from tests.support.nodes import LiveNode

GREEN_SEED, AMBER_SEED, RED_SEED = 1, 2, 3


@dataclass(slots=True)
class Served:
    """A node with its HTTP API running, and a token per kind of account."""

    node: AccordNode
    server: HttpServer
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def client(self, account: str | None = None) -> httpx.Client:
        headers = {} if account is None else {"Authorization": f"Bearer {self.tokens[account]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def signal_of(seed: int, j: int = 0) -> Signal:
    """The j-th signal LiveNode.publish(seed) published."""
    return pdq_signal(1000 * seed + j)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccordNode]:
    """A node holding its own GREEN, AMBER and RED indicators (the restricted ones sealed to a partner)."""
    root = tmp_path_factory.mktemp("http")
    init_home(root / "partner", name="Partner")
    partner = LiveNode.open(root / "partner", serve=False)
    init_home(root / "ngo", name="Example NGO")
    ngo = LiveNode.open(root / "ngo", serve=False)
    ngo.pin(partner, "partner")
    to = frozenset({KeyId(partner.node.key_id)})
    ngo.publish(GREEN_SEED, n=3, tlp=Tlp.GREEN)
    ngo.publish(AMBER_SEED, n=3, tlp=Tlp.AMBER, to=to)
    ngo.publish(RED_SEED, n=3, tlp=Tlp.RED, to=to)
    partner.node.close()
    ngo.node.load_lists()
    yield ngo.node
    ngo.node.close()


ACCOUNTS = {
    "admin": (Role.ADMIN, Tlp.RED),
    "analyst": (Role.ANALYST, Tlp.AMBER),
    "red-analyst": (Role.ANALYST, Tlp.RED),
    "reviewer": (Role.REVIEWER, Tlp.AMBER),
    "matcher": (Role.MATCHER, Tlp.AMBER),
    "red-matcher": (Role.MATCHER, Tlp.RED),
}


@pytest.fixture(scope="module")
def tokens(published: AccordNode) -> dict[str, str]:
    return {
        name: published.add_api_account(name, role=role, max_tlp=tlp).token
        for name, (role, tlp) in ACCOUNTS.items()
    }


def start_server(node: AccordNode, **http: object) -> HttpServer:
    """The node's HTTP API on a free loopback port, with ``http`` config overrides."""
    node.config = replace(node.config, http=replace(node.config.http, **http))
    server = http_server(node, "127.0.0.1:0")
    server.start()
    return server


@pytest.fixture(scope="module")
def served(published: AccordNode, tokens: dict[str, str]) -> Iterator[Served]:
    server = start_server(
        published,
        rate_burst=10_000,
        rate_per_second=10_000.0,
        max_body_bytes=64 * 1024,
        anonymous_rate_burst=10_000,  # hostile tests send many requests without a token
        anonymous_rate_per_second=10_000.0,
    )
    yield Served(node=published, server=server, tokens=tokens)
    server.stop()


@pytest.fixture
def fresh_home(tmp_path: Path) -> Path:
    init_home(tmp_path / "node", name="Fresh")
    return tmp_path / "node"
