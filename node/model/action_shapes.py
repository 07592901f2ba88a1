"""The JSON shapes of actions: plans, deliveries, webhooks, rules (CLI ``--json`` and HTTP alike)."""

from __future__ import annotations

from typing import Any

from node.model.actions import ActionPlan, Rule, RuleCondition, Webhook
from node.model.deliveries import Delivery


def plan_json(plan: ActionPlan) -> dict[str, Any]:
    """What ``act_on`` decided for one piece of content."""
    return {
        "content_id": plan.content_id,
        "content_url": plan.content_url,
        "decision": plan.decision,
        "fired": list(plan.fired),
        "review": plan.review,
        "review_reasons": list(plan.review_reasons),
        "deliveries": [
            {
                "id": d.delivery_id,
                "rule": d.rule,
                "webhook": d.webhook,
                "idempotency_key": d.key,
                "matches": d.matches,
                "new": d.new,
            }
            for d in plan.deliveries
        ],
        "withheld": list(plan.withheld),
        "dry_run": plan.dry_run,
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    """One delivery of the outbox (never its body: that is the match record it carries)."""
    return {
        "id": d.id,
        "idempotency_key": d.key,
        "webhook": d.webhook,
        "rule": d.rule,
        "content_id": d.content_id,
        "state": d.state.value,
        "attempts": d.attempts,
        "created": d.created,
        "next_attempt_at": d.next_attempt_at,
        "last_attempt_at": d.last_attempt_at,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at,
    }


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """A webhook (its secret stays in its file)."""
    return {
        "name": hook.name,
        "url": hook.url,
        "secret_file": hook.secret_file,
        "max_tlp": hook.max_tlp.value,
        "added_at": hook.added_at,
    }


def condition_json(when: RuleCondition) -> dict[str, Any]:
    """A rule's condition as plain JSON values (empty lists mean any); also how it is stored."""
    return {
        "list_kinds": sorted(k.value for k in when.list_kinds),
        "categories": sorted(when.categories),
        "origins": sorted(when.origins),
        "trusts": sorted(t.value for t in when.trusts),
        "tlps": sorted(t.value for t in when.tlps),
        "decisions": sorted(when.decisions),
        "max_distance": when.max_distance,
    }


def rule_json(rule: Rule) -> dict[str, Any]:
    """A rule: its condition and its outcomes."""
    return {
        "name": rule.name,
        "when": condition_json(rule.when),
        "webhooks": list(rule.webhooks),
        "review": rule.review,
    }
