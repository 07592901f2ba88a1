"""gRPC clients: a partner's Federation API (the pull port of ``sync``) and our own Local API."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence

import grpc

from node.errors import PeerError
from node.feed import NodeIdentity
from node.model import Envelope, KeyId, Seq
from node.rpc.auth import sign_request
from node.rpc.convert import envelope_from_proto
from node.rpc.federation import PULL_METHOD
from node.rpc.pb import federation_pb2, federation_pb2_grpc, local_pb2, local_pb2_grpc

log = logging.getLogger(__name__)


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Message size caps for both directions."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


class PeerClient:
    """Pulls a partner's entries over gRPC. Implements ``sync.pull.FeedSource``."""

    def __init__(
        self,
        endpoint: str,
        *,
        identity: NodeIdentity,
        timeout: float,
        max_message_bytes: int,
        caller: KeyId | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._identity = identity
        self._caller = caller  # our pinned identity, when a rotated key signs for it
        self._timeout = timeout
        # Plaintext: the skeleton serves loopback. TLS with pinned certificates is the trust issue's work.
        self._channel = grpc.insecure_channel(endpoint, options=channel_options(max_message_bytes))
        self._stub = federation_pb2_grpc.FederationStub(self._channel)

    def close(self) -> None:
        """Close the channel."""
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

    def pull(self, cursors: Mapping[KeyId, Seq]) -> Iterator[Envelope]:
        """One Pull call: the entries after ``cursors`` the peer lets us see, as they stream in."""
        request = federation_pb2.PullRequest(
            cursors=[federation_pb2.Cursor(origin=o, seq=s) for o, s in sorted(cursors.items())]
        )
        metadata = tuple(sign_request(self._identity, PULL_METHOD, request, caller=self._caller))
        try:
            for page in self._stub.Pull(request, timeout=self._timeout, metadata=metadata):
                for message in page.envelopes:
                    yield envelope_from_proto(message)
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc


class LocalClient:
    """The operator's client of a running node's Local API (loopback)."""

    def __init__(self, endpoint: str, *, timeout: float) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._channel = grpc.insecure_channel(endpoint)
        self._stub = local_pb2_grpc.LocalStub(self._channel)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def match(self, signals: Sequence[str], media: bytes = b"") -> local_pb2.MatchResponse:
        """Match signals (``TYPE:VALUE``) and/or media bytes."""
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

    def status(self) -> local_pb2.StatusResponse:
        """The node's status."""
        try:
            return self._stub.Status(local_pb2.StatusRequest(), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _peer_error(self._endpoint, exc) from exc


def _peer_error(endpoint: str, exc: grpc.RpcError) -> PeerError:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    name = code.name if code is not None else "ERROR"
    return PeerError(f"{endpoint} answered {name}: {details}")
