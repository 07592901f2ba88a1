"""Conversions for the Local API's ``Query``: request → :class:`IndicatorQuery`, rows → proto.

RED is refused at conversion: the Local API is reachable by any process on the host, so RED
indicators leave the node only through ``accord query --include-red`` run by a person (audited).
"""

from __future__ import annotations

from node.model import ContentType, Signal, Tlp, parse_category, parse_key_id
from node.model.clock import format_timestamp
from node.model.provenance import parse_label
from node.model.queries import (
    IndicatorQuery,
    IndicatorStatus,
    QueryAnswer,
    QueryRow,
    SortKey,
    parse_time_bound,
)
from node.rpc.pb import local_pb2


def query_from_proto(message: local_pb2.QueryRequest) -> IndicatorQuery:
    """The query a request asks; raises InvalidInput naming the bad field."""
    fields: dict[str, object] = {
        "signal": Signal.parse(message.signal) if message.signal else None,
        "near": Signal.parse(message.near) if message.near else None,
        "categories": frozenset(parse_category(c) for c in message.categories),
        "origins": frozenset(parse_key_id(o) for o in message.origins),
        "tlps": frozenset(Tlp.parse(t) for t in message.tlps),
        "statuses": frozenset(IndicatorStatus.parse(s) for s in message.statuses),
        "content_types": frozenset(ContentType.parse(c) for c in message.content_types),
        "since": parse_time_bound(message.since) if message.since else None,
        "until": parse_time_bound(message.until) if message.until else None,
        "include_red": False,
        "labels": frozenset(parse_label(label) for label in message.labels),  # as --label, ?label=
    }
    if message.has_distance:
        fields["distance"] = message.distance
    if message.sort:
        fields["sort"] = SortKey.parse(message.sort)
    if message.limit:
        fields["limit"] = message.limit
    return IndicatorQuery(**fields)  # type: ignore[arg-type]


def answer_to_proto(answer: QueryAnswer) -> local_pb2.QueryResponse:
    """The rows of an answer."""
    return local_pb2.QueryResponse(rows=[_row(r) for r in answer.rows], truncated=answer.truncated)


def _row(row: QueryRow) -> local_pb2.IndicatorRow:
    ind = row.indicator
    return local_pb2.IndicatorRow(
        id=ind.id,
        origin=ind.origin,
        origin_name=row.origin_name,
        signal=str(ind.signal),
        category=ind.category,
        content_type=ind.content_type.value,
        tlp=ind.tlp.value,
        status=row.status.value,
        created=format_timestamp(ind.created),
        modified=format_timestamp(ind.modified),
        valid_until="" if ind.valid_until is None else format_timestamp(ind.valid_until),
        has_distance=row.distance is not None,
        distance=row.distance or 0,
    )


def query_to_proto(query: IndicatorQuery) -> local_pb2.QueryRequest:
    """The request asking ``query`` of a running node (RED is never asked this way)."""
    return local_pb2.QueryRequest(
        signal="" if query.signal is None else str(query.signal),
        near="" if query.near is None else str(query.near),
        distance=query.distance,
        has_distance=True,
        categories=sorted(query.categories),
        origins=sorted(query.origins),
        tlps=sorted(t.value for t in query.tlps),
        statuses=sorted(s.value for s in query.statuses),
        content_types=sorted(c.value for c in query.content_types),
        since="" if query.since is None else format_timestamp(query.since),
        until="" if query.until is None else format_timestamp(query.until),
        sort=query.sort.value,
        limit=query.limit,
        labels=sorted(query.labels),
    )
