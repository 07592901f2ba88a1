"""The JSON shape of ``accord status --json``, which ``GET /v1/status`` answers with too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.model.review_shapes import metrics_json

if TYPE_CHECKING:
    from node.app.node import AccordNode
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
        "review": metrics_json(node.review_metrics()),  # queue depth, age, decisions, flood holds
    }
