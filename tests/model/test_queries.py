"""Query values: status precedence and period bounds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from node.errors import InvalidInput
from node.model.queries import IndicatorStatus, SortKey, parse_time_bound, status_of
from tests.support.feeds import T0, identity, indicator, md5_signal

ORIGIN = identity(1).key_id
NOW = T0 + timedelta(days=10)


def status(**changes: object) -> IndicatorStatus:
    base = replace(indicator(ORIGIN, md5_signal(1)), **changes)  # type: ignore[arg-type]
    disputed = frozenset({base.id}) if base.category == "ncii" else frozenset()  # "ncii" marks disputed here
    return status_of(base, now=NOW, quarantined=frozenset(), disputed=disputed)


def test_status_precedence() -> None:
    assert status() is IndicatorStatus.ACTIVE
    assert status(category="ncii") is IndicatorStatus.DISPUTED
    assert status(category="ncii", valid_until=T0 + timedelta(days=1)) is IndicatorStatus.EXPIRED
    assert status(valid_until=NOW + timedelta(days=1)) is IndicatorStatus.ACTIVE
    assert status(revoked=True, valid_until=T0 + timedelta(days=1)) is IndicatorStatus.REVOKED
    ind = indicator(ORIGIN, md5_signal(1), revoked=False)
    assert (
        status_of(ind, now=NOW, quarantined=frozenset({ORIGIN}), disputed=frozenset())
        is IndicatorStatus.QUARANTINED
    )


def test_time_bounds() -> None:
    assert parse_time_bound("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_time_bound("2026-11-30T12:00:00Z") == datetime(2026, 11, 30, 12, tzinfo=UTC)
    for bad in ("yesterday", "2026-11-30T12:00:00", "2026-13-01"):
        with pytest.raises(InvalidInput):
            parse_time_bound(bad)


def test_names_parse() -> None:
    assert IndicatorStatus.parse("Revoked") is IndicatorStatus.REVOKED
    assert SortKey.parse("-created") is SortKey.NEWEST
    with pytest.raises(InvalidInput, match="active"):
        IndicatorStatus.parse("gone")
