"""The JSON shapes of the review queue: ``accord review|appeal ... --json`` and ``/v1/review``,
``/v1/appeals`` answer with the same objects. Indicator ids, origins, categories and levels;
never a hash value (the query signal kept for the safelist is not part of any shape)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from node.model.clock import format_timestamp
from node.model.review import Appeal, FloodHold, QueueMetrics, ReviewDecision, ReviewItem


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def decision_json(decision: ReviewDecision) -> dict[str, Any]:
    """One decision."""
    return {
        "id": decision.id,
        "decision": decision.decision.value,
        "reason": decision.reason,
        "reviewer": decision.reviewer,
        "decided_at": _stamp(decision.decided_at),
        "opinion_indicator_ids": list(decision.opinion_ids),
        "safelisted": decision.safelisted,
        "appeal_id": decision.appeal_id,
        "undone_at": _stamp(decision.undone_at),
        "undone_by": decision.undone_by,
    }


def appeal_json(appeal: Appeal) -> dict[str, Any]:
    """One appeal."""
    return {
        "id": appeal.id,
        "content_id": appeal.content_id,
        "item_id": appeal.item_id,
        "statement": appeal.statement,
        "submitted_by": appeal.submitted_by,
        "submitted_at": _stamp(appeal.submitted_at),
        "outcome": appeal.outcome.value,
        "decided_by": appeal.decided_by,
        "decided_at": _stamp(appeal.decided_at),
        "reason": appeal.reason,
    }


def item_json(item: ReviewItem, priorities: Mapping[str, int]) -> dict[str, Any]:
    """One queue item: the content reference, every match with its reasons, the decisions
    (the original one shown beside an appeal) and the appeals."""
    current = item.current_decision
    return {
        "id": item.id,
        "content_id": item.content.id,
        "content_url": item.content.url,
        "status": item.status.value,
        "priority": item.priority(priorities),
        "created_at": _stamp(item.created_at),
        "updated_at": _stamp(item.updated_at),
        "matches": [
            {
                "indicator_id": m.indicator_id,
                "origin": m.origin,
                "origin_name": m.origin_name,
                "category": m.category,
                "tlp": m.tlp.value,
                "signal_type": m.signal_type,
                "distance": m.distance,
                "trust": m.trust.value,
                "reasons": list(m.reasons),
            }
            for m in item.matches
        ],
        "decision": None if current is None else decision_json(current),
        "decisions": [decision_json(d) for d in item.decisions],
        "appeals": [appeal_json(a) for a in item.appeals],
    }


def metrics_json(metrics: QueueMetrics) -> dict[str, Any]:
    """Queue metrics (``status --json`` under ``review``, and ``GET /v1/review/metrics``)."""
    return {
        "depth": metrics.depth,
        "by_status": metrics.by_status,
        "oldest_age_seconds": metrics.oldest_age_seconds,
        "decisions_last_hour": metrics.decisions_last_hour,
        "decisions_by_reviewer": metrics.decisions_by_reviewer,
        "appeals_open": metrics.appeals_open,
        "flood_held": metrics.held,
    }


def hold_json(hold: FloodHold, origin_name: str) -> dict[str, Any]:
    """An indicator flood protection holds."""
    return {
        "indicator_id": hold.indicator_id,
        "origin": hold.origin,
        "origin_name": origin_name,
        "category": hold.category,
        "held_at": _stamp(hold.held_at),
        "matches_in_window": hold.in_window,
        "matches_in_baseline": hold.in_baseline,
    }
