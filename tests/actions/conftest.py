"""A real node home holding GREEN and AMBER indicators, opened with short delivery timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.model import ContentType, Distribution, KeyId, MatchResult, Signal, Tlp
from node.sync.publish import Contribution
from tests.support.feeds import pdq_signal

GREEN, AMBER = 1, 2


def signal_of(seed: int, j: int = 0) -> Signal:
    """The j-th signal published under ``seed``."""
    return pdq_signal(1000 * seed + j)


def fast_actions(node: AccordNode, **changes: object) -> None:
    """Short timeouts and retries, so hostile receivers cost the test little time."""
    settings = {
        "connect_timeout_seconds": 0.5,
        "read_timeout_seconds": 0.5,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "poll_seconds": 0.05,
    }
    node.config = replace(node.config, actions=replace(node.config.actions, **(settings | changes)))


def publish(node: AccordNode, seed: int, *, tlp: Tlp, n: int = 2, to: frozenset[KeyId] = frozenset()) -> None:
    items = [Contribution(signal_of(seed, j), ContentType.IMAGE, 100) for j in range(n)]
    node.publisher.contribute(items, category="csam", distribution=Distribution(tlp=tlp, recipients=to))


def make_node(root: Path) -> AccordNode:
    """A node with GREEN and AMBER csam indicators of its own, lists loaded."""
    init_home(root, name="Platform")
    node = AccordNode.open(root)
    fast_actions(node)
    publish(node, GREEN, tlp=Tlp.GREEN)
    publish(node, AMBER, tlp=Tlp.AMBER, to=frozenset({KeyId(node.key_id)}))
    node.load_lists()
    return node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    opened = make_node(tmp_path / "home")
    yield opened
    opened.close()


def matched(node: AccordNode, *signals: Signal) -> list[MatchResult]:
    """The node's real match results for ``signals``."""
    return node.matcher.match(list(signals))
