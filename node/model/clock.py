"""Time as the node handles it: UTC, millisecond precision, RFC 3339 with a ``Z``.

STIX 2.1 and feed entries carry timestamps as text; truncating to milliseconds when a time is
taken (not when it is written) makes ``parse(format(t)) == t`` exact, so values survive a round
trip through a signed entry unchanged. The clock is injected so tests control time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from node.errors import InvalidInput

Clock = Callable[[], datetime]

_STAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z"
)  # ASCII digits only


_CANONICAL_LENGTH = len("2026-01-31T12:00:00.000Z")


def utc_now() -> datetime:
    """The current UTC time, truncated to milliseconds."""
    return truncate_ms(datetime.now(UTC))


def truncate_ms(moment: datetime) -> datetime:
    """``moment`` without its sub-millisecond part."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for a timezone-aware datetime."""
    if moment.tzinfo is None:
        raise InvalidInput("timestamps must be timezone-aware")
    if moment.tzinfo is UTC:
        # Cached only in UTC: equal UTC datetimes are one instant, while datetimes of a zone that
        # differ only in ``fold`` compare (and hash) equal but are different instants.
        return _format_utc_cached(moment)
    return _format_utc(moment.astimezone(UTC))


def _format_utc(moment: datetime) -> str:
    # isoformat zero-pads the year to four digits and truncates (never rounds) to milliseconds;
    # a UTC datetime ends in "+00:00", which RFC 3339 lets us write as "Z".
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


_format_utc_cached = lru_cache(maxsize=4096)(_format_utc)  # a batch shares a few timestamps


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 UTC timestamp ending in ``Z`` (fractions beyond ms are truncated)."""
    if not isinstance(text, str):
        raise InvalidInput("a timestamp is RFC 3339 in UTC, e.g. 2026-01-31T12:00:00.000Z")
    if len(text) == _CANONICAL_LENGTH:
        return _parse_canonical(text)
    return _parse_any(text)


@lru_cache(maxsize=4096)  # rows read back share a handful of timestamps; datetimes are immutable
def _parse_canonical(text: str) -> datetime:
    if not _STAMP.fullmatch(text):
        raise InvalidInput("a timestamp is RFC 3339 in UTC, e.g. 2026-01-31T12:00:00.000Z")
    # The form format_timestamp writes (three fraction digits, as _STAMP checked): fromisoformat
    # reads it exactly, in C, and refuses impossible dates as strptime does.
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("a timestamp names a date or time that does not exist") from exc


def _parse_any(text: str) -> datetime:
    if not _STAMP.fullmatch(text):
        raise InvalidInput("a timestamp is RFC 3339 in UTC, e.g. 2026-01-31T12:00:00.000Z")
    head, _, fraction = text[:-1].partition(".")
    try:
        moment = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput("a timestamp names a date or time that does not exist") from exc
    millis = int((fraction + "000")[:3]) if fraction else 0
    return moment.replace(microsecond=millis * 1000)
