"""Admission on the partner port: who may hold a server thread, for how long, before proof.

A gRPC Python server gives every call a thread that, for a unary request, waits for the
request message; a caller that opens calls and never sends held them all, and the server's
global call limit then refused everyone, health checks included (issue 13). Here:

- the metadata of a signed method is checked when the call arrives, before its request is
  read (:meth:`RequestVerifier.claim`: a pinned caller, a fresh timestamp, well-formed nonce
  and signature); anyone else is refused at once, without a thread waiting for a body;
- every call runs on a budget that fails fast: partner calls share ``max_concurrent_rpcs``
  slots, at most ``max_calls_per_partner`` per claimed caller; node info and health checks
  have their own few slots and threads, so they never queue behind partner calls;
- the request message must arrive within ``first_message_seconds`` or the call is cancelled;
- Pull and Heads requests above :data:`MAX_SMALL_REQUEST_BYTES` are refused unparsed.

The signature over the request digest is still checked by the servicer: only it has the request.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from node.errors import AccordError, InvalidInput, TooLarge, Unauthenticated
from node.rpc.auth import RequestVerifier
from node.rpc.errors import status_for
from node.rpc.federation import HEADS_METHOD, PULL_METHOD
from node.rpc.refusals import Refusals

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
NODE_INFO_METHOD = "/accord.v1.Federation/GetNodeInfo"
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
HEALTH_WATCH_METHOD = "/grpc.health.v1.Health/Watch"
FEDERATION_PREFIX = "/accord.v1.Federation/"  # every method but GetNodeInfo is signed (DESIGN §5)
# A pull names at most 10,000 cursors of ~80 bytes; a heads request is empty.
MAX_SMALL_REQUEST_BYTES = 1024 * 1024
SMALL_REQUEST_METHODS = frozenset({PULL_METHOD, HEADS_METHOD})
PUBLIC_SLOTS = 4  # concurrent node-info calls; each answers at once
HEALTH_SLOTS = 4  # concurrent health checks; reserved threads, never behind partner calls
WATCH_SLOTS = 2  # health watches hold their thread for as long as the watcher stays
REFUSAL_THREADS = 4  # threads beyond the budgets, for answering refusals


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """The budgets of the partner port (from ``[network]``)."""

    max_calls: int
    max_calls_per_partner: int
    first_message_seconds: float

    @property
    def threads(self) -> int:
        """Server threads needed so that no budgeted call waits for a thread."""
        return self.max_calls + PUBLIC_SLOTS + HEALTH_SLOTS + WATCH_SLOTS + REFUSAL_THREADS


class Slots:
    """A fail-fast budget: a total and, optionally, a share per key."""

    def __init__(self, total: int, *, per_key: int | None = None) -> None:
        self._total = total
        self._per_key = per_key
        self._held: Counter[str] = Counter()
        self._count = 0
        self._lock = threading.Lock()

    def acquire(self, key: str, what: str) -> None:
        """Take one slot for ``key``, or raise :class:`Busy` naming the full budget."""
        with self._lock:
            if self._count >= self._total:
                raise Busy(f"server busy: all {self._total} {what} slots are in use; retry later")
            if self._per_key is not None and self._held[key] >= self._per_key:
                raise Busy(f"this caller already has {self._per_key} calls running; retry later")
            self._count += 1
            self._held[key] += 1

    def release(self, key: str) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        with self._lock:
            self._count -= 1
            self._held[key] -= 1
            if not self._held[key]:
                del self._held[key]


class Admission(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses unknown callers before their request is read; runs the rest on fail-fast budgets."""

    def __init__(self, *, verifier: RequestVerifier, refusals: Refusals, limits: AdmissionLimits) -> None:
        self._verifier = verifier
        self._refusals = refusals
        self._first_message_seconds = limits.first_message_seconds
        self._partners = Slots(limits.max_calls, per_key=limits.max_calls_per_partner)
        self._budgets = {
            NODE_INFO_METHOD: (Slots(PUBLIC_SLOTS), "node info"),
            HEALTH_CHECK_METHOD: (Slots(HEALTH_SLOTS), "health check"),
            HEALTH_WATCH_METHOD: (Slots(WATCH_SLOTS), "health watch"),
        }

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        # Runs on the server's polling thread: only checks that need no I/O beyond the pinned keys.
        handler = continuation(details)
        method = details.method
        if handler is None:
            return None
        if method.startswith(FEDERATION_PREFIX) and method != NODE_INFO_METHOD:
            try:
                caller: str = self._verifier.claim(details.invocation_metadata).caller
            except Unauthenticated as exc:
                # A fresh error, not ``exc``: its traceback holds this call's frames, and the
                # handler keeping it would make a cycle that keeps the call (and its HTTP/2
                # stream, counted against the connection's limit) alive until garbage collection.
                return self._refusal(Unauthenticated(str(exc)), method)
            return _budgeted(handler, self._partners, caller, "partner call", self._guard(method))
        slots, what = self._budgets.get(method, (None, ""))
        if slots is None:
            return handler
        return _budgeted(handler, slots, "", what, self._guard(method))

    def _guard(self, method: str) -> _Guard:
        return _Guard(
            method=method,
            refusals=self._refusals,
            first_message_seconds=self._first_message_seconds,
            max_request_bytes=MAX_SMALL_REQUEST_BYTES if method in SMALL_REQUEST_METHODS else None,
            reads_request=method != NODE_INFO_METHOD,  # its request is empty: answer at once
        )

    def _refusal(self, error: AccordError, method: str) -> Handler:
        """A handler that refuses without reading a request message (it is request-streaming)."""

        def refuse(requests: Iterator[Any], context: grpc.ServicerContext) -> None:
            self._refusals.record(error, method=method, peer=context.peer())
            context.abort(status_for(error), str(error))

        return grpc.stream_unary_rpc_method_handler(refuse)


