"""The partner-facing Federation service: thin handlers over the serve use case.

validate → authenticate → convert → call → convert; errors map to statuses in one table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc

from node import __version__
from node.config import LimitsSection
from node.errors import AccordError, InvalidInput
from node.feed import NodeIdentity
from node.model import KeyId, Seq, parse_key_id
from node.rpc.auth import RequestVerifier
from node.rpc.convert import envelope_to_proto
from node.rpc.errors import abort_with
from node.rpc.pb import federation_pb2, federation_pb2_grpc
from node.store import Store
from node.sync.serve import entries_for

log = logging.getLogger(__name__)

PULL_METHOD = "/accord.v1.Federation/Pull"
MAX_CURSORS = 10_000  # origins one request may name; far above any real federation
MAX_SEQ = 2**63 - 1  # SQLite's INTEGER range; the wire type (uint64) allows more
PAGES_PER_CALL = 32  # one call streams at most this many pages; the caller then asks again


class FederationServicer(federation_pb2_grpc.FederationServicer):
    """Serves node info to anyone and feed entries to authenticated, pinned partners."""

    def __init__(
        self,
        *,
        store: Store,
        identity: NodeIdentity,
        name: str,
        verifier: RequestVerifier,
        limits: LimitsSection,
        origin: KeyId | None = None,
    ) -> None:
        self._store = store
        self._identity = identity
        # Our pinned identity, the origin of our feed; a rotated key signs for it.
        self._origin = origin or identity.key_id
        self._name = name
        self._verifier = verifier
        self._limits = limits

    def GetNodeInfo(
        self, request: federation_pb2.NodeInfoRequest, context: grpc.ServicerContext
    ) -> federation_pb2.NodeInfo:
        """Public: who this node says it is. Partners still compare the key out of band."""
        return federation_pb2.NodeInfo(
            name=self._name,
            key_id=self._origin,
            public_key=self._identity.public_key,
            version=__version__,
        )

    def Pull(
        self, request: federation_pb2.PullRequest, context: grpc.ServicerContext
    ) -> Iterator[federation_pb2.EntryPage]:
        """Stream the entries after the caller's cursors that TLP lets it receive."""
        try:
            caller = self._verifier.verify(PULL_METHOD, request, context.invocation_metadata())
            cursors = _cursors(request)
        except AccordError as exc:
            log.warning("refused Pull: %s", exc)
            abort_with(context, exc)
            return
        yield from self._pages(caller, cursors, context)

    def _pages(
        self, caller: KeyId, cursors: dict[KeyId, Seq], context: grpc.ServicerContext
    ) -> Iterator[federation_pb2.EntryPage]:
        page: list[federation_pb2.Envelope] = []
        size = pages = 0
        for entry in entries_for(self._store, caller=caller, server=self._origin, cursors=cursors):
            if not context.is_active():
                return  # the caller went away: stop reading the database for it
            message = envelope_to_proto(entry.envelope)
            if page and size + message.ByteSize() > self._limits.max_page_bytes:
                yield federation_pb2.EntryPage(envelopes=page)
                page, size, pages = [], 0, pages + 1
                if pages == PAGES_PER_CALL:
                    return  # bounded call: the caller asks again from its advanced cursors
            page.append(message)
            size += message.ByteSize()
        if page:
            yield federation_pb2.EntryPage(envelopes=page)


def _cursors(request: federation_pb2.PullRequest) -> dict[KeyId, Seq]:
    if len(request.cursors) > MAX_CURSORS:
        raise InvalidInput(f"a pull names at most {MAX_CURSORS} origins")
    cursors: dict[KeyId, Seq] = {}
    for cursor in request.cursors:
        if cursor.seq > MAX_SEQ:
            raise InvalidInput(f"a cursor seq is at most {MAX_SEQ}")
        cursors[parse_key_id(cursor.origin)] = Seq(cursor.seq)
    return cursors
