"""Signed request metadata (DESIGN §6): who is calling, proven with their Ed25519 key.

The caller signs a canonical string binding the method, its key id, a timestamp, a nonce and
the SHA-256 of the deterministic serialisation of the request. The server accepts it only when
the key is pinned, the timestamp is within the replay window, the nonce is new within that
window, and the signature verifies. Authorisation then uses the verified key id alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from google.protobuf.message import Message

from node.errors import Unauthenticated
from node.feed import NodeIdentity, verify_signature
from node.model import KeyId

CALLER = "x-accord-caller"
TIMESTAMP = "x-accord-timestamp"
NONCE = "x-accord-nonce"
SIGNATURE = "x-accord-signature"
_CONTEXT = "accord-rpc-v1"
# Bounds the replay cache (~100 bytes a nonce): one partner call a second for over a day.
MAX_NONCES = 100_000
_MAX_STAMP_DIGITS = 15
_NONCE_FORM = re.compile(r"[0-9a-f]{16,64}")


def _request_string(method: str, caller: str, timestamp: str, nonce: str, request: Message) -> bytes:
    digest = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
    return "\n".join((_CONTEXT, method, caller, timestamp, nonce, digest)).encode()


def sign_request(
    identity: NodeIdentity,
    method: str,
    request: Message,
    *,
    now: float | None = None,
    caller: KeyId | None = None,
) -> list[tuple[str, str]]:
    """Metadata that proves ``identity`` made this call of ``method`` with ``request``.

    ``caller`` is the identity partners pinned, when a key rotation made another key sign for
    it; the verifier checks the signature with the key that currently signs for that identity.
    """
    timestamp = str(int((time.time() if now is None else now) * 1000))
    nonce = secrets.token_hex(16)
    caller = caller or identity.key_id
    signature = identity.sign(_request_string(method, caller, timestamp, nonce, request))
    return [
        (CALLER, caller),
        (TIMESTAMP, timestamp),
        (NONCE, nonce),
        (SIGNATURE, base64.b64encode(signature).decode()),
    ]


@dataclass(frozen=True, slots=True)
class ClaimedCall:
    """What a call's metadata claims, checked without reading its request: a pinned caller, a
    timestamp inside the replay window, well-formed nonce and signature. Nothing here is proven
    until :meth:`RequestVerifier.verify` checks the signature over the request's digest."""

    caller: KeyId
    key: bytes
    stamp: str
    sent: float
    nonce: str
    signature: bytes


class RequestVerifier:
    """Verifies signed request metadata against the pinned keys, with a bounded replay cache.

    The cache remembers each accepted nonce with the time its request was sent. When it is full
    of nonces still inside the window, the oldest half is forgotten and requests sent no later
    than the newest forgotten one are refused from then on: memory stays bounded and a
    forgotten nonce can never be replayed.
    """

    def __init__(
        self,
        *,
        pinned: Callable[[], Mapping[KeyId, bytes]],
        window_seconds: float,
        clock: Callable[[], float] = time.time,
        max_nonces: int = MAX_NONCES,
    ) -> None:
        self._pinned = pinned
        self._window = window_seconds
        self._clock = clock
        self._max_nonces = max_nonces
        self._seen: dict[str, float] = {}
        self._floor = -math.inf  # requests sent at or before this were forgotten: refused
        self._lock = threading.Lock()

    def claim(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> ClaimedCall:
        """The checks that need no request body; :class:`Unauthenticated` names the one failed."""
        fields = {k: v for k, v in metadata or () if isinstance(v, str)}
        caller, stamp, nonce, signature = (fields.get(k) for k in (CALLER, TIMESTAMP, NONCE, SIGNATURE))
        if not (caller and stamp and nonce and signature):
            raise Unauthenticated("request is not signed: x-accord-* metadata missing")
        key = self._pinned().get(KeyId(caller))
        if key is None:
            raise Unauthenticated("caller key is not pinned by this node")
        sent = self._check_time(stamp)
        if not _NONCE_FORM.fullmatch(nonce):
            raise Unauthenticated("request nonce must be 16 to 64 hexadecimal characters")
        return ClaimedCall(
            caller=KeyId(caller), key=key, stamp=stamp, sent=sent, nonce=nonce, signature=_b64(signature)
        )

    def verify(self, method: str, request: Message, metadata: Sequence[tuple[str, str | bytes]]) -> KeyId:
        """The verified caller's key id, or :class:`Unauthenticated` saying which check failed."""
        claim = self.claim(metadata)
        signed = _request_string(method, claim.caller, claim.stamp, claim.nonce, request)
        if not verify_signature(claim.key, signed, claim.signature):
            raise Unauthenticated("request signature does not verify with the caller's pinned key")
        self._check_nonce(f"{claim.caller}:{claim.nonce}", claim.sent)
        return claim.caller

    def _check_time(self, stamp: str) -> float:
        # Digits only and at most 15 of them (year 33658 in ms): int() of a huge number would
        # overflow the float division (an UNKNOWN status instead of a refusal).
        if not (len(stamp) <= _MAX_STAMP_DIGITS and stamp.isascii() and stamp.isdigit()):
            raise Unauthenticated("request timestamp is not a number of milliseconds (at most 15 digits)")
        sent = int(stamp) / 1000
        if abs(self._clock() - sent) > self._window:
            raise Unauthenticated(f"request timestamp is outside the {self._window:.0f} s replay window")
        return sent

    def _check_nonce(self, key: str, sent: float) -> None:
        with self._lock:
            if sent <= self._floor:
                raise Unauthenticated("request is older than the replay cache remembers; sign it again")
            if key in self._seen:
                raise Unauthenticated("request nonce was used before (replayed request)")
            if len(self._seen) >= self._max_nonces:
                self._forget(self._clock() - self._window)
            self._seen[key] = sent

    def _forget(self, oldest_valid: float) -> None:
        """Drop nonces whose requests fall outside the window; if that is not enough, the oldest half."""
        kept = sorted((t, k) for k, t in self._seen.items() if t >= oldest_valid)
        if len(kept) >= self._max_nonces:
            cut = len(kept) // 2
            self._floor = max(self._floor, kept[cut - 1][0])
            kept = kept[cut:]
        self._seen = {k: t for t, k in kept}

    @property
    def remembered(self) -> int:
        """How many nonces the replay cache holds now (bounded by ``max_nonces``)."""
        return len(self._seen)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unauthenticated("request signature is not base64") from exc
