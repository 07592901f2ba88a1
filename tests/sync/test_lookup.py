"""Analyst queries and provenance over a real store fed by two origins' signed entries."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta

import pytest

from node.errors import InvalidInput, NotFound
from node.model import ContentType, Distribution, Signal, SignalType, Tlp
from node.model.queries import IndicatorQuery, IndicatorStatus, SortKey
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.lookup import Lookup
from tests.support.feeds import T0, FeedWriter, identity, indicator, md5_signal, pdq_signal

SELF = identity(9)


def flip_bits(signal: Signal, bits: int) -> Signal:
    """``signal`` with its lowest ``bits`` bits flipped: exactly ``bits`` away."""
    value = int(signal.value, 16) ^ ((1 << bits) - 1)
    return Signal(SignalType.PDQ, f"{value:064x}")


@pytest.fixture
def lookup(store: Store) -> Lookup:
    return Lookup(
        store=store,
        names=lambda: {identity(1).key_id: "ngo", identity(2).key_id: "lab"},
        own_key=(SELF.key_id, SELF.public_key),
    )


@pytest.fixture
def held(store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter) -> dict[str, list[str]]:
    """ngo: 10 csam pdq (one hour apart) + 5 ncii md5; lab: 4 tvec md5 (amber), 1 red, 1 expired."""
    ngo_pdq = [
        replace(
            indicator(ngo.origin, pdq_signal(i)),
            created=T0 + timedelta(hours=i),
            modified=T0 + timedelta(hours=i),
        )
        for i in range(10)
    ]
    ngo_md5 = [indicator(ngo.origin, md5_signal(i), category="ncii") for i in range(5)]
    to_us = Distribution(tlp=Tlp.AMBER, recipients=frozenset({SELF.key_id}))
    lab_amber = [indicator(lab.origin, md5_signal(100 + i), category="tvec", tlp=Tlp.AMBER) for i in range(4)]
    lab_red = [indicator(lab.origin, md5_signal(200), category="tvec", tlp=Tlp.RED)]
    expired = [
        replace(indicator(lab.origin, md5_signal(300), category="tvec"), valid_until=T0 + timedelta(days=1))
    ]
    ingestor.ingest(ngo.entry(ngo_pdq), pinned=pinned, via="ngo")
    ingestor.ingest(ngo.entry(ngo_md5), pinned=pinned, via="hub")
    ingestor.ingest(lab.entry(lab_amber, distribution=to_us), pinned=pinned, via="lab")
    red = Distribution(tlp=Tlp.RED, recipients=frozenset({SELF.key_id}))
    ingestor.ingest(lab.entry(lab_red, distribution=red), pinned=pinned, via="lab")
    ingestor.ingest(lab.entry(expired), pinned=pinned, via="lab")
    return {
        "pdq": [i.id for i in ngo_pdq],
        "ncii": [i.id for i in ngo_md5],
        "amber": [i.id for i in lab_amber],
        "red": [i.id for i in lab_red],
        "expired": [i.id for i in expired],
    }


def ids(lookup: Lookup, **filters: object) -> set[str]:
    return {r.indicator.id for r in lookup.query(IndicatorQuery(limit=1000, **filters)).rows}  # type: ignore[arg-type]


def test_each_filter_selects_exactly_what_was_held(
    lookup: Lookup, held, ngo: FeedWriter, lab: FeedWriter
) -> None:
    everything = set(held["pdq"] + held["ncii"] + held["amber"] + held["expired"])
    assert ids(lookup) == everything  # no RED unless asked
    assert ids(lookup, categories=frozenset({"ncii"})) == set(held["ncii"])
    assert ids(lookup, origins=frozenset({lab.origin})) == set(held["amber"] + held["expired"])
    assert ids(lookup, tlps=frozenset({Tlp.AMBER})) == set(held["amber"])
    assert ids(lookup, content_types=frozenset({ContentType.IMAGE})) == set(held["pdq"])
    assert ids(lookup, signal=md5_signal(3)) == {held["ncii"][3]}
    assert ids(lookup, signal=md5_signal(999)) == set()
    window = {"since": T0 + timedelta(hours=2), "until": T0 + timedelta(hours=5)}
    assert ids(lookup, **window) == set(held["pdq"][2:5])


def test_red_appears_only_when_asked_for(lookup: Lookup, held) -> None:
    assert not set(held["red"]) & ids(lookup)
    assert ids(lookup, include_red=True, tlps=frozenset({Tlp.RED})) == set(held["red"])
    with pytest.raises(InvalidInput, match="include-red"):
        IndicatorQuery(tlps=frozenset({Tlp.RED}))


def test_statuses(lookup: Lookup, store: Store, held, ngo: FeedWriter, pinned, ingestor: Ingestor) -> None:
    assert ids(lookup, statuses=frozenset({IndicatorStatus.EXPIRED})) == set(held["expired"])
    revoked = replace(
        indicator(ngo.origin, md5_signal(0), category="ncii", indicator_id=held["ncii"][0]),
        modified=T0 + timedelta(days=2),
        revoked=True,
    )
    ingestor.ingest(ngo.entry([revoked]), pinned=pinned, via="ngo")
    assert ids(lookup, statuses=frozenset({IndicatorStatus.REVOKED})) == {held["ncii"][0]}
    active = ids(lookup, statuses=frozenset({IndicatorStatus.ACTIVE}))
    assert held["ncii"][0] not in active and held["expired"][0] not in active
    assert ids(lookup, statuses=frozenset({IndicatorStatus.DISPUTED})) == set()  # no Opinions held yet
    # Evidence of equivocation quarantines every (unrevoked) indicator of that origin.
    with store.write() as tx:
        tx.add_evidence(
            origin=ngo.origin,
            seq=1,
            digest="sha256:" + "0" * 64,
            envelope=ngo.entry([], advance=False).header,
            via="x",
        )  # type: ignore[arg-type]
    quarantined = ids(lookup, statuses=frozenset({IndicatorStatus.QUARANTINED}))
    assert quarantined == set(held["pdq"] + held["ncii"][1:])
    assert not quarantined & ids(lookup, statuses=frozenset({IndicatorStatus.ACTIVE}))


def test_disputes_plug_in_as_a_status(store: Store, held) -> None:
    disputed = held["amber"][1]
    lookup = Lookup(
        store=store,
        names=dict,
        own_key=(SELF.key_id, SELF.public_key),
        disputes=lambda: frozenset({disputed}),
    )
    assert ids(lookup, statuses=frozenset({IndicatorStatus.DISPUTED})) == {disputed}
    assert disputed not in ids(lookup, statuses=frozenset({IndicatorStatus.ACTIVE}))


def test_near_search_is_exact_within_the_distance(lookup: Lookup, held) -> None:
    target = flip_bits(pdq_signal(4), 7)
    answer = lookup.query(IndicatorQuery(near=target, distance=7, sort=SortKey.DISTANCE))
    assert [(r.indicator.id, r.distance) for r in answer.rows] == [(held["pdq"][4], 7)]
    assert lookup.query(IndicatorQuery(near=target, distance=6)).rows == ()
    # Unrelated PDQs are ~128 bits apart: a wide search finds them all, nearest first.
    wide = lookup.query(IndicatorQuery(near=target, distance=64, sort=SortKey.DISTANCE, limit=1000)).rows
    distances = [r.distance for r in wide]
    assert distances == sorted(distances) and distances[0] == 7


def test_sort_and_limit(lookup: Lookup, held) -> None:
    newest = lookup.query(IndicatorQuery(categories=frozenset({"csam"}), limit=3))
    assert [r.indicator.id for r in newest.rows] == held["pdq"][9:6:-1]
    assert newest.truncated
    oldest = lookup.query(IndicatorQuery(categories=frozenset({"csam"}), sort=SortKey.OLDEST, limit=10))
    assert [r.indicator.id for r in oldest.rows] == held["pdq"] and not oldest.truncated


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"near": md5_signal(1)}, "pdq"),
        ({"signal": md5_signal(1), "near": pdq_signal(1)}, "not both"),
        ({"near": pdq_signal(1), "distance": 65}, "distance"),
        ({"limit": 0}, "limit"),
        ({"sort": SortKey.DISTANCE}, "near"),
        ({"since": T0, "until": T0}, "later"),
    ],
)
def test_bad_queries_say_why(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        IndicatorQuery(**fields)  # type: ignore[arg-type]


def test_show_lists_every_version_with_its_entry_and_reverifies(
    lookup: Lookup, store: Store, held, ngo: FeedWriter, pinned, ingestor: Ingestor
) -> None:
    first_id = held["ncii"][2]
    relabelled = replace(
        indicator(ngo.origin, md5_signal(2), category="csem", indicator_id=first_id),
        modified=T0 + timedelta(days=1),
    )
    ingestor.ingest(ngo.entry([relabelled]), pinned=pinned, via="lab")
    [item] = lookup.show(str(md5_signal(2)), include_red=False)
    assert item.row.indicator.category == "csem"
    assert [(v.seq, v.via, v.verification) for v in item.versions] == [(2, "hub", "ok"), (3, "lab", "ok")]
    assert [v.indicator.category for v in item.versions if v.indicator] == ["ncii", "csem"]
    assert item.matches is None
    store.record_matches([first_id, first_id])
    assert lookup.show(first_id, include_red=False)[0].matches.count == 2  # type: ignore[union-attr]


def test_show_reports_a_stored_envelope_that_no_longer_verifies(
    lookup: Lookup, store: Store, held, tmp_path
) -> None:
    target = held["ncii"][1]
    raw = sqlite3.connect(store.path)
    body = raw.execute(
        "SELECT body FROM entries WHERE seq = 2 AND instr(body, ?) > 0", (target.encode(),)
    ).fetchone()[0]
    tampered = bytes(body).replace(b'"ncii"', b'"tvec"', 1)  # the body no longer matches its header
    raw.execute(
        "UPDATE entries SET body = ? WHERE seq = 2 AND instr(body, ?) > 0", (tampered, target.encode())
    )
    raw.commit()
    raw.close()
    [item] = lookup.show(target, include_red=False)
    [version] = item.versions
    assert version.verification.startswith("FAILED") and version.indicator is None


def test_show_of_red_or_unknown_is_not_found(lookup: Lookup, held) -> None:
    with pytest.raises(NotFound):
        lookup.show(held["red"][0], include_red=False)
    assert lookup.show(held["red"][0], include_red=True)[0].row.indicator.tlp is Tlp.RED
    with pytest.raises(NotFound):
        lookup.show(str(md5_signal(12345)), include_red=True)
    with pytest.raises(InvalidInput):
        lookup.show("not-a-signal", include_red=False)


def test_show_says_when_the_origin_is_no_longer_pinned(store: Store, held, lab: FeedWriter) -> None:
    with store.write() as tx:
        tx.remove_partner("lab")
    lookup = Lookup(store=store, names=dict, own_key=(SELF.key_id, SELF.public_key))
    [item] = lookup.show(held["amber"][0], include_red=False)
    assert item.versions[0].verification.startswith("cannot verify")
