"""The partner-facing Federation service: thin handlers over the serve use case.

validate → authenticate → convert → call → convert; errors map to statuses in one table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import grpc

from node import __version__
from node.config import LimitsSection
from node.errors import AccordError, InvalidInput, NotFound, Unauthenticated
from node.feed import NodeIdentity
from node.model import Envelope, KeyId, Partner, Seq, SignedEntry, parse_key_id
from node.model.clock import utc_now
from node.rpc.auth import RequestVerifier
from node.rpc.convert import entry_from_proto, entry_to_proto, envelope_from_proto, envelope_to_proto
from node.rpc.errors import abort_with
from node.rpc.pb import federation_pb2, federation_pb2_grpc
from node.rpc.refusals import Refusals
from node.store import Store
from node.sync.encryption import confirm_encryption_key
from node.sync.heads import heads_for
from node.sync.pull import PullReport
from node.sync.serve import MAX_BODIES_PER_CALL, bodies_for, entries_for

Receiver = Callable[[Partner, Iterator[SignedEntry]], PullReport]
"""Ingests entries a partner pushed, exactly as pulled ones (``Puller.receive``)."""

log = logging.getLogger(__name__)

PULL_METHOD = "/accord.v1.Federation/Pull"
HEADS_METHOD = "/accord.v1.Federation/Heads"
PUSH_METHOD = "/accord.v1.Federation/Push"
BODIES_METHOD = "/accord.v1.Federation/Bodies"
MAX_CURSORS = 10_000  # origins one request may name; far above any real federation
MAX_SEQ = 2**63 - 1  # SQLite's INTEGER range; the wire type (uint64) allows more
PAGES_PER_CALL = 32  # one call streams at most this many pages; the caller then asks again
# What an Entry adds to its header and body on the wire, at most: the page's tag and length for
# it, the header's and the body's, and has_body (1 + 10 + 1 + 10 + 1 + 10 + 2 bytes).
_ENTRY_FRAMING = 35


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
        receive: Receiver | None = None,
        origin: KeyId | None = None,
        statement: Callable[[], Envelope] | None = None,
        refusals: Refusals | None = None,
        signing_identity: Callable[[], NodeIdentity] | None = None,
    ) -> None:
        # The key that signs our feed now (it may change under a running server: key rotate).
        self._signing_identity = signing_identity
        # Our signed encryption-key statement, made fresh per call (it carries a time).
        self._statement = statement
        self._refusals = refusals or Refusals(store)
        self._receive = receive
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
            encryption_key=envelope_to_proto(self._statement()) if self._statement else None,
        )

    def Pull(
        self, request: federation_pb2.PullRequest, context: grpc.ServicerContext
    ) -> Iterator[federation_pb2.EntryPage]:
        """Stream the entries after the caller's cursors that TLP lets it receive."""
        try:
            caller = self._verifier.verify(PULL_METHOD, request, context.invocation_metadata())
            cursors = _cursors(request)
            self._confirm_key(caller, request.encryption_key if request.HasField("encryption_key") else None)
        except AccordError as exc:
            self._refusals.record(exc, method=PULL_METHOD, peer=context.peer())
            abort_with(context, exc)
            return
        yield from self._pages(caller, cursors, context)

    def Bodies(
        self, request: federation_pb2.BodiesRequest, context: grpc.ServicerContext
    ) -> Iterator[federation_pb2.BodiesPage]:
        """Stream the bodies we hold of the positions asked for (sealed ones as ciphertext)."""
        try:
            self._verifier.verify(BODIES_METHOD, request, context.invocation_metadata())
            wanted = _wanted(request)
        except AccordError as exc:
            self._refusals.record(exc, method=BODIES_METHOD, peer=context.peer())
            abort_with(context, exc)
            return
        page: list[federation_pb2.Body] = []
        size = 0
        for entry in bodies_for(self._store, wanted):
            if not context.is_active():
                return
            assert entry.body is not None  # bodies_for yields only held bodies
            message = federation_pb2.Body(origin=entry.origin, seq=entry.seq, body=entry.body)
            if page and size + message.ByteSize() > self._limits.max_page_bytes:
                yield federation_pb2.BodiesPage(bodies=page)
                page, size = [], 0
            page.append(message)
            size += message.ByteSize()
        if page:
            yield federation_pb2.BodiesPage(bodies=page)

    def _statements(self, caller: KeyId) -> list[federation_pb2.Envelope]:
        """Our own signed encryption-key statement, then those we hold of other nodes."""
        own = [envelope_to_proto(self._statement())] if self._statement else []
        return own + [envelope_to_proto(s) for s in self._store.encryption_statements()]

    def _confirm_key(self, caller: KeyId, statement: federation_pb2.Envelope | None) -> None:
        """Record the caller's signed encryption-key statement (what we seal to it)."""
        if statement is None:
            return
        confirm_encryption_key(
            self._store,
            envelope_from_proto(statement),
            node=caller,
            pinned=self._store.pinned_keys(),
            source="its request",
        )

    def Heads(
        self, request: federation_pb2.HeadsRequest, context: grpc.ServicerContext
    ) -> federation_pb2.HeadsResponse:
        """Origin-signed heads of the feeds the caller may receive from us, and how far we hold them."""
        try:
            caller = self._verifier.verify(HEADS_METHOD, request, context.invocation_metadata())
            self._confirm_key(caller, request.encryption_key if request.HasField("encryption_key") else None)
        except AccordError as exc:
            self._refusals.record(exc, method=HEADS_METHOD, peer=context.peer())
            abort_with(context, exc)
            raise  # abort_with raises; this line only satisfies the type checker
        signer = self._signing_identity() if self._signing_identity else self._identity
        view = heads_for(self._store, identity=signer, origin=self._origin, now=utc_now())
        return federation_pb2.HeadsResponse(
            heads=[envelope_to_proto(h) for h in view.heads],
            held=[federation_pb2.Cursor(origin=o, seq=s) for o, s in sorted(view.held.items())],
            encryption_keys=self._statements(caller),
        )

    def Push(
        self, request_iterator: Iterator[federation_pb2.PushRequest], context: grpc.ServicerContext
    ) -> federation_pb2.PushReply:
        """Ingest the entries a partner pushes, verified exactly like pulled ones."""
        try:
            if self._receive is None:
                raise NotFound("this node does not accept pushed entries")
            caller = self._verifier.verify(
                PUSH_METHOD, federation_pb2.PushRequest(), context.invocation_metadata()
            )
            partner = next((p for p in self._store.partners() if p.key_id == caller), None)
            if partner is None:  # unpinned between verification and now
                raise Unauthenticated("caller key is not pinned by this node")
        except AccordError as exc:
            self._refusals.record(exc, method=PUSH_METHOD, peer=context.peer())
            abort_with(context, exc)
            raise
        report = self._receive(partner, _pushed(request_iterator))
        return federation_pb2.PushReply(accepted=report.accepted, refused=dict(report.rejected))

    def _pages(
        self, caller: KeyId, cursors: dict[KeyId, Seq], context: grpc.ServicerContext
    ) -> Iterator[federation_pb2.EntryPage]:
        page: list[federation_pb2.Entry] = []
        size = pages = 0
        for entry in entries_for(self._store, cursors=cursors):
            if not context.is_active():
                return  # the caller went away: stop reading the database for it
            message = entry_to_proto(entry.envelope, entry.body)
            message_size = page_bytes(message, entry.body)
            if page and size + message_size > self._limits.max_page_bytes:
                yield federation_pb2.EntryPage(entries=page)
                page, size, pages = [], 0, pages + 1
                if pages == PAGES_PER_CALL:
                    return  # bounded call: the caller asks again from its advanced cursors
            page.append(message)
            size += message_size
        if page:
            yield federation_pb2.EntryPage(entries=page)


