"""Webhook deliveries in the outbox: their states, the retry schedule and the signature.

A delivery is accepted into the outbox (``pending``), tried until a receiver answers 2xx
(``delivered``) or until it has been tried ``max_attempts`` times (``dead``); an admin may
replay a dead or delivered one. Its body is fixed when it is accepted, and its idempotency key
with it, so every retry carries the same bytes; only the signature's timestamp changes.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from node.errors import InvalidInput

SIGNATURE_HEADER = "Accord-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_VERSION = "v1"


class DeliveryState(enum.Enum):
    """Where a delivery is in its life."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"

    @classmethod
    def parse(cls, text: str) -> DeliveryState:
        """The state named ``text``."""
        for member in cls:
            if member.value == text.strip().lower():
                return member
        raise InvalidInput(f"unknown delivery state {text[:20]!r} (pending, delivered, dead)")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery as the outbox holds it (without its body)."""

    id: int
    key: str
    webhook: str
    rule: str
    content_id: str
    state: DeliveryState
    attempts: int
    created: str
    next_attempt_at: float | None  # unix seconds; None once delivered or dead
    last_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    delivered_at: str | None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one POST got: a status (2xx is delivered), or an error with no status (down, timeout)."""

    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def retry_delay(attempts: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Seconds before the next try after ``attempts`` failed ones: exponential (base, 2 base,
    4 base, ...) up to ``cap``, with "equal jitter" (half fixed, half random), so many
    deliveries failing together do not come back together, and none comes back at once."""
    ceiling = min(cap, base * (1 << min(max(attempts - 1, 0), 62)))
    return ceiling / 2 + rand() * ceiling / 2


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<unix>." + body>``: the receiver recomputes it with
    the shared secret and refuses a timestamp too far from its clock (a replay)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_VERSION}={mac}"
