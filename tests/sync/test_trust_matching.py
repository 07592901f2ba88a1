"""The Matcher applies the operator's trust decisions on every query: acceptance policy, trust
level, compromise marks; and it counts matches of others' indicators for sightings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from node.match import MatchLists
from node.model import Compromise, PartnerPolicy, PdqThresholds, Seq, SignalType, Trust
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.provenance import ProvenanceCache
from node.sync.query import Matcher
from node.sync.refresh import ListRefresher
from node.sync.sightings import MatchCounter
from tests.support.feeds import FeedWriter, indicator, md5_signal, pdq_signal

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def counter() -> MatchCounter:
    """Sightings' counter, fed by the Matcher's record hook as the node's match tape feeds it."""
    return MatchCounter(clock=lambda: NOW)


@pytest.fixture(params=["store", "memory"])
def matcher(
    request: pytest.FixtureRequest,
    store: Store,
    pinned,
    ingestor: Ingestor,
    ngo: FeedWriter,
    lab: FeedWriter,
    counter: MatchCounter,
) -> Matcher:
    """The Matcher reading provenance from the store, and from memory as a node builds it: every
    test below changes a policy or mark after the first match, so a copy that is not kept
    current fails them."""
    ingestor.ingest(
        ngo.entry([indicator(ngo.origin, md5_signal(1), category="csam")]), pinned=pinned, via="ngo"
    )
    ingestor.ingest(
        ngo.entry([indicator(ngo.origin, pdq_signal(2), category="tvec")]), pinned=pinned, via="ngo"
    )
    ingestor.ingest(
        lab.entry([indicator(lab.origin, md5_signal(1), category="csam")]), pinned=pinned, via="lab"
    )
    lists = MatchLists()
    ListRefresher(store=store, lists=lists).load()
    names = {ngo.origin: "ngo", lab.origin: "lab"}
    if request.param == "memory":
        cache = ProvenanceCache(store=store, names=lambda: names, source_trust=dict)
        return Matcher(
            lists=lists,
            store=cache,
            thresholds=PdqThresholds(default=31),
            names=cache.names,
            self_key=lab.origin,
            record=lambda ids, others, at: counter.record(others, at=at),
            clock=lambda: NOW,  # the Matcher times each match, for the counter too
            sync=cache.sync,
        )
    return Matcher(
        lists=lists,
        store=store,
        thresholds=PdqThresholds(default=31),
        names=lambda: names,
        self_key=lab.origin,  # the lab is "us" here: its own indicators report trust OWN
        record=lambda ids, others, at: counter.record(others, at=at),
        clock=lambda: NOW,
    )


def origins(matcher: Matcher, signal) -> dict[str, tuple[Trust, int]]:  # type: ignore[no-untyped-def]
    [result] = matcher.match([signal])
    return {m.origin_name: (m.trust, m.corroboration) for m in result.matches}


def test_trust_and_corroboration_are_reported(matcher: Matcher, store: Store, ngo: FeedWriter) -> None:
    assert origins(matcher, md5_signal(1)) == {"ngo": (Trust.AUTO, 2), "lab": (Trust.OWN, 2)}
    with store.write() as tx:
        tx.set_partner_policy(ngo.origin, PartnerPolicy(trust=Trust.REVIEW))
    assert origins(matcher, md5_signal(1))["ngo"] == (Trust.REVIEW, 2)


def test_an_observed_partner_is_held_but_never_matches(
    matcher: Matcher, store: Store, ngo: FeedWriter
) -> None:
    # One meaning of "observe" everywhere (issue 13): held and counted, never matched. It used
    # to mean "matches, reported as observe" for partners and "never matched" for sources.
    with store.write() as tx:
        tx.set_partner_policy(ngo.origin, PartnerPolicy(trust=Trust.OBSERVE))
    assert origins(matcher, md5_signal(1)) == {"lab": (Trust.OWN, 1)}
    assert origins(matcher, pdq_signal(2)) == {}
    assert any(c.origin == ngo.origin for c in store.counts())  # still held and counted
    with store.write() as tx:
        tx.set_partner_policy(ngo.origin, PartnerPolicy(trust=Trust.AUTO))
    assert origins(matcher, md5_signal(1))["ngo"] == (Trust.AUTO, 2)


def test_policy_filters_categories_and_signal_types(matcher: Matcher, store: Store, ngo: FeedWriter) -> None:
    with store.write() as tx:
        tx.set_partner_policy(ngo.origin, PartnerPolicy(categories=frozenset({"tvec"})))
    assert origins(matcher, md5_signal(1)) == {"lab": (Trust.OWN, 1)}
    assert "ngo" in origins(matcher, pdq_signal(2))
    with store.write() as tx:
        tx.set_partner_policy(ngo.origin, PartnerPolicy(signal_types=frozenset({SignalType.MD5})))
    assert origins(matcher, pdq_signal(2)) == {}
    assert "ngo" in origins(matcher, md5_signal(1))


def test_a_compromise_mark_hides_entries_from_its_position_on(
    matcher: Matcher, store: Store, ngo: FeedWriter
) -> None:
    with store.write() as tx:
        tx.mark_compromised(Compromise(key_id=ngo.origin, from_seq=Seq(2), marked_at=NOW))
    assert "ngo" in origins(matcher, md5_signal(1))  # seq 1: before the mark
    assert origins(matcher, pdq_signal(2)) == {}  # seq 2: from the mark on
    with store.write() as tx:
        assert tx.clear_compromise(ngo.origin)
    assert "ngo" in origins(matcher, pdq_signal(2))


def test_matches_of_others_indicators_are_counted_once_each(  # type: ignore[no-untyped-def]
    matcher: Matcher, counter: MatchCounter, store: Store, lab
) -> None:
    for _ in range(3):
        matcher.match([md5_signal(1)])
    [count] = counter.drain()  # the lab's own indicator is not counted: it is ours
    assert count.count == 3 and count.first_seen == count.last_seen == NOW
    assert counter.drain() == []
