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
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from google.protobuf.message import Message

from node.errors import Unauthenticated
from node.feed import NodeIdentity, verify_signature
from node.model import KeyId

CALLER = "x-accord-caller"
TIMESTAMP = "x-accord-timestamp"
NONCE = "x-accord-nonce"
SIGNATURE = "x-accord-signature"
_CONTEXT = "accord-rpc-v1"
_MAX_NONCES = 100_000  # bounds the replay cache; older nonces fall outside the window anyway


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


class RequestVerifier:
    """Verifies signed request metadata against the pinned keys, with a replay cache."""

    def __init__(
        self,
        *,
        pinned: Callable[[], Mapping[KeyId, bytes]],
        window_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pinned = pinned
        self._window = window_seconds
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, method: str, request: Message, metadata: Sequence[tuple[str, str | bytes]]) -> KeyId:
        """The verified caller's key id, or :class:`Unauthenticated` saying which check failed."""
        fields = {k: v for k, v in metadata if isinstance(v, str)}
        caller, stamp, nonce, signature = (fields.get(k) for k in (CALLER, TIMESTAMP, NONCE, SIGNATURE))
        if not (caller and stamp and nonce and signature):
            raise Unauthenticated("request is not signed: x-accord-* metadata missing")
        key = self._pinned().get(KeyId(caller))
        if key is None:
            raise Unauthenticated("caller key is not pinned by this node")
        self._check_time(stamp)
        if not verify_signature(key, _request_string(method, caller, stamp, nonce, request), _b64(signature)):
            raise Unauthenticated("request signature does not verify with the caller's pinned key")
        self._check_nonce(f"{caller}:{nonce}")
        return KeyId(caller)

    def _check_time(self, stamp: str) -> None:
        try:
            sent = int(stamp) / 1000
        except ValueError as exc:
            raise Unauthenticated("request timestamp is not a number of milliseconds") from exc
        if abs(self._clock() - sent) > self._window:
            raise Unauthenticated(f"request timestamp is outside the {self._window:.0f} s replay window")

    def _check_nonce(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            if key in self._seen:
                raise Unauthenticated("request nonce was used before (replayed request)")
            if len(self._seen) >= _MAX_NONCES:
                self._seen = {k: t for k, t in self._seen.items() if now - t <= 2 * self._window}
            self._seen[key] = now


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unauthenticated("request signature is not base64") from exc
