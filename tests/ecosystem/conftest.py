"""A node with partners, analyst accounts and a real TAXII server on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.feed import encryption_key_to_text, public_key_to_text
from node.http.server import HttpServer
from node.model import Tlp
from tests.support.feeds import encryption_keys, identity

PLATFORM = identity(7)  # a partner that is a named recipient of some restricted entries
OUTSIDER = identity(8)  # a partner that is named by none


@dataclass
class Taxii:
    """The running server and the tokens of its accounts."""

    node: AccordNode
    server: HttpServer
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def api_root(self) -> str:
        return f"{self.url}/accord/"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example NGO")
    opened = AccordNode.open(tmp_path / "home")
    for name, partner, n in (("platform", PLATFORM, 7), ("outsider", OUTSIDER, 8)):
        sealing = encryption_key_to_text(encryption_keys(n).public)  # restricted bodies are sealed to it
        opened.add_partner(
            name, public_key=public_key_to_text(partner.public_key), endpoint=None, encryption_key=sealing
        )
    yield opened
    opened.close()


@pytest.fixture
def taxii(node: AccordNode) -> Iterator[Taxii]:
    bridges = node.bridges
    tokens = {
        "alice": bridges.add_analyst(
            "alice", max_tlp=None, partner=None
        ).token,  # default ceiling amber+strict
        "chief": bridges.add_analyst("chief", max_tlp=Tlp.RED, partner=None).token,
        "green": bridges.add_analyst("green", max_tlp=Tlp.GREEN, partner=None).token,
        "platform": bridges.add_analyst("as-platform", max_tlp=None, partner="platform").token,
        "outsider": bridges.add_analyst("as-outsider", max_tlp=None, partner="outsider").token,
    }
    server = bridges.taxii_server("127.0.0.1:0")
    server.start()
    yield Taxii(node=node, server=server, tokens=tokens)
    server.stop()
