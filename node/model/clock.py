"""Time as the node handles it: UTC, millisecond precision, RFC 3339 with a ``Z``.

STIX 2.1 and feed entries carry timestamps as text; truncating to milliseconds when a time is
taken (not when it is written) makes ``parse(format(t)) == t`` exact, so values survive a round
trip through a signed entry unchanged. The clock is injected so tests control time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from node.errors import InvalidInput

Clock = Callable[[], datetime]

_STAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z"
)  # ASCII digits only


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
    m = truncate_ms(moment.astimezone(UTC))
    # Formatted by hand: strftime's %Y does not zero-pad years before 1000 on glibc.
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 UTC timestamp ending in ``Z`` (fractions beyond ms are truncated)."""
    if not isinstance(text, str) or not _STAMP.fullmatch(text):
        raise InvalidInput("a timestamp is RFC 3339 in UTC, e.g. 2026-01-31T12:00:00.000Z")
    head, _, fraction = text[:-1].partition(".")
    try:
        moment = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput("a timestamp names a date or time that does not exist") from exc
    millis = int((fraction + "000")[:3]) if fraction else 0
    return moment.replace(microsecond=millis * 1000)
