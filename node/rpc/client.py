"""gRPC clients: a partner's Federation API (the pull port of ``sync``) and our own Local API."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import grpc

from node.errors import InvalidInput, PeerError, PlaintextRefused
from node.feed import NodeIdentity
from node.model import CertFingerprint, Envelope, KeyId, Seq, SignedEntry, is_loopback_endpoint
from node.rpc.auth import sign_request
from node.rpc.convert import entry_from_proto, entry_to_proto, envelope_from_proto, envelope_to_proto
from node.rpc.federation import BODIES_METHOD, HEADS_METHOD, PULL_METHOD, PUSH_METHOD
from node.rpc.pb import federation_pb2, federation_pb2_grpc, local_pb2, local_pb2_grpc
from node.rpc.tls import pinned_channel_credentials, pinned_channel_options

log = logging.getLogger(__name__)


def channel_options(max_message_bytes: int) -> list[tuple[str, str | int]]:
    """Message size caps for both directions."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


def local_target(endpoint: str) -> tuple[str, list[tuple[str, str | int]]]:
    """The gRPC target and channel options for ``endpoint``: one ``HOST:PORT`` as it is;
    several ``ADDRESS:PORT`` (IP literals, comma-separated) as one ``ipv4:``/``ipv6:`` target
    with round-robin load balancing, so every call goes to the next address."""
    parts = [p.strip() for p in endpoint.split(",") if p.strip()]
    if len(parts) < 2:
        return endpoint.strip(), []
    family = "ipv6" if parts[0].startswith("[") else "ipv4"
    for part in parts:
        host = part.rpartition(":")[0].strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise InvalidInput(f"{part!r}: several endpoints must be IP addresses with ports") from None
        if (address.version == 6) != (family == "ipv6"):
            raise InvalidInput(f"{endpoint!r}: do not mix IPv4 and IPv6 endpoints")
    return f"{family}:{','.join(parts)}", [("grpc.lb_policy_name", "round_robin")]


