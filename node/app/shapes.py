"""The JSON shapes of the CLI's ``--json`` that the HTTP API answers with too: ``accord status``
(``GET /v1/status``), ``accord show`` (``GET /v1/indicators/{id}``), ``accord contribute``
(``POST /v1/indicators``) and revoke / expire / relabel (``POST /v1/indicators/{id}/...``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from node.model.action_shapes import plan_json
from node.model.provenance import credentials_to_data
from node.model.review_shapes import metrics_json
from node.model.shapes import query_row_json

if TYPE_CHECKING:
    from node.app.contribute import Refusal
    from node.app.contributing import ContributeReport
    from node.app.node import AccordNode
    from node.app.responding import Response
    from node.sync.lookup import Provenance
    from node.sync.publish import PublishReport
    from node.sync.status import NodeStatus


def status_json(node: AccordNode, status: NodeStatus | None = None) -> dict[str, Any]:
    """Identity, partners with their last sync, counts, refusals and alerts (of ``status``, or
    of the node's status now)."""
    status = status or node.status()
    names = node.names()
    return {
        "name": status.name,
        "key_id": status.key_id,
        "own_head_seq": status.own_head_seq,
        "compromised": {name: mark.from_seq for name, mark in node.compromised().items()},
        "partners": [
            {
                "name": p.partner.name,
                "key_id": p.partner.key_id,
                "endpoint": p.partner.endpoint,
                "head_seq": p.head_seq,
                "last_attempt": p.sync.last_attempt if p.sync else None,
                "last_success": p.sync.last_success if p.sync else None,
                "last_result": p.sync.last_result if p.sync else None,
                "last_error": p.sync.last_error if p.sync else None,
                "received": p.sync.received if p.sync else 0,
                "rejected": p.sync.rejected if p.sync else 0,
            }
            for p in status.partners
        ],
        "counts": [
            {
                "origin": c.origin,
                "origin_name": names.get(c.origin, c.origin[:12]),
                "category": c.category,
                "signal_type": c.signal_type,
                "count": c.count,
            }
            for c in status.counts
        ],
        "rejections": status.rejections,
        "evidence": status.evidence,
        "quarantined": list(status.quarantined),
        "stale": status.stale,
        "bodies_missing": status.bodies_missing,
        "bodies_missing_long": status.bodies_missing_long,
        "warninglisted": status.warninglisted,
        "deliveries": node.delivery_summary(),
        "review": metrics_json(node.review_metrics()),  # queue depth, age, decisions, flood holds
    }


def response_json(node: AccordNode, response: Response) -> dict[str, Any]:
    """What acting on one piece of content did (``action`` of a match that names ``content``):
    the rules that fired and the deliveries they put in the outbox, the indicators put before a
    person instead of auto-action, and the review item the content is in."""
    item = response.item
    return {
        "content": {"id": response.content.id, "url": response.content.url},
        "for_review": list(response.for_review),
        "review_item": None if item is None else item.id,
        **{k: v for k, v in plan_json(response.plan).items() if k not in ("content_id", "content_url")},
    }


def refusals_json(refused: Iterable[Refusal]) -> list[dict[str, Any]]:
    """Refused items: where (file:line, object or redacted signal), why, and whether an earlier
    run refused the same item for the same reason."""
    return [{"source": r.source, "reason": r.reason, "known": r.known} for r in refused]


def contribute_json(report: ContributeReport) -> dict[str, Any]:
    """``accord contribute --json``: what was published, in which entries, what was refused."""
    p = report.publish
    seqs = [] if p is None else [int(s) for s in p.seqs]
    return {
        "published": bool(seqs),
        "entries": seqs,
        "added": 0 if p is None else p.added,
        "relabelled": 0 if p is None else p.updated,
        "duplicates": report.duplicates,
        "refused": refusals_json(report.refused),
        "forced": [{"source": n.source, "reason": n.reason} for n in report.forced],
        # The C2PA summary recorded with each media file's indicators, or why none was checked.
        "c2pa": [{"file": path, **credentials_to_data(found)} for path, found in report.credentials],
        "c2pa_note": report.c2pa_note,
    }


def curation_json(action: str, report: PublishReport, refused: Sequence[Refusal]) -> dict[str, Any]:
    """``--json`` of revoke, expire and relabel: what changed, in which entries, what was refused."""
    return {
        "action": action,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "entries": [int(s) for s in report.seqs],
        "refused": refusals_json(refused),
    }


def provenance_json(item: Provenance) -> dict[str, Any]:
    """``accord show --json``: one indicator with every version, opinions, sightings, matches."""
    return {
        **query_row_json(item.row),
        "versions": [
            {
                "seq": v.seq,
                "digest": v.digest,
                "created": v.created,
                "received_at": v.received_at,
                "via": v.via,
                "verification": v.verification,
                "modified": None if v.indicator is None else v.indicator.modified.isoformat(),
                "category": None if v.indicator is None else v.indicator.category,
                "revoked": None if v.indicator is None else v.indicator.revoked,
            }
            for v in item.versions
        ],
        "matches": None
        if item.matches is None
        else {
            "count": item.matches.count,
            "first_day": item.matches.first_day,
            "last_at": item.matches.last_at,
        },
        "opinions": list(item.opinions),
        "sightings": list(item.sightings),
    }