def page_bytes(message: federation_pb2.Entry, body: bytes | None) -> int:
    """What ``message`` adds to an EntryPage on the wire, at most. The body is counted by its
    length: ``ByteSize()`` serialises the whole message to measure it, megabytes copied only
    to be counted."""
    return message.header.ByteSize() + len(body or b"") + _ENTRY_FRAMING


def _pushed(requests: Iterator[federation_pb2.PushRequest]) -> Iterator[SignedEntry]:
    for message in requests:
        for entry in message.entries:
            yield entry_from_proto(entry)


def _wanted(request: federation_pb2.BodiesRequest) -> list[tuple[KeyId, Seq]]:
    if len(request.wanted) > MAX_BODIES_PER_CALL:
        raise InvalidInput(f"a Bodies call names at most {MAX_BODIES_PER_CALL} positions")
    wanted: list[tuple[KeyId, Seq]] = []
    for cursor in request.wanted:
        if not 0 < cursor.seq <= MAX_SEQ:
            raise InvalidInput(f"a body's seq is between 1 and {MAX_SEQ}")
        wanted.append((parse_key_id(cursor.origin), Seq(cursor.seq)))
    return wanted


def _cursors(request: federation_pb2.PullRequest) -> dict[KeyId, Seq]:
    if len(request.cursors) > MAX_CURSORS:
        raise InvalidInput(f"a pull names at most {MAX_CURSORS} origins")
    cursors: dict[KeyId, Seq] = {}
    for cursor in request.cursors:
        if cursor.seq > MAX_SEQ:
            raise InvalidInput(f"a cursor seq is at most {MAX_SEQ}")
        cursors[parse_key_id(cursor.origin)] = Seq(cursor.seq)
    return cursors
