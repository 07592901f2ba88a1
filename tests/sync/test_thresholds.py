"""Per-partner and per-category PDQ thresholds: policy applied to each hit (issue 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import LimitsSection, load_config
from node.errors import ConfigError
from node.match import ListUpdate, MatchLists
from node.model import PdqThresholds, Signal, SignalType
from node.store import Store
from node.sync.ingest import Ingestor
from tests.support.feeds import FeedWriter, identity, indicator, pdq_signal


def flipped(signal: Signal, bits: int) -> Signal:
    raw = bytearray(signal.pdq_bytes())
    for bit in range(bits):
        raw[bit // 8] ^= 0x80 >> (bit % 8)
    return Signal(SignalType.PDQ, bytes(raw).hex())


def test_limits_take_the_stricter_override() -> None:
    policy = PdqThresholds(default=31, by_category={"ncii": 20}, by_partner={"hub": 40, "lab": 10})
    assert policy.widest == 40
    assert policy.limit_for(partner="ngo", category="csam") == 31
    assert policy.limit_for(partner="ngo", category="ncii") == 20
    assert policy.limit_for(partner="hub", category="csam") == 40
    assert policy.limit_for(partner="hub", category="ncii") == 20
    assert policy.limit_for(partner="lab", category="ncii") == 10


@pytest.mark.parametrize(
    ("distance", "expected"),
    [
        (10, {"csam-ngo", "ncii-ngo", "csam-hub"}),
        (25, {"csam-ngo", "csam-hub"}),
        (35, {"csam-hub"}),
        (45, set()),
    ],
)
def test_the_matcher_applies_each_hits_own_threshold(
    tmp_path: Path, distance: int, expected: set[str]
) -> None:
    from node.sync.query import Matcher

    store = Store(tmp_path / "db")
    ngo, hub = FeedWriter(identity(1), name="ngo"), FeedWriter(identity(2), name="hub")
    from node.model import Partner

    with store.write() as tx:
        tx.add_partner(Partner(name="ngo", key_id=ngo.origin, public_key=ngo.signer.public_key))
        tx.add_partner(Partner(name="hub", key_id=hub.origin, public_key=hub.signer.public_key))
    base = pdq_signal(1)
    labels: dict[str, str] = {}
    ingestor = Ingestor(store=store, limits=LimitsSection())
    for writer, category in ((ngo, "csam"), (ngo, "ncii"), (hub, "csam")):
        ind = indicator(writer.origin, base, category=category)
        labels[ind.id] = f"{category}-{writer.name}"
        ingestor.ingest(FeedWriter.entry(writer, [ind]), pinned=store.pinned_keys(), via=writer.name)
    lists = MatchLists()
    lists.apply([ListUpdate(i, base, True) for i in labels])
    names = {p.key_id: p.name for p in store.partners()}
    policy = PdqThresholds(default=31, by_category={"ncii": 20}, by_partner={"hub": 40})
    matcher = Matcher(lists=lists, store=store, thresholds=policy, names=lambda: names)

    [result] = matcher.match([flipped(base, distance)])
    assert {labels[m.indicator_id] for m in result.matches} == expected
    store.close()


def test_thresholds_come_from_the_config_file_and_environment(tmp_path: Path) -> None:
    (tmp_path / "accord.toml").write_text(
        '[match]\ncategory_thresholds = { ncii = 24 }\npartner_thresholds = { "hub.eu" = 40 }\n'
    )
    config = load_config(tmp_path, env={"ACCORD_MATCH_CATEGORY_THRESHOLDS": "csam=30, ncii=20"})
    assert config.match.category_thresholds == {"csam": 30, "ncii": 20}
    assert config.match.partner_thresholds == {"hub.eu": 40}


@pytest.mark.parametrize(
    "text",
    [
        "category_thresholds = { ncii = 200 }",
        'category_thresholds = { ncii = "x" }',
        "partner_thresholds = 5",
        "category_thresholds = { ncii = true }",
    ],
)
def test_bad_thresholds_are_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "accord.toml").write_text(f"[match]\n{text}\n")
    with pytest.raises(ConfigError):
        load_config(tmp_path, env={})