class PeerClient:
    """Pulls a partner's entries over gRPC. Implements ``sync.pull.FeedSource``.

    With ``pin`` the channel is TLS trusting only the certificate with that fingerprint (see
    :mod:`node.rpc.tls`); without it the channel is plaintext, allowed by default only to a
    loopback endpoint (``plaintext_allowed`` decides otherwise). The connection is made on the
    first call, so a refused or mismatched peer surfaces as a :class:`PeerError` from that
    call, where pulls record their failures.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        identity: NodeIdentity,
        timeout: float,
        max_message_bytes: int,
        pin: CertFingerprint | None = None,
        plaintext_allowed: bool | None = None,
        page_timeout: float | None = None,
        caller: KeyId | None = None,
        statement: Callable[[], Envelope] | None = None,
    ) -> None:
        self._endpoint = endpoint
        # Our signed encryption-key statement, sent with Pull and Heads so the peer can seal to us.
        self._statement = statement
        self.peer_statements: list[Envelope] = []  # from its last Heads answer
        self._identity = identity
        self._caller = caller  # our pinned identity, when a rotated key signs for it
        self._timeout = timeout  # the deadline of each call
        self._page_timeout = page_timeout or timeout  # the longest wait for the next page
        self._max_message_bytes = max_message_bytes
        self._pin = pin
        self._plaintext_allowed = (
            is_loopback_endpoint(endpoint) if plaintext_allowed is None else plaintext_allowed
        )
        self._channel: grpc.Channel | None = None

    @property
    def _stub(self) -> federation_pb2_grpc.FederationStub:
        if self._channel is None:
            self._channel = self._connect()
        return federation_pb2_grpc.FederationStub(self._channel)

    def _connect(self) -> grpc.Channel:
        options: list[tuple[str, str | int]] = [*channel_options(self._max_message_bytes)]
        if self._pin is not None:
            credentials = pinned_channel_credentials(self._endpoint, self._pin, timeout=self._timeout)
            return grpc.secure_channel(
                self._endpoint, credentials, options=options + pinned_channel_options()
            )
        if not self._plaintext_allowed:
            raise PlaintextRefused(
                f"{self._endpoint} would be reached without TLS: pin the partner's certificate"
                " fingerprint ('accord partner pin NAME --cert-fingerprint sha256:...')"
            )
        return grpc.insecure_channel(self._endpoint, options=options)

    def close(self) -> None:
        """Close the channel (if one was opened)."""
        if self._channel is not None:
            self._channel.close()

    def __enter__(self) -> PeerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def node_info(self) -> federation_pb2.NodeInfo:
        """The peer's self-description (unauthenticated)."""
        try:
            return self._stub.GetNodeInfo(federation_pb2.NodeInfoRequest(), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[SignedEntry]:
        """One Pull call: the entries after ``cursors``, as they stream in."""
        request = federation_pb2.PullRequest(
            cursors=[federation_pb2.Cursor(origin=o, seq=s) for o, s in sorted(cursors.items())],
            encryption_key=self._own_statement(),
        )
        metadata = tuple(sign_request(self._identity, PULL_METHOD, request, caller=self._caller))
        call = self._stub.Pull(request, timeout=self._timeout, metadata=metadata)
        watchdog = _StallWatchdog(call, self._page_timeout)
        try:
            while (page := watchdog.next_page()) is not None:
                for message in page.entries:
                    yield entry_from_proto(message)
        except grpc.RpcError as exc:
            if watchdog.fired:
                raise PeerError(
                    f"{self._endpoint} stalled: no page within {self._page_timeout:g} s; pull abandoned"
                ) from exc
            raise _peer_error(self._endpoint, exc) from exc
        finally:
            watchdog.stop()
            call.cancel()  # type: ignore[no-untyped-call]  # no-op once the call ended; frees the server

    def bodies(self, wanted: Sequence[tuple[KeyId, Seq]]) -> Iterator[tuple[KeyId, Seq, bytes]]:
        """One Bodies call: the bodies of ``wanted`` the peer holds (checked by the caller)."""
        request = federation_pb2.BodiesRequest(
            wanted=[federation_pb2.Cursor(origin=o, seq=s) for o, s in wanted]
        )
        metadata = tuple(sign_request(self._identity, BODIES_METHOD, request, caller=self._caller))
        try:
            for page in self._stub.Bodies(request, timeout=self._timeout, metadata=metadata):
                for body in page.bodies:
                    yield KeyId(body.origin), Seq(body.seq), bytes(body.body)
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc

    def heads(self) -> list[Envelope]:
        """The origin-signed heads the peer shows us (verified by the caller, in ``sync``)."""
        response = self._heads()
        self.peer_statements = [envelope_from_proto(s) for s in response.encryption_keys]
        return [envelope_from_proto(h) for h in response.heads]

    def encryption_statements(self) -> list[Envelope]:
        """The signed encryption-key statements of the peer's last Heads answer (unverified)."""
        return self.peer_statements

    def _own_statement(self) -> federation_pb2.Envelope | None:
        return envelope_to_proto(self._statement()) if self._statement is not None else None

    def held(self) -> dict[KeyId, Seq]:
        """How far the peer holds each feed we may see: where a push to it resumes."""
        return {KeyId(c.origin): Seq(c.seq) for c in self._heads().held}

    def _heads(self) -> federation_pb2.HeadsResponse:
        request = federation_pb2.HeadsRequest(encryption_key=self._own_statement())
        metadata = tuple(sign_request(self._identity, HEADS_METHOD, request, caller=self._caller))
        try:
            return self._stub.Heads(request, timeout=self._timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc

    def push(self, entries: Iterable[SignedEntry], *, per_message: int) -> federation_pb2.PushReply:
        """One Push call streaming ``entries``, ``per_message`` to a message; the peer's verdict."""
        metadata = tuple(
            sign_request(self._identity, PUSH_METHOD, federation_pb2.PushRequest(), caller=self._caller)
        )
        try:
            return self._stub.Push(
                _push_messages(entries, per_message), timeout=self._timeout, metadata=metadata
            )
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc


class _StallWatchdog:
    """Cancels a streaming call when the peer sends no message for ``seconds``.

    Only the time spent waiting for the peer counts: the clock runs while :meth:`next_page`
    waits and stops when a page arrives, so a slow commit on our side never looks like a stall.
    """

    def __init__(self, call: grpc.CallIterator[federation_pb2.EntryPage], seconds: float) -> None:
        self._call = call
        self._pages = iter(call)
        self._seconds = seconds
        self._waiting_since: float | None = None
        self._done = threading.Event()
        self.fired = False
        threading.Thread(target=self._watch, name="accord-pull-watchdog", daemon=True).start()

    def next_page(self) -> federation_pb2.EntryPage | None:
        """The next page, or None at the end of the stream."""
        self._waiting_since = time.monotonic()
        try:
            return next(self._pages, None)
        finally:
            self._waiting_since = None

    def stop(self) -> None:
        """End the watch (the call is over)."""
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(min(self._seconds / 4, 1.0)):
            since = self._waiting_since
            if since is not None and time.monotonic() - since > self._seconds:
                self.fired = True
                self._call.cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs
                return


def _push_messages(entries: Iterable[SignedEntry], per_message: int) -> Iterator[federation_pb2.PushRequest]:
    batch: list[federation_pb2.Entry] = []
    for entry in entries:
        batch.append(entry_to_proto(entry.header, entry.body))
        if len(batch) == per_message:
            yield federation_pb2.PushRequest(entries=batch)
            batch = []
    if batch:
        yield federation_pb2.PushRequest(entries=batch)


class LocalClient:
    """The operator's client of a running node's Local API (loopback)."""

    def __init__(self, endpoint: str, *, timeout: float) -> None:
        """``endpoint`` is ``HOST:PORT``, or several IP ``ADDRESS:PORT`` joined by commas (the
        match processes of ``network.match_workers``): calls then go round-robin over them."""
        self._endpoint = endpoint
        self._timeout = timeout
        target, options = local_target(endpoint)
        self._channel = grpc.insecure_channel(target, options=options)
        self._stub = local_pb2_grpc.LocalStub(self._channel)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def match(self, signals: Sequence[str], media: bytes = b"") -> local_pb2.MatchResponse:
        """Match signals (``TYPE:VALUE``) and/or media bytes: one result per signal, in order,
        then the media's. A signal the node cannot read gets a result with ``error`` set (the
        others are still matched); only a bad call as a whole (too many signals, none) raises."""
        try:
            return self._stub.Match(
                local_pb2.MatchRequest(signals=list(signals), media=media), timeout=self._timeout
            )
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc

    def match_stream(self, requests: Iterable[local_pb2.MatchRequest]) -> Iterator[local_pb2.MatchResponse]:
        """Bulk matching on one call: one response per request, in order."""
        try:
            yield from self._stub.MatchStream(iter(requests), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc

    def query(self, request: local_pb2.QueryRequest) -> local_pb2.QueryResponse:
        """Indicators the node holds, filtered (never TLP:RED over this API)."""
        try:
            return self._stub.Query(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc

    def status(self) -> local_pb2.StatusResponse:
        """The node's status."""
        try:
            return self._stub.Status(local_pb2.StatusRequest(), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc


def _peer_error(endpoint: str, exc: grpc.RpcError) -> PeerError:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    if code is grpc.StatusCode.UNAVAILABLE and "connection refused" in (details or "").lower():
        # gRPC reports a closed port as UNAVAILABLE with its connect error buried in the
        # details: nothing answered at all, so say that rather than what it "answered".
        return PeerError(f"nothing is listening at {endpoint} (connection refused): is the node down?")
    name = code.name if code is not None else "ERROR"
    return PeerError(f"{endpoint} answered {name}: {details}")
