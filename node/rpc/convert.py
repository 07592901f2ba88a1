"""Conversions between protobuf messages and domain values, in pairs."""

from __future__ import annotations

from node.errors import InvalidSignal
from node.model import (
    ContentType,
    Envelope,
    EnvelopeSignature,
    KeyId,
    Match,
    MatchResult,
    Signal,
    SignalType,
    SignedEntry,
    Tlp,
    Trust,
)
from node.model.clock import format_timestamp, parse_timestamp
from node.model.provenance import Attestation, AttestationMatch, ContentCredentials, IndicatorNote, Segment
from node.rpc.pb import federation_pb2, local_pb2
from node.store import CountRow
from node.sync.status import NodeStatus


def envelope_to_proto(envelope: Envelope) -> federation_pb2.Envelope:
    """The envelope's bytes as they are; nothing is re-serialised."""
    return federation_pb2.Envelope(
        payload_type=envelope.payload_type,
        payload=envelope.payload,
        signatures=[federation_pb2.Signature(keyid=s.keyid, sig=s.sig) for s in envelope.signatures],
    )


def envelope_from_proto(message: federation_pb2.Envelope) -> Envelope:
    """An envelope exactly as received; verification happens in ingest."""
    return Envelope(
        payload_type=message.payload_type,
        payload=bytes(message.payload),
        signatures=tuple(
            EnvelopeSignature(keyid=KeyId(s.keyid), sig=bytes(s.sig)) for s in message.signatures
        ),
    )


def entry_to_proto(header: Envelope, body: bytes | None) -> federation_pb2.Entry:
    """A header envelope and its body as held (None: we do not hold it)."""
    return federation_pb2.Entry(header=envelope_to_proto(header), body=body or b"", has_body=body is not None)


def entry_from_proto(message: federation_pb2.Entry) -> SignedEntry:
    """An entry exactly as received; verification happens in ingest."""
    return SignedEntry(
        header=envelope_from_proto(message.header),
        body=bytes(message.body) if message.has_body else None,
    )


def match_result_to_proto(result: MatchResult) -> local_pb2.MatchResult:
    """A match result with every match's provenance."""
    return local_pb2.MatchResult(
        query=str(result.query),
        corroboration=result.corroboration,
        matches=[_match_to_proto(m) for m in result.matches],
        safelisted=result.safelisted,
        suppressed=[_match_to_proto(m) for m in result.suppressed],
        attestations=[_attestation_to_proto(a) for a in result.attestations],
    )


def _attestation_to_proto(a: AttestationMatch) -> local_pb2.AttestationMatch:
    record = a.attestation
    return local_pb2.AttestationMatch(
        indicator_id=a.indicator_id,
        origin=a.origin,
        origin_name=a.origin_name,
        signal_type=a.signal_type.value,
        distance=a.distance,
        tlp=a.tlp.value,
        verdict=a.verdict,
        record_id=record.record_id,
        publisher=record.publisher,
        published_at=format_timestamp(record.published_at),
        where=record.where,
        description=a.note.description,
        labels=list(a.note.labels),
        segments=[local_pb2.AttestedSegment(start=g.start, end=g.end, matched=g.matched) for g in a.segments],
        c2pa=None if record.c2pa is None else credentials_to_proto(record.c2pa),
    )


def _attestation_from_proto(m: local_pb2.AttestationMatch) -> AttestationMatch:
    """The frame times stay on the node: the segments already say what they showed."""
    record = Attestation(
        record_id=m.record_id,
        publisher=m.publisher,
        published_at=parse_timestamp(m.published_at),
        where=m.where,
        c2pa=credentials_from_proto(m.c2pa) if m.HasField("c2pa") else None,
    )
    return AttestationMatch(
        indicator_id=m.indicator_id,
        origin=KeyId(m.origin),
        origin_name=m.origin_name,
        signal_type=SignalType(m.signal_type),
        distance=m.distance,
        tlp=Tlp(m.tlp),
        attestation=record,
        note=IndicatorNote(
            description=m.description if m.HasField("description") else None,
            labels=tuple(m.labels),
            attestation=record,
        ),
        segments=tuple(Segment(start=g.start, end=g.end, matched=g.matched) for g in m.segments),
    )


