"""Two real nodes on loopback: an NGO that publishes and a platform that matches and reviews."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from node.model import ContentType, Distribution, KeyId, MatchResult, Signal, Tlp
from node.model.review import ContentRef, ReviewItem
from node.sync.publish import Contribution
from tests.support.feeds import pdq_signal
from tests.support.nodes import LiveNode


@dataclass(slots=True)
class Pair:
    """The NGO (origin) and the platform (reviewer), each serving its feed to the other."""

    ngo: LiveNode
    platform: LiveNode

    def sync(self) -> None:
        """The platform pulls the NGO, then the NGO pulls the platform (opinions reach it)."""
        self.platform.node.sync("ngo")
        self.platform.node.refresher.refresh()
        self.ngo.node.sync("platform")

    def match(self, seed: int, j: int = 0) -> list[MatchResult]:
        return self.platform.node.matcher.match([signal_of(seed, j)])

    def submit(self, content: str, seed: int, j: int = 0, reasons: tuple[str, ...] = ()) -> ReviewItem | None:
        return self.platform.node.submit_for_review(ContentRef(content), self.match(seed, j), reasons)


def signal_of(seed: int, j: int = 0) -> Signal:
    """The j-th signal LiveNode.publish(seed) published."""
    return pdq_signal(1000 * seed + j)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    ngo = LiveNode.start(tmp_path / "ngo", "ngo")
    platform = LiveNode.start(tmp_path / "platform", "platform")
    platform.pin(ngo, "ngo", endpoint=ngo.address)
    ngo.pin(platform, "platform", endpoint=platform.address)
    platform.node.set_partner_policy(
        "ngo", categories=None, signal_types=None, trust_level="review", share_sightings=None
    )
    ngo.publish(1, n=3, tlp=Tlp.GREEN)
    ngo.publish(2, n=2, tlp=Tlp.AMBER, to=frozenset({KeyId(platform.node.key_id)}))
    platform.node.load_lists()
    pair = Pair(ngo=ngo, platform=platform)
    pair.sync()
    yield pair
    platform.stop()
    ngo.stop()


def publish_category(node: LiveNode, seed: int, category: str, *, n: int = 1) -> None:
    """One GREEN entry of ``n`` PDQ indicators of ``category`` (signals as signal_of(seed, j))."""
    items = [Contribution(pdq_signal(1000 * seed + j), ContentType.IMAGE, 100) for j in range(n)]
    node.node.publisher.contribute(items, category=category, distribution=Distribution(tlp=Tlp.GREEN))


def set_trust(node: LiveNode, partner: str, level: str) -> None:
    node.node.set_partner_policy(
        partner, categories=None, signal_types=None, trust_level=level, share_sightings=None
    )


def configure(node: LiveNode, section: str, **values: object) -> None:
    """Override keys of one config section of an open node."""
    config = node.node.config
    node.node.config = replace(config, **{section: replace(getattr(config, section), **values)})
