"""The frozen lists a Dask scan's workers load (node.app.scan_dask, issue 16) match exactly as
the node's own Matcher over the store: TLP, trust, acceptance policy, compromise marks,
opinions, thresholds, the safelist and warninglisted values alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from node.app.scan_snapshot import LISTS, SnapshotSource, load_matcher, snapshot_digest, write_snapshot
from node.errors import ConfigError
from node.match import ListUpdate, MatchLists, builtin_warninglists
from node.model import (
    Compromise,
    OpinionValue,
    PartnerPolicy,
    PdqThresholds,
    Seq,
    Signal,
    SignalType,
    Tlp,
    Trust,
    VideoThresholds,
)
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.query import Matcher
from node.sync.refresh import ListRefresher
from tests.support.feeds import FeedWriter, indicator, md5_signal, pdq_signal
from tests.sync.test_opinions_ingest import opinion_entry, opinion_of

EMPTY_FILE_MD5 = Signal(SignalType.MD5, "d41d8cd98f00b204e9800998ecf8427e")  # on a MISP warninglist


def _near(signal: Signal, bits: int) -> Signal:
    value = int(signal.value, 16) ^ ((1 << bits) - 1)
    return Signal(SignalType.PDQ, f"{value:064x}")


@pytest.fixture
def source(store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter) -> SnapshotSource:
    listed = indicator(ngo.origin, md5_signal(1), category="csam", tlp=Tlp.CLEAR)
    ingestor.ingest(ngo.entry([listed]), pinned=pinned, via="ngo")
    ingestor.ingest(
        ngo.entry(
            [
                indicator(ngo.origin, pdq_signal(2), category="tvec"),
                indicator(ngo.origin, md5_signal(3), category="ncii"),  # refused by the policy below
                indicator(ngo.origin, md5_signal(5), category="csam"),  # on the operator's safelist
                indicator(ngo.origin, EMPTY_FILE_MD5, category="csam"),  # warninglisted: never indexed
            ]
        ),
        pinned=pinned,
        via="ngo",
    )
    ingestor.ingest(
        lab.entry([indicator(lab.origin, md5_signal(1), category="csam")]), pinned=pinned, via="lab"
    )
    ingestor.ingest(
        opinion_entry(lab, opinion_of(lab, listed.id, OpinionValue.AGREE, at=1)), pinned=pinned, via="lab"
    )
    ingestor.ingest(
        lab.entry([indicator(lab.origin, md5_signal(4), category="csam")]), pinned=pinned, via="lab"
    )
    with store.write() as tx:
        tx.set_partner_policy(
            ngo.origin, PartnerPolicy(categories=frozenset({"csam", "tvec"}), trust=Trust.REVIEW)
        )
        tx.mark_compromised(Compromise(lab.origin, Seq(3), datetime(2026, 12, 1, tzinfo=UTC)))
    lists = MatchLists(warninglists=builtin_warninglists)
    ListRefresher(store=store, lists=lists).load()
    return SnapshotSource(
        lists=lists,
        store=store,
        names={ngo.origin: "ngo", lab.origin: "lab"},
        source_trust={},
        thresholds=PdqThresholds(default=31, by_category={"tvec": 8}),
        video=VideoThresholds(),
        safelist=[("safelist:1", md5_signal(5))],
        safelist_threshold=31,
        self_key=ngo.origin,
    )


def _node_matcher(source: SnapshotSource) -> Matcher:
    safelist = MatchLists()
    safelist.apply(ListUpdate(n, s, active=True) for n, s in source.safelist)
    return Matcher(
        lists=source.lists,
        store=source.store,
        thresholds=source.thresholds,
        names=lambda: source.names,
        video=source.video,
        safelist=safelist,
        safelist_threshold=source.safelist_threshold,
        self_key=source.self_key,
    )


def test_the_frozen_matcher_answers_as_the_nodes_own(
    source: SnapshotSource, store: Store, tmp_path: Path
) -> None:
    queries = [
        md5_signal(1),  # two origins, an opinion, CLEAR and GREEN, OWN and REVIEW
        pdq_signal(2),
        _near(pdq_signal(2), 6),  # within tvec's threshold of 8
        _near(pdq_signal(2), 12),  # beyond it: no match although within the default 31
        md5_signal(3),  # the policy refuses ncii
        md5_signal(4),  # from the compromised range of the lab's feed
        md5_signal(5),  # safelisted: suppressed
        EMPTY_FILE_MD5,
        md5_signal(99),
    ]
    expected = _node_matcher(source).match(queries)
    directory = tmp_path / "snapshot"
    digest = write_snapshot(directory, source, cursor=store.last_change_id())
    frozen = load_matcher(directory)
    assert frozen.match(queries) == expected
    assert digest == snapshot_digest(directory)
    # Not a vacuous equality: each rule decided something.
    by_query = {str(r.query): r for r in expected}
    first = {m.origin_name: (m.trust, m.tlp, m.agreed) for m in by_query[str(md5_signal(1))].matches}
    assert first == {"ngo": (Trust.OWN, Tlp.CLEAR, 1), "lab": (Trust.AUTO, Tlp.GREEN, 0)}
    assert [len(by_query[str(q)].matches) for q in queries[1:]] == [1, 1, 0, 0, 0, 0, 0, 0]
    assert by_query[str(md5_signal(5))].safelisted
    assert EMPTY_FILE_MD5.value not in (directory / LISTS).read_text()


def test_a_damaged_or_foreign_snapshot_is_refused(
    source: SnapshotSource, store: Store, tmp_path: Path
) -> None:
    directory = tmp_path / "snapshot"
    write_snapshot(directory, source, cursor=store.last_change_id())
    document = json.loads((directory / LISTS).read_text())
    (directory / LISTS).write_text(json.dumps({**document, "version": 99}))
    with pytest.raises(ConfigError, match="not an Accord scan snapshot"):
        load_matcher(directory)
    (directory / LISTS).write_text(json.dumps({**document, "indicators": [["not", "an", "indicator"]]}))
    with pytest.raises(ConfigError, match="malformed"):
        load_matcher(directory)
    (directory / LISTS).write_text("{")
    with pytest.raises(ConfigError, match="cannot read the scan snapshot"):
        load_matcher(directory)