def _match_to_proto(m: Match) -> local_pb2.Match:
    return local_pb2.Match(
        indicator_id=m.indicator_id,
        origin=m.origin,
        origin_name=m.origin_name,
        category=m.category,
        signal_type=m.signal_type.value,
        content_type=m.content_type.value,
        distance=m.distance,
        tlp=m.tlp.value,
        query_match_percent=m.query_match_percent,
        compared_match_percent=m.compared_match_percent,
        agreed=m.agreed,
        disputed=m.disputed,
        consensus=m.consensus.value,
        corroboration=m.corroboration,
        trust=m.trust.value,
        c2pa=None if m.c2pa is None else credentials_to_proto(m.c2pa),
    )


def match_result_from_proto(message: local_pb2.MatchResult) -> MatchResult:
    """A match result as the Local API reported it; a result carrying the node's per-item
    ``error`` (a query signal it could not read) raises :class:`InvalidSignal` with it."""
    if message.error:
        raise InvalidSignal(f"the node could not match a query signal: {message.error}")
    return MatchResult(
        query=Signal.parse(message.query),
        matches=tuple(_match_from_proto(m) for m in message.matches),
        suppressed=tuple(_match_from_proto(m) for m in message.suppressed),
        safelisted=message.safelisted,
        attestations=tuple(_attestation_from_proto(a) for a in message.attestations),
    )


def _match_from_proto(m: local_pb2.Match) -> Match:
    return Match(
        indicator_id=m.indicator_id,
        origin=KeyId(m.origin),
        origin_name=m.origin_name,
        category=m.category,
        signal_type=SignalType(m.signal_type),
        content_type=ContentType(m.content_type),
        distance=m.distance,
        tlp=Tlp(m.tlp),
        query_match_percent=m.query_match_percent if m.HasField("query_match_percent") else None,
        compared_match_percent=m.compared_match_percent if m.HasField("compared_match_percent") else None,
        agreed=m.agreed,
        disputed=m.disputed,
        corroboration=m.corroboration,
        trust=Trust(m.trust),
        c2pa=credentials_from_proto(m.c2pa) if m.HasField("c2pa") else None,
    )


def status_to_proto(
    status: NodeStatus, *, names: dict[KeyId, str], sizes: dict[str, int], ready: bool
) -> local_pb2.StatusResponse:
    """The node status as the Local API reports it."""
    return local_pb2.StatusResponse(
        name=status.name,
        key_id=status.key_id,
        own_head_seq=status.own_head_seq,
        partners=[
            local_pb2.PartnerStatus(
                name=p.partner.name,
                key_id=p.partner.key_id,
                endpoint=p.partner.endpoint or "",
                head_seq=p.head_seq,
                last_attempt=(p.sync.last_attempt or "") if p.sync else "",
                last_success=(p.sync.last_success or "") if p.sync else "",
                last_result=(p.sync.last_result or "") if p.sync else "",
            )
            for p in status.partners
        ],
        counts=[_count_to_proto(c, names) for c in status.counts],
        rejections=status.rejections,
        list_sizes=sizes,
        ready=ready,
    )


def _count_to_proto(row: CountRow, names: dict[KeyId, str]) -> local_pb2.CountRow:
    return local_pb2.CountRow(
        origin=row.origin,
        origin_name=names.get(row.origin, row.origin[:12]),
        category=row.category,
        signal_type=row.signal_type,
        count=row.count,
    )


def credentials_to_proto(c: ContentCredentials) -> local_pb2.ContentCredentials:
    """A C2PA manifest summary for the Match API."""
    return local_pb2.ContentCredentials(
        validation_state=c.validation_state,
        valid=c.valid,
        trusted=c.trusted,
        claim_generator=c.claim_generator,
        signer=c.signer,
        issuer=c.issuer,
        signing_time=c.signing_time,
        actions=list(c.actions),
        ai_generated=c.ai_generated,
    )


def credentials_from_proto(m: local_pb2.ContentCredentials) -> ContentCredentials:
    """Inverse of :func:`credentials_to_proto`."""

    def text(name: str) -> str | None:
        return getattr(m, name) if m.HasField(name) else None  # type: ignore[arg-type]

    return ContentCredentials(
        validation_state=m.validation_state,
        valid=m.valid,
        trusted=m.trusted,
        claim_generator=text("claim_generator"),
        signer=text("signer"),
        issuer=text("issuer"),
        signing_time=text("signing_time"),
        actions=tuple(m.actions),
        ai_generated=m.ai_generated,
    )
