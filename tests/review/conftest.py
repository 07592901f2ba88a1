"""Two real nodes on loopback: an NGO that publishes and a platform that matches and reviews."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.model import KeyId, MatchResult, Signal, Tlp
from node.model.review import ContentRef, ReviewItem
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