@dataclass(frozen=True, slots=True)
class _Guard:
    method: str
    refusals: Refusals
    first_message_seconds: float
    max_request_bytes: int | None
    reads_request: bool

    def refuse(self, error: AccordError, context: grpc.ServicerContext) -> NoReturn:
        self.refusals.record(error, method=self.method, peer=context.peer())
        context.abort(status_for(error), str(error))
        raise AssertionError("context.abort returns only by raising")

    def first_request(self, requests: Iterator[bytes], context: grpc.ServicerContext, parse: Any) -> Any:
        """The call's request message, parsed; the call is cancelled if it does not arrive in time."""
        if not self.reads_request:
            return parse(b"")
        timer = threading.Timer(self.first_message_seconds, self._too_slow, (context,))
        timer.daemon = True
        timer.start()
        try:
            raw = next(requests, None)
        finally:
            timer.cancel()
        if raw is None:
            self.refuse(InvalidInput("the call ended before its request message arrived"), context)
        if self.max_request_bytes is not None and len(raw) > self.max_request_bytes:
            self.refuse(
                TooLarge(f"a {self.method} request is at most {self.max_request_bytes} bytes"), context
            )
        try:
            return parse(raw)
        except DecodeError:
            self.refuse(InvalidInput(f"the {self.method} request is not a valid message"), context)

    def _too_slow(self, context: grpc.ServicerContext) -> None:
        error = SlowRequest(f"no request message within {self.first_message_seconds:g} s of the call")
        self.refusals.record(error, method=self.method, peer=context.peer())
        context.cancel()  # type: ignore[no-untyped-call]  # wakes the thread waiting for the message


class SlowRequest(TooLarge):
    """A call whose request message did not arrive within the first-message deadline."""

    reason = "slow_request"


class Busy(TooLarge):
    """A call refused because its budget of concurrent calls is full."""

    reason = "busy"


def _identity(raw: bytes) -> bytes:
    return raw


def _budgeted(handler: Handler, slots: Slots, key: str, what: str, guard: _Guard) -> Handler:
    """``handler`` as a request-streaming handler that holds a slot and reads its request itself.

    Request-streaming, so that gRPC hands the call to a thread without first waiting for the
    request: the slot is taken (or refused) at once, and the wait for the request is bounded.
    """
    parse = handler.request_deserializer or _identity
    inner: Callable[..., Any] | None = (
        handler.stream_stream or handler.stream_unary or handler.unary_stream or handler.unary_unary
    )
    if inner is None:
        raise TypeError("a method handler without a behaviour")
    # A streaming request (Push) is read by its handler, after it verified the metadata, with
    # gRPC's own deserialiser; a unary one is read here, within the first-message deadline.
    options = {
        "request_deserializer": parse if handler.request_streaming else _identity,
        "response_serializer": handler.response_serializer,
    }

    def argument(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        if handler.request_streaming:
            return requests
        return guard.first_request(requests, context, parse)

    if handler.response_streaming:

        def stream(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[Any]:
            with _slot(slots, key, what, guard, context):  # held until the last response is sent
                yield from inner(argument(requests, context), context)

        return grpc.stream_stream_rpc_method_handler(stream, **options)

    def unary(requests: Iterator[bytes], context: grpc.ServicerContext) -> Any:
        with _slot(slots, key, what, guard, context):
            return inner(argument(requests, context), context)

    return grpc.stream_unary_rpc_method_handler(unary, **options)


@contextmanager
def _slot(slots: Slots, key: str, what: str, guard: _Guard, context: grpc.ServicerContext) -> Iterator[None]:
    try:
        slots.acquire(key, what)
    except Busy as exc:
        guard.refuse(exc, context)
    try:
        yield
    finally:
        slots.release(key)
