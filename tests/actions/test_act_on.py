"""act_on on a real node: plans, the outbox written in one transaction, idempotency, TLP."""

from __future__ import annotations

import sqlite3

import pytest

from node.app import AccordNode
from node.errors import InvalidInput, NotFound
from node.model import Tlp
from node.model.action_shapes import plan_json
from node.model.actions import Rule, RuleCondition
from node.model.review import MAX_CONTENT_ID, ContentRef
from node.model.shapes import match_result_json
from tests.actions.conftest import AMBER, GREEN, matched, signal_of
from tests.support.feeds import pdq_signal

HOOK_URL = "http://127.0.0.1:9/hook"  # never contacted here: act_on only accepts deliveries


def outbox_rows(node: AccordNode) -> list[tuple[object, ...]]:
    return node.store.reader.execute(
        "SELECT key, webhook, rule, state, body FROM outbox ORDER BY id"
    ).fetchall()


def runs(node: AccordNode) -> int:
    return int(node.store.reader.execute("SELECT COUNT(*) FROM action_runs").fetchone()[0])


def test_a_firing_rule_accepts_a_delivery_of_the_match_record_and_asks_for_review(node: AccordNode) -> None:
    node.add_webhook("hook", HOOK_URL)
    node.add_rule(Rule(name="csam", when=RuleCondition(categories=frozenset({"csam"})), webhooks=("hook",)))
    node.add_rule(Rule(name="green-review", when=RuleCondition(tlps=frozenset({Tlp.GREEN})), review=True))
    node.add_rule(Rule(name="ncii", when=RuleCondition(categories=frozenset({"ncii"})), review=True))
    results = matched(node, signal_of(GREEN), signal_of(AMBER), pdq_signal(999_999))
    plan = node.act_on(ContentRef("upload-1", "https://cdn.example/1"), results, None)
    assert plan.fired == ("csam", "green-review")
    assert plan.review and plan.review_reasons == ("green-review",)
    [delivery] = plan.deliveries
    assert delivery.new and delivery.matches == 2 and delivery.webhook == "hook"
    [(key, webhook, rule, state, body)] = outbox_rows(node)
    assert (key, webhook, rule, state) == (delivery.key, "hook", "csam", "pending")
    record = __import__("json").loads(body)
    assert record["content"] == {"id": "upload-1", "url": "https://cdn.example/1"}
    assert record["idempotency_key"] == key and record["rule"] == "csam"
    # the same shapes as `accord match --json`, only the results with a selected match
    assert record["results"] == [match_result_json(str(r.query), r) for r in results[:2]]
    assert runs(node) == 1
    assert plan_json(plan)["deliveries"][0]["idempotency_key"] == key


def test_acting_twice_on_the_same_content_accepts_one_delivery(node: AccordNode) -> None:
    node.add_webhook("hook", HOOK_URL)
    node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=("hook",)))
    results = matched(node, signal_of(GREEN))
    first = node.act_on(ContentRef("upload-1"), results, None)
    again = node.act_on(ContentRef("upload-1"), results, None)
    assert first.deliveries[0].new and not again.deliveries[0].new
    assert first.deliveries[0].delivery_id == again.deliveries[0].delivery_id
    other = node.act_on(ContentRef("upload-2"), results, None)
    assert other.deliveries[0].key != first.deliveries[0].key
    assert len(outbox_rows(node)) == 2


def test_dry_run_plans_and_writes_nothing(node: AccordNode) -> None:
    node.add_webhook("hook", HOOK_URL)
    node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=("hook",), review=True))
    plan = node.act_on(ContentRef("upload-1"), matched(node, signal_of(GREEN)), None, dry_run=True)
    assert plan.dry_run and plan.review and plan.deliveries[0].delivery_id is None
    assert outbox_rows(node) == [] and runs(node) == 0


def test_a_webhook_never_receives_matches_above_its_maximum_tlp(node: AccordNode) -> None:
    node.add_webhook("green-only", HOOK_URL, max_tlp=Tlp.GREEN)
    node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=("green-only",)))
    plan = node.act_on(ContentRef("amber-only"), matched(node, signal_of(AMBER)), None)
    assert plan.fired == ("all",) and plan.deliveries == () and plan.withheld == ("green-only",)
    mixed = node.act_on(ContentRef("mixed"), matched(node, signal_of(GREEN), signal_of(AMBER)), None)
    [(_, _, _, _, body)] = outbox_rows(node)
    assert mixed.deliveries[0].matches == 1
    assert b'"amber"' not in body and str(signal_of(AMBER)).encode() not in body


def test_no_firing_rule_records_nothing(node: AccordNode) -> None:
    node.add_webhook("hook", HOOK_URL)
    node.add_rule(Rule(name="ncii", when=RuleCondition(categories=frozenset({"ncii"})), webhooks=("hook",)))
    plan = node.act_on(ContentRef("upload-1"), matched(node, signal_of(GREEN)), None)
    assert plan.fired == () and not plan.review and outbox_rows(node) == [] and runs(node) == 0


def test_the_run_and_its_deliveries_commit_together_or_not_at_all(node: AccordNode) -> None:
    node.add_webhook("a", HOOK_URL)
    node.add_webhook("b", HOOK_URL)
    node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=("a", "b")))
    # the second delivery's insert fails inside the transaction (a real SQLite abort)
    with node.store.write() as tx:
        tx.execute(
            "CREATE TRIGGER fail_b BEFORE INSERT ON outbox WHEN NEW.webhook = 'b'"
            " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    with pytest.raises(sqlite3.IntegrityError):
        node.act_on(ContentRef("upload-1"), matched(node, signal_of(GREEN)), None)
    assert outbox_rows(node) == [] and runs(node) == 0  # nothing half-written


def test_content_references_and_rules_are_checked(node: AccordNode) -> None:
    results = matched(node, signal_of(GREEN))
    for bad in ("", "x" * (MAX_CONTENT_ID + 1), "line\nbreak"):
        with pytest.raises(InvalidInput, match="content id"):
            node.act_on(ContentRef(bad), results, None)
    for decision in ("", "d" * 65, "tab\there"):
        with pytest.raises(InvalidInput, match="decision"):
            node.act_on(ContentRef("upload-1"), results, decision)
    assert node.act_on(ContentRef("x" * MAX_CONTENT_ID), results, "removed", dry_run=True).fired == ()
    with pytest.raises(NotFound, match="no webhook named missing"):
        node.add_rule(Rule(name="r", when=RuleCondition(), webhooks=("missing",)))
    node.add_webhook("hook", HOOK_URL)
    node.add_rule(Rule(name="r", when=RuleCondition(), webhooks=("hook",)))
    with pytest.raises(InvalidInput, match="remove them first"):
        node.remove_webhook("hook")
    node.remove_rule("r")
    node.remove_webhook("hook")
    assert not (node.home.root / "webhooks" / "hook.secret").exists()
    actions = [r.action for r in node.audit.records()]
    assert actions[-4:] == ["webhook-add", "rule-add", "rule-remove", "webhook-remove"]
