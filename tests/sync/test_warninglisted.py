"""A partner's indicator whose value a MISP warninglist names (the empty file's hashes) is
stored and counted at ingest, never refused, and never matches."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from node.match import MatchLists, builtin_warninglists
from node.model import PdqThresholds, Signal
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.query import Matcher
from node.sync.refresh import ListRefresher
from node.sync.status import warninglisted_counts
from tests.support.feeds import FeedWriter, indicator, md5_signal

EMPTY_MD5 = Signal.parse("md5:d41d8cd98f00b204e9800998ecf8427e")
EMPTY_SHA256 = Signal.parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
EMPTY = "List of known hashes for empty files"


def test_warninglisted_indicators_are_stored_counted_and_never_match(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    benign = [indicator(ngo.origin, s, category="csam") for s in (EMPTY_MD5, EMPTY_SHA256)]
    harmful = indicator(ngo.origin, md5_signal(3), category="csam")
    ingestor.ingest(ngo.entry([*benign, harmful]), pinned=pinned, via="ngo")
    assert set(store.indicators_by_id([i.id for i in benign])) == {
        i.id for i in benign
    }  # stored, not refused

    lists = MatchLists(warninglists=builtin_warninglists)
    ListRefresher(store=store, lists=lists).load()
    matcher = Matcher(lists=lists, store=store, thresholds=PdqThresholds(default=31), names=lambda: {})

    results = matcher.match([EMPTY_MD5, EMPTY_SHA256, md5_signal(3)])
    assert [len(r.matches) for r in results] == [0, 0, 1]
    assert lists.warninglisted() == {i.id: EMPTY for i in benign}
    assert warninglisted_counts(store, builtin_warninglists) == {EMPTY: 2}

    # Without the warninglists (as before), the same store matched the empty file.
    plain = MatchLists()
    ListRefresher(store=store, lists=plain).load()
    before = Matcher(lists=plain, store=store, thresholds=PdqThresholds(default=31), names=lambda: {})
    assert len(before.match([EMPTY_MD5])[0].matches) == 1


def test_a_revoked_warninglisted_indicator_is_no_longer_counted(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    listed = indicator(ngo.origin, EMPTY_MD5, category="csam")
    ingestor.ingest(ngo.entry([listed]), pinned=pinned, via="ngo")
    lists = MatchLists(warninglists=builtin_warninglists)
    refresher = ListRefresher(store=store, lists=lists)
    refresher.load()
    assert len(lists.warninglisted()) == 1
    revoked = replace(listed, modified=listed.modified + timedelta(seconds=1), revoked=True)
    ingestor.ingest(ngo.entry([revoked]), pinned=pinned, via="ngo")
    refresher.refresh()
    assert lists.warninglisted() == {}
    assert warninglisted_counts(store, builtin_warninglists) == {}
