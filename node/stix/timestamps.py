"""STIX timestamps: how the codec writes and reads the domain's tz-aware UTC datetimes.

Accord writes ``YYYY-MM-DDTHH:MM:SS.mmmZ``: UTC, millisecond precision (what STIX requires of
``created`` and ``modified``). Writing truncates to the millisecond, so publishers should create
their datetimes already truncated (``dt.replace(microsecond=dt.microsecond // 1000 * 1000)``):
then ``parse_timestamp(format_timestamp(dt)) == dt`` exactly, and an indicator version read
back has the same ``modified`` as the one written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from node.errors import InvalidInput, MalformedStix

_STIX_TIMESTAMP: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
"""RFC 3339 in UTC as STIX spells it. Reading accepts 0-6 fraction digits because the stix2
library drops trailing zeros of ``valid_from``; more than 6 would be silently lost in a datetime."""

# A bundle's indicators mostly share a handful of timestamps; caching the conversions makes the
# hot path (100k indicators per bundle) cheap. Both are pure functions of immutable values.
_CACHE_SIZE: Final = 4096


def format_timestamp(dt: datetime) -> str:
    """``dt`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, truncated (not rounded) to milliseconds."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidInput("STIX timestamps are written from timezone-aware datetimes (UTC)")
    return _format_aware(dt)


@lru_cache(maxsize=_CACHE_SIZE)
def _format_aware(dt: datetime) -> str:
    utc = dt.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> datetime:
    """The tz-aware UTC datetime written as ``text``, or :class:`MalformedStix`.

    Accepts the STIX timestamp form in UTC with up to 6 fraction digits. The error message
    never repeats ``text``: it comes from a peer and could hold anything.
    """
    if not isinstance(text, str):  # checked first: the cache below needs a hashable key
        raise MalformedStix("a timestamp is a string")
    return _parse_text(text)


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_text(text: str) -> datetime:
    if not _STIX_TIMESTAMP.fullmatch(text):
        raise MalformedStix("a timestamp is written YYYY-MM-DDTHH:MM:SS.mmmZ (UTC)")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:  # a well-formed shape with an impossible date, e.g. 02-30 or 24:00
        raise MalformedStix("a timestamp names a date or time that does not exist") from exc
