"""Limits every request passes: a body size cap read before parsing, and a per-account rate.

The rate limit is a token bucket per account name: ``rate`` tokens a second refill it up to
``burst``; a request takes one token or is refused with the time until the next one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from node.errors import InvalidInput, RateLimited, TooLarge


async def read_json_body(request: Request, *, limit: int) -> Any:
    """The request's JSON body. Refused with TooLarge before parsing when it is (or says it is)
    longer than ``limit`` bytes: a declared length is checked before anything is read, and an
    undeclared (chunked) one is counted while reading and cut off at the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge(f"the request body is larger than {limit} bytes (http.max_body_bytes)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is larger than {limit} bytes (http.max_body_bytes)")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the request body is not valid JSON ({type(exc).__name__})") from exc


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by account name. Thread-safe; the clock is injectable for tests."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        noun: str = "account",
        setting: str = "http.rate_per_second",
    ) -> None:
        self._noun = noun  # what a key names, and the setting that limits it (for the message)
        self._setting = setting
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, account: str) -> None:
        """Spend one request of ``account``'s allowance, or raise RateLimited."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.setdefault(account, _Bucket(tokens=self._burst, at=now))
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
            bucket.at = now
            if bucket.tokens < 1.0:
                wait = (1.0 - bucket.tokens) / self._rate
                raise RateLimited(
                    f"{self._noun} {account!r} is over its rate limit ({self._setting}); retry later",
                    retry_after=wait,
                )
            bucket.tokens -= 1.0
