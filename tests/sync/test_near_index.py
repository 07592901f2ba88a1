"""Near-duplicate queries through the match lists' index answer exactly as the scan does
(issue 16): TLP and category filters, revoked, expired and quarantined rows, the distance
bound, every order, the limit and truncation."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from functools import partial

import pytest

from node.app.near_queries import near_from_lists
from node.feed import payload_digest
from node.match import MatchLists
from node.model import Distribution, Seq, Signal, SignalType, Tlp
from node.model.queries import IndicatorQuery, IndicatorStatus, QueryAnswer, SortKey
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.lookup import Lookup
from node.sync.refresh import ListRefresher
from tests.support.feeds import T0, FeedWriter, identity, indicator, pdq_signal

SELF = identity(9)
BASE = pdq_signal(1)
# ngo's rows: (bits from BASE, tlp, category, hours after T0)
NGO_ROWS = [
    (0, Tlp.GREEN, "csam", 0),
    (3, Tlp.AMBER, "csam", 1),
    (8, Tlp.GREEN, "ncii", 2),
    (15, Tlp.RED, "csam", 3),
    (15, Tlp.GREEN, "csam", 4),  # a tie on distance: ordered by id
    (20, Tlp.GREEN, "tvec", 5),
    (31, Tlp.AMBER, "csam", 6),
    (32, Tlp.GREEN, "csam", 7),  # just outside the default distance
    (50, Tlp.GREEN, "csam", 8),
]


def near(bits: int, offset: int = 0) -> Signal:
    """BASE with ``bits`` bits flipped (from bit ``offset``): exactly ``bits`` away."""
    value = int(BASE.value, 16) ^ (((1 << bits) - 1) << offset)
    return Signal(SignalType.PDQ, f"{value:064x}")


@pytest.fixture
def held(store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter) -> None:
    """ngo's rows above; a revoked one (4 bits) and an expired one (6 bits); lab's two rows
    (5 and 12 bits), lab then quarantined; unrelated rows."""
    rows = [
        replace(
            indicator(ngo.origin, near(bits, offset=n), tlp=tlp, category=category),
            created=T0 + timedelta(hours=hours),
            modified=T0 + timedelta(hours=hours),
        )
        for n, (bits, tlp, category, hours) in enumerate(NGO_ROWS)
    ]
    revoked = indicator(ngo.origin, near(4, offset=100))
    expired = replace(indicator(ngo.origin, near(6, offset=120)), valid_until=T0 + timedelta(days=1))
    unrelated = [indicator(ngo.origin, pdq_signal(100 + i)) for i in range(20)]
    to_us = Distribution(tlp=Tlp.AMBER, recipients=frozenset({SELF.key_id}))
    for tlp in (Tlp.GREEN, Tlp.AMBER, Tlp.RED):
        chosen = [r for r in rows if r.tlp is tlp]
        distribution = Distribution(tlp=Tlp.GREEN) if tlp is Tlp.GREEN else replace(to_us, tlp=tlp)
        ingestor.ingest(ngo.entry(chosen, distribution=distribution), pinned=pinned, via="ngo")
    ingestor.ingest(ngo.entry([revoked, expired, *unrelated]), pinned=pinned, via="ngo")
    gone = replace(revoked, revoked=True, modified=revoked.modified + timedelta(hours=1))
    ingestor.ingest(ngo.entry([gone]), pinned=pinned, via="ngo")
    ingestor.ingest(
        lab.entry([indicator(lab.origin, near(5, offset=140)), indicator(lab.origin, near(12, offset=160))]),
        pinned=pinned,
        via="lab",
    )
    [first] = store.entries_after(lab.origin, Seq(0), limit=1)
    with store.write() as tx:
        tx.add_evidence(
            origin=lab.origin,
            seq=first.seq,
            digest=payload_digest(first.envelope.payload),
            envelope=first.envelope,
            via="ngo",
        )


def lookups(store: Store) -> tuple[Lookup, Lookup, list[int]]:
    """The scanning lookup, and one answering from loaded lists (with a count of index answers)."""
    names = {identity(1).key_id: "ngo", identity(2).key_id: "lab"}
    lists = MatchLists()
    refresher = ListRefresher(store=store, lists=lists)
    refresher.load()
    used: list[int] = []

    def index(signal: Signal, distance: int) -> dict[str, int] | None:
        found = near_from_lists(lists, refresher, signal, distance)
        used.append(0 if found is None else 1)
        return found

    scan = Lookup(store=store, names=lambda: names, own_key=(SELF.key_id, SELF.public_key))
    indexed = Lookup(
        store=store, names=lambda: names, own_key=(SELF.key_id, SELF.public_key), near_index=index
    )
    return scan, indexed, used


def rows(answer: QueryAnswer) -> tuple[list[tuple[str, int | None, IndicatorStatus]], bool]:
    return [(r.indicator.id, r.distance, r.status) for r in answer.rows], answer.truncated


STATUSES = [
    frozenset(),
    frozenset({IndicatorStatus.ACTIVE}),
    frozenset({IndicatorStatus.REVOKED}),
    frozenset({IndicatorStatus.EXPIRED}),
    frozenset({IndicatorStatus.QUARANTINED}),
    frozenset({IndicatorStatus.ACTIVE, IndicatorStatus.REVOKED}),
]


@pytest.mark.usefixtures("held")
def test_the_index_answers_every_near_query_as_the_scan_does(store: Store) -> None:
    scan, indexed, used = lookups(store)
    seen_rows = 0
    for statuses, tlps, red, distance, sort, limit in itertools.product(
        STATUSES,
        [frozenset(), frozenset({Tlp.AMBER}), frozenset({Tlp.GREEN, Tlp.AMBER})],
        [False, True],
        [0, 31, 64],
        [SortKey.DISTANCE, SortKey.NEWEST, SortKey.CATEGORY],
        [2, 100],
    ):
        query = IndicatorQuery(
            near=BASE,
            distance=distance,
            statuses=statuses,
            tlps=tlps,
            include_red=red,
            sort=sort,
            limit=limit,
        )
        expected = rows(scan.query(query))
        assert rows(indexed.query(query)) == expected, query
        seen_rows += len(expected[0])
    assert set(used) == {1}  # every answer came from the index
    assert seen_rows > 500  # the combinations did select rows
    categories = IndicatorQuery(near=BASE, distance=64, categories=frozenset({"csam", "tvec"}))
    assert rows(indexed.query(categories)) == rows(scan.query(categories))


@pytest.mark.usefixtures("held")
def test_what_the_index_cannot_hold_is_found_where_the_statuses_allow(store: Store) -> None:
    _, indexed, _ = lookups(store)
    statuses = {r[2] for r in rows(indexed.query(IndicatorQuery(near=BASE, distance=31)))[0]}
    assert statuses == {
        IndicatorStatus.ACTIVE,
        IndicatorStatus.REVOKED,
        IndicatorStatus.EXPIRED,
        IndicatorStatus.QUARANTINED,
    }
    answer = rows(indexed.query(IndicatorQuery(near=BASE, distance=31, sort=SortKey.DISTANCE, limit=3)))
    assert [d for _, d, _ in answer[0]] == [0, 3, 4] and answer[1]  # nearest first, truncated


def test_a_row_committed_after_the_load_is_found_at_once(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    _, indexed, used = lookups(store)
    assert indexed.query(IndicatorQuery(near=BASE)).rows == ()
    ingestor.ingest(ngo.entry([indicator(ngo.origin, near(7))]), pinned=pinned, via="ngo")
    assert [r.distance for r in indexed.query(IndicatorQuery(near=BASE)).rows] == [7]  # no serve loop ran
    assert used == [1, 1]


def test_without_loaded_lists_the_lookup_scans(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter
) -> None:
    ingestor.ingest(ngo.entry([indicator(ngo.origin, near(7))]), pinned=pinned, via="ngo")
    lists = MatchLists()  # never loaded: a CLI process
    lookup = Lookup(
        store=store,
        names=dict,
        own_key=(SELF.key_id, SELF.public_key),
        near_index=partial(near_from_lists, lists, ListRefresher(store=store, lists=lists)),
    )
    assert [r.distance for r in lookup.query(IndicatorQuery(near=BASE)).rows] == [7]
