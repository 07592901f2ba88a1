"""Time: UTC, milliseconds, RFC 3339 with Z; format and parse are exact inverses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import InvalidInput
from node.model.clock import format_timestamp, parse_timestamp, truncate_ms, utc_now


def test_format() -> None:
    assert format_timestamp(datetime(2026, 1, 31, 12, 0, 5, 7000, tzinfo=UTC)) == "2026-01-31T12:00:05.007Z"


def test_format_truncates_rather_than_rounds() -> None:
    moment = datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert format_timestamp(moment) == "2025-12-31T23:59:59.999Z"


def test_format_converts_to_utc() -> None:
    moment = datetime(2025, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2024-12-31T23:30:00.000Z"


def test_format_refuses_naive_datetimes() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        format_timestamp(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00.5Z", datetime(2026, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-01-31T12:00:00.123Z", datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2026-01-31T12:00:00.123999999Z", datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2024-02-29T00:00:00.000Z", datetime(2024, 2, 29, tzinfo=UTC)),
    ],
)
def test_parse(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-01-31",
        "2026-01-31 12:00:00Z",
        "2026-01-31T12:00:00",
        "2026-01-31T12:00:00+00:00",
        "2026-01-31T12:00:00.Z",
        "2026-01-31T12:00:00.1234567890Z",
        "2026-01-31t12:00:00Z",
        "2026-01-31T12:00:00z",
        " 2026-01-31T12:00:00Z",
        "2026-1-31T12:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-01-31T24:00:00Z",
        "2026-01-31T12:60:00Z",
        "2026-01-31T23:59:60Z",
    ],
)
def test_parse_refuses_other_forms(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_timestamp(text)


@pytest.mark.parametrize("value", [None, 1700000000, b"2026-01-31T12:00:00Z"])
def test_parse_refuses_non_text(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_timestamp(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["٢٠٢٥-01-01T00:00:00.000Z", "2025-01-01T00:00:00.１２３Z"])
def test_parse_refuses_non_ascii_digits(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_timestamp(text)


def test_years_before_1000_are_zero_padded() -> None:
    moment = datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_timestamp(moment) == "0999-01-02T03:04:05.000Z"
    assert parse_timestamp(format_timestamp(moment)) == moment


ms_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.just(UTC),
).map(truncate_ms)


@settings(max_examples=200, deadline=None)
@given(ms_datetimes)
def test_round_trip_is_exact(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert len(text) == 24
    assert parse_timestamp(text) == moment
    assert format_timestamp(parse_timestamp(text)) == text


@settings(max_examples=100, deadline=None)
@given(ms_datetimes, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_round_trip_from_other_offsets_keeps_the_instant(moment: datetime, minutes: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=minutes)))
    assert parse_timestamp(format_timestamp(local)) == moment


@settings(max_examples=100, deadline=None)
@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1)))
def test_truncate_ms_drops_only_the_sub_millisecond_part(moment: datetime) -> None:
    truncated = truncate_ms(moment)
    assert truncated.microsecond % 1000 == 0
    assert timedelta(0) <= moment - truncated < timedelta(milliseconds=1)


def test_utc_now_is_aware_and_truncated() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    now = utc_now()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0
    assert before <= now <= datetime.now(UTC)


# --- the fast paths agree with the previous implementation ---------------------------------------

_REFERENCE_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")


def reference_format(moment: datetime) -> str:
    """The previous format_timestamp: by hand, after converting to UTC and truncating."""
    m = truncate_ms(moment.astimezone(UTC))
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


def reference_parse(text: str) -> datetime | None:
    """The previous parse_timestamp: strptime and the fraction by hand; None when refused."""
    if not _REFERENCE_STAMP.fullmatch(text):
        return None
    head, _, fraction = text[:-1].partition(".")
    try:
        moment = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    millis = int((fraction + "000")[:3]) if fraction else 0
    return moment.replace(microsecond=millis * 1000)


@settings(max_examples=500, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_format_agrees_with_the_reference(naive: datetime, minutes: int) -> None:
    for zone in (UTC, timezone(timedelta(minutes=minutes))):
        moment = naive.replace(tzinfo=zone)
        assert format_timestamp(moment) == reference_format(moment)


stamp_like = st.from_regex(
    r"\A[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{0,10})?Z?\Z"
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(stamp_like, st.text(max_size=30)))
def test_parse_agrees_with_the_reference(text: str) -> None:
    expected = reference_parse(text)
    if expected is None:
        with pytest.raises(InvalidInput):
            parse_timestamp(text)
    else:
        parsed = parse_timestamp(text)
        assert parsed == expected
        assert parsed.tzinfo is UTC


def test_a_zone_whose_times_repeat_formats_each_instant() -> None:
    try:
        zone = ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:
        pytest.skip("no time zone database on this machine")
    first = datetime(2025, 10, 26, 2, 30, tzinfo=zone, fold=0)
    second = first.replace(fold=1)  # the same wall time an hour later; compares equal to `first`
    assert format_timestamp(first) == "2025-10-26T00:30:00.000Z"
    assert format_timestamp(second) == "2025-10-26T01:30:00.000Z"
