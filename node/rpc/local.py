"""The operator's Local service: match signals or media, and report status. Loopback only."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import grpc

from node.errors import AccordError, InvalidInput, MediaError
from node.model import Signal
from node.model.provenance import ContentCredentials
from node.model.queries import IndicatorQuery, QueryAnswer
from node.rpc.convert import credentials_to_proto, match_result_to_proto
from node.rpc.errors import abort_with, status_for
from node.rpc.pb import local_pb2, local_pb2_grpc
from node.rpc.queries import answer_to_proto, query_from_proto
from node.sync.query import Matcher, signals_of_media

log = logging.getLogger(__name__)

ONLY_MATCH = "this port answers Match and MatchStream only: ask the node's local port (network.local_listen)"


class LocalServicer(local_pb2_grpc.LocalServicer):
    """Match API for the upload pipeline, and status for operators' tools."""

    def __init__(
        self,
        *,
        matcher: Matcher,
        status: Callable[[], local_pb2.StatusResponse] | None,
        max_batch: int,
        observe: Callable[[float, int], None] | None = None,
        query: Callable[[IndicatorQuery], QueryAnswer] | None = None,
        media_signals: Callable[[bytes], tuple[list[Signal], list[str]]] = signals_of_media,
        credentials: Callable[[bytes], ContentCredentials | None] | None = None,
    ) -> None:
        self._query = query
        self._credentials = credentials  # reads media's C2PA manifest (issue 15); None: never
        self._media_signals = media_signals  # hashes uploads under the node's media limits
        self._matcher = matcher
        self._status = status
        self._max_batch = max_batch
        self._observe = observe  # (seconds, signals) of each answered request, for metrics

    def Match(
        self, request: local_pb2.MatchRequest, context: grpc.ServicerContext
    ) -> local_pb2.MatchResponse:
        """Every match of every query signal (and of the media's signals), with provenance."""
        try:
            return self._answer(request)
        except AccordError as exc:
            abort_with(context, exc)
            raise  # unreachable: abort raises

    def MatchStream(
        self, requests: Iterator[local_pb2.MatchRequest], context: grpc.ServicerContext
    ) -> Iterator[local_pb2.MatchResponse]:
        """Bulk matching: one response per request, in order. A bad signal gets its own error in
        its request's response; a bad request (too many signals, none at all) ends the call with
        INVALID_ARGUMENT naming its position; the responses already sent stand."""
        for position, request in enumerate(requests):
            if not context.is_active():
                return  # the caller cancelled or its deadline passed: no more work for it
            try:
                response = self._answer(request)
            except AccordError as exc:
                log.info("MatchStream request %d refused: %s", position, exc.reason)
                context.abort(status_for(exc), f"request {position}: {exc}")
            yield response

    def _answer(self, request: local_pb2.MatchRequest) -> local_pb2.MatchResponse:
        started = time.perf_counter()
        queries, notes = self._queries(request)
        signals = [q for q in queries if isinstance(q, Signal)]
        matched = iter(self._matcher.match(signals) if signals else ())
        results = [match_result_to_proto(next(matched)) if isinstance(q, Signal) else q for q in queries]
        response = local_pb2.MatchResponse(results=results, media_notes=notes)
        if request.media and self._credentials is not None:
            _add_credentials(response, self._credentials, request.media)
        if self._observe is not None:
            self._observe(time.perf_counter() - started, len(signals))
        return response

    def Query(
        self, request: local_pb2.QueryRequest, context: grpc.ServicerContext
    ) -> local_pb2.QueryResponse:
        """Indicators the node holds, filtered like ``accord query`` (never TLP:RED)."""
        if self._query is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, ONLY_MATCH)
        try:
            return answer_to_proto(self._query(query_from_proto(request)))
        except AccordError as exc:
            abort_with(context, exc)
            raise  # unreachable: abort raises

    def Status(
        self, request: local_pb2.StatusRequest, context: grpc.ServicerContext
    ) -> local_pb2.StatusResponse:
        """Identity, partners with their last pull, counts and refusals."""
        if self._status is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, ONLY_MATCH)
        return self._status()

    def _queries(
        self, request: local_pb2.MatchRequest
    ) -> tuple[list[Signal | local_pb2.MatchResult], list[str]]:
        """The request's signals in order, each parsed or already answered with its error, then
        the media's signals. Too many signals, or none at all, refuse the whole call."""
        if len(request.signals) > self._max_batch:
            raise InvalidInput(f"a Match call takes at most {self._max_batch} signals")
        queries: list[Signal | local_pb2.MatchResult] = [_parse_or_refuse(text) for text in request.signals]
        notes: list[str] = []
        if request.media:
            media_signals, notes = self._media_signals(request.media)
            queries.extend(media_signals)
        if not queries:
            raise InvalidInput("give at least one signal or media bytes to match")
        return queries, notes


def _parse_or_refuse(text: str) -> Signal | local_pb2.MatchResult:
    """A query signal, or its result carrying why it cannot be matched (the rest of the batch
    is still answered)."""
    try:
        return Signal.parse(text)
    except InvalidInput as exc:
        return local_pb2.MatchResult(query=text, error=str(exc))


def _add_credentials(
    response: local_pb2.MatchResponse, read: Callable[[bytes], ContentCredentials | None], media: bytes
) -> None:
    """The media's C2PA summary beside the matches; a missing extra is a note, not an error."""
    try:
        found = read(media)
    except MediaError as exc:
        response.media_notes.append(f"C2PA not checked: {exc}")
        return
    if found is not None:
        response.credentials.CopyFrom(credentials_to_proto(found))
