"""The initial list load (``ListRefresher.load``): PDQ rows are read as columns in stretches of
the change stream (``Store.pdq_stretch_since``); what ends up listed must be exactly the active
indicators, across stretch boundaries, whatever their type."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from node.feed import sign_head
from node.match import MatchLists
from node.model import Digest, Head, Seq
from node.sync import refresh
from node.sync.heads import check_heads
from node.sync.refresh import ListRefresher
from tests.support.feeds import T0, FeedWriter, identity, indicator, md5_signal, pdq_signal, vpdq_signal


@pytest.mark.parametrize("stretch", [1, 2, 3, 50_000])
def test_exactly_the_active_indicators_are_listed_across_stretches(
    store, pinned, ingestor, ngo: FeedWriter, lab: FeedWriter, monkeypatch, stretch: int
) -> None:
    monkeypatch.setattr(refresh, "_BATCH", stretch)
    held = {n: indicator(ngo.origin, pdq_signal(n)) for n in range(1, 7)}
    md5s = [indicator(ngo.origin, md5_signal(n)) for n in (1, 2)]
    video = indicator(ngo.origin, vpdq_signal(1))
    ingestor.ingest(ngo.entry([*held.values(), *md5s, video]), pinned=pinned, via="ngo")
    later = T0 + timedelta(hours=1)
    revoked = [replace(held[2], revoked=True, modified=later), replace(md5s[1], revoked=True, modified=later)]
    ingestor.ingest(ngo.entry(revoked), pinned=pinned, via="ngo")
    ingestor.ingest(ngo.entry([indicator(ngo.origin, pdq_signal(7))]), pinned=pinned, via="ngo")
    # The lab equivocates (a second head for its seq 1): its indicators are inactive.
    ingestor.ingest(lab.entry([indicator(lab.origin, pdq_signal(8))]), pinned=pinned, via="lab")
    forked = Head(origin=lab.origin, seq=Seq(1), digest=Digest("sha256:" + "cd" * 32))
    other = sign_head(forked, lab.signer, now=T0)
    check_heads(store, [other], peer="hub", pinned=pinned, self_key=identity(9).key_id)
    assert store.quarantined_origins() == {lab.origin}

    lists = MatchLists()
    assert ListRefresher(store=store, lists=lists).load() == 8  # pdq 1, 3-7; one md5; the video

    listed = {n for n in range(1, 9) if lists.query(pdq_signal(n), pdq_threshold=0)}
    assert listed == {1, 3, 4, 5, 6, 7}
    hits = lists.query(pdq_signal(4), pdq_threshold=0)
    assert [h.indicator_id for h in hits] == [held[4].id]  # each hash under its own id
    assert lists.query(md5_signal(1), pdq_threshold=0) and not lists.query(md5_signal(2), pdq_threshold=0)
    assert lists.query(vpdq_signal(1), pdq_threshold=0)


def test_an_empty_store_loads_nothing(store) -> None:
    lists = MatchLists()
    assert ListRefresher(store=store, lists=lists).load() == 0
    assert store.pdq_stretch_since(0, limit=10, pdq="pdq") is None
