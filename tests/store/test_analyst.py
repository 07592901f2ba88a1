"""The analyst queries' SQL: every indexed filter reads its index in order and never sorts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from node.model import ContentType, KeyId, Seq, Signal, SignalType, Tlp
from node.model.queries import IndicatorQuery, IndicatorStatus, SortKey
from node.store import Store
from node.store.analyst import StatusSets, indicators_with_value, query_sql
from tests.store.build import BOB, indicator

SETS = StatusSets(now=datetime(2026, 12, 1, tzinfo=UTC), quarantined=frozenset(), disputed=frozenset())
LAB = KeyId(BOB.key_id)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (IndicatorQuery(signal=indicator(1).signal), "indicators_value_prefix"),
        (IndicatorQuery(), "indicators_created"),
        (IndicatorQuery(categories=frozenset({"ncii"})), "indicators_category_created"),
        (
            IndicatorQuery(categories=frozenset({"ncii"}), statuses=frozenset({IndicatorStatus.ACTIVE})),
            "indicators_category_created",
        ),
        (IndicatorQuery(origins=frozenset({LAB}), since=SETS.now), "indicators_origin_created"),
        (IndicatorQuery(tlps=frozenset({Tlp.AMBER})), "indicators_tlp_created"),
        (IndicatorQuery(since=SETS.now, sort=SortKey.OLDEST), "indicators_created"),
        (IndicatorQuery(content_types=frozenset({ContentType.IMAGE})), "indicators_created"),
    ],
)
def test_indexed_filters_use_their_index_without_sorting(
    store: Store, query: IndicatorQuery, index: str
) -> None:
    sql, params = query_sql(query, SETS)
    plan = " | ".join(row[-1] for row in store.reader.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert index in plan
    if query.signal is None:  # the rows of one signal value are few: sorting them is free
        assert "TEMP B-TREE" not in plan, plan


def test_counting_matches_adds_per_day(store: Store) -> None:
    with store.write() as tx:
        tx.count_matches(["indicator--a", "indicator--a", "indicator--b"], at="2026-12-01T10:00:00.000Z")
        tx.count_matches(["indicator--a"], at="2026-12-02T10:00:00.000Z")
    rows = store.reader.execute("SELECT indicator_id, day, count FROM match_log ORDER BY 1, 2").fetchall()
    assert rows == [
        ("indicator--a", "2026-12-01", 2),
        ("indicator--a", "2026-12-02", 1),
        ("indicator--b", "2026-12-01", 1),
    ]


def test_value_lookup_is_exact_among_values_sharing_the_indexed_prefix(store: Store) -> None:
    wanted = indicator(1)
    prefix = wanted.signal.value[:12]
    twin = indicator(2, signal=Signal(SignalType.MD5, prefix + "f" * 20))
    other_type = indicator(3, signal=Signal(SignalType.SHA1, wanted.signal.value + "0" * 8))
    with store.write() as tx:
        tx.upsert_indicators([wanted, twin, other_type], entry_seq=Seq(1))

    assert [i.id for i in store.indicators_with_signal(wanted.signal)] == [wanted.id]
    assert [i.id for i in indicators_with_value(store, "md5", wanted.signal.value)] == [wanted.id]
    sql, params = query_sql(IndicatorQuery(signal=twin.signal), SETS)
    assert [row[0] for row in store.reader.execute(sql, params)] == [twin.id]
