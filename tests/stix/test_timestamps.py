"""STIX timestamps: millisecond UTC on write, exact round trip, strict refusal on read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given

from node.errors import InvalidInput, MalformedStix
from node.stix import format_timestamp, parse_timestamp
from tests.stix.samples import ms_datetimes


def test_format_writes_milliseconds_in_utc() -> None:
    dt = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert format_timestamp(dt) == "2025-01-02T03:04:05.678Z"


def test_format_truncates_rather_than_rounds() -> None:
    # Rounding 999.9 ms up would move the time into the next second (and day, and year).
    dt = datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert format_timestamp(dt) == "2025-12-31T23:59:59.999Z"


def test_format_converts_other_offsets_to_utc() -> None:
    dt = datetime(2025, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(dt) == "2025-01-02T03:04:05.000Z"


def test_format_refuses_naive_datetimes() -> None:
    with pytest.raises(InvalidInput):
        format_timestamp(datetime(2025, 1, 2, 3, 4, 5))


@given(ms_datetimes)
def test_round_trip_is_exact_for_millisecond_datetimes(dt: datetime) -> None:
    parsed = parse_timestamp(format_timestamp(dt))
    assert parsed == dt
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-02T03:04:05Z", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2025-01-02T03:04:05.6Z", datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)),
        ("2025-01-02T03:04:05.123456Z", datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ],
)
def test_parse_accepts_the_precisions_the_stix2_library_writes(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-02T03:04:05.678",  # no zone
        "2025-01-02T03:04:05.678+00:00",  # STIX writes Z only
        "2025-01-02 03:04:05.678Z",
        "2025-01-02T03:04:05.1234567Z",  # finer than a datetime holds: would be silently cut
        "2025-02-30T03:04:05.678Z",  # no such day
        "2025-01-02T24:00:00.000Z",
        "2016-12-31T23:59:60.000Z",  # leap seconds cannot be represented
        "2025-01-02T03:04:05.678Z ",
        "２０２５-01-02T03:04:05.678Z",  # non-ASCII digits
        "",
    ],
)
def test_parse_refuses_other_forms(text: str) -> None:
    with pytest.raises(MalformedStix):
        parse_timestamp(text)


@pytest.mark.parametrize("value", [None, 1735787045, ["2025-01-02T03:04:05.678Z"]])
def test_parse_refuses_non_strings(value: object) -> None:
    with pytest.raises(MalformedStix):
        parse_timestamp(value)  # type: ignore[arg-type]
