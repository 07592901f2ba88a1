"""The JSON shapes of match results and query rows: one definition for ``--json`` and HTTP.

The CLI prints them and the HTTP API answers with them, so a script moving from one to the
other reads the same fields.
"""

from __future__ import annotations

from typing import Any

from node.model.clock import format_timestamp
from node.model.matches import Match, MatchResult
from node.model.provenance import Attestation, AttestationMatch, IndicatorNote, credentials_to_data
from node.model.queries import QueryRow


def match_result_json(label: str, result: MatchResult) -> dict[str, Any]:
    """One query signal's result, labelled by what the caller gave."""
    return {
        "query": label,
        "signal": str(result.query),
        "signal_type": result.query.type.value,
        "corroboration": result.corroboration,
        "matches": [match_json(m) for m in result.matches],
        "safelisted": result.safelisted,
        "suppressed": [match_json(m) for m in result.suppressed],
        "attestations": [attestation_match_json(a) for a in result.attestations],
    }


def attestation_match_json(a: AttestationMatch) -> dict[str, Any]:
    """An attested original a query meets: the verdict, the record and, for a video with frame
    times, which segments match. Provenance only: never a block-list match."""
    return {
        "verdict": a.verdict,
        "explanation": a.explanation(),
        "indicator_id": a.indicator_id,
        "origin": a.origin,
        "origin_name": a.origin_name,
        "signal_type": a.signal_type.value,
        "distance": a.distance,
        "tlp": a.tlp.value,
        "record": attestation_json(a.attestation),
        "description": a.note.description,
        "labels": list(a.note.labels),
        "segments": [{"start": g.start, "end": g.end, "matched": g.matched} for g in a.segments],
    }


def attestation_json(record: Attestation) -> dict[str, Any]:
    """A provenance record (frame times are counted, not listed)."""
    return {
        "record_id": record.record_id,
        "publisher": record.publisher,
        "published_at": format_timestamp(record.published_at),
        "where": record.where,
        "frames": len(record.frames),
        "c2pa": None if record.c2pa is None else credentials_to_data(record.c2pa),
    }


def refused_query_json(label: str, error: str) -> dict[str, Any]:
    """A query item that could not be matched (its value is not echoed: ``label`` names it)."""
    return {"query": label, "error": error, "matches": []}


def match_json(m: Match) -> dict[str, Any]:
    """One matching indicator with its provenance."""
    return {
        "indicator_id": m.indicator_id,
        "origin": m.origin,
        "origin_name": m.origin_name,
        "category": m.category,
        "signal_type": m.signal_type.value,
        "content_type": m.content_type.value,
        "distance": m.distance,
        "tlp": m.tlp.value,
        "query_match_percent": m.query_match_percent,
        "compared_match_percent": m.compared_match_percent,
        "trust": m.trust.value,
        "agreed": m.agreed,
        "disputed": m.disputed,
        "consensus": m.consensus.value,
        "corroboration": m.corroboration,
        "c2pa": None if m.c2pa is None else credentials_to_data(m.c2pa),  # the origin's reading
    }


def query_row_json(row: QueryRow) -> dict[str, Any]:
    """One indicator of a query's answer."""
    ind = row.indicator
    return {
        "id": ind.id,
        "origin": ind.origin,
        "origin_name": row.origin_name,
        "signal_type": ind.signal.type.value,
        "value": ind.signal.value,
        "category": ind.category,
        "content_type": ind.content_type.value,
        "tlp": ind.tlp.value,
        "status": row.status.value,
        "created": ind.created.isoformat(),
        "modified": ind.modified.isoformat(),
        "valid_until": None if ind.valid_until is None else ind.valid_until.isoformat(),
        "distance": row.distance,
        "warninglisted": row.warninglisted,
        **note_json(ind.note),
    }


def note_json(note: IndicatorNote | None) -> dict[str, Any]:
    """An indicator's description, labels, attestation record and the C2PA summary its origin
    read from the file it hashed (null / empty when none)."""
    record = None if note is None else note.attestation
    c2pa = None if note is None else note.c2pa
    return {
        "description": None if note is None else note.description,
        "labels": [] if note is None else list(note.labels),
        "attestation": None if record is None else attestation_json(record),
        "c2pa": None if c2pa is None else credentials_to_data(c2pa),
    }
