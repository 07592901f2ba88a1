"""``accord review list|show|submit|decide|undo|held`` and ``accord appeal add|list|decide``.

The review queue for the operator at the node's own terminal: every item is visible (the
HTTP API filters by the account's maximum TLP), decisions are audited as the OS user.
"""

from __future__ import annotations

from pathlib import Path

import click

from node.app import AccordNode
from node.cli.options import home_option, json_option, open_node, write_json_option
from node.cli.output import emit, print_json, print_table
from node.model import Signal
from node.model.review import AppealOutcome, ContentRef, Decision, ReviewItem
from node.model.review_shapes import appeal_json, hold_json, item_json

_DECISIONS = click.Choice([d.value for d in Decision] + ["false_positive"])


def _item_lines(item: ReviewItem) -> list[str]:
    url = f" ({item.content.url})" if item.content.url else ""
    lines = [f"item {item.id}: content {item.content.id}{url}, {item.status.value}, since {item.created_at}"]
    for m in item.matches:
        lines.append(
            f"  {m.indicator_id}  {m.origin_name}  {m.category}  tlp {m.tlp.value}  {m.signal_type}"
            f" distance {m.distance}  trust {m.trust.value}  reasons {', '.join(m.reasons)}"
        )
    for d in item.decisions:
        undone = f" (undone by {d.undone_by})" if d.undone_by else ""
        appeal = f" on appeal {d.appeal_id}" if d.appeal_id else ""
        lines.append(f"  decision {d.decision.value}{appeal} by {d.reviewer} at {d.decided_at}{undone}")
    for a in item.appeals:
        lines.append(f"  appeal {a.id} ({a.outcome.value}) by {a.submitted_by}: {a.statement}")
    return lines


def _emit_item(node: AccordNode, item: ReviewItem, as_json: bool) -> None:
    emit(as_json, item_json(item, node.config.review.category_priority), _item_lines(item))


@click.group("review")
def review_group() -> None:
    """The review queue: matches a person must decide, one item per piece of content."""


@review_group.command("list")
@home_option
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
def review_list_cmd(home: Path | None, limit: int, as_json: bool) -> None:
    """Waiting items, highest category priority first, then oldest."""
    node = open_node(home)
    items = node.review_queue(limit=limit)
    if as_json:
        print_json([item_json(i, node.config.review.category_priority) for i in items])
        return
    if not items:
        click.echo("the review queue is empty")
        return
    priorities = node.config.review.category_priority
    print_table(
        ["id", "content", "status", "priority", "categories", "matches", "since"],
        [
            (i.id, i.content.id, i.status.value, i.priority(priorities), ",".join(sorted(i.categories)),
             len(i.matches), i.created_at)
            for i in items
        ],
    )  # fmt: skip


@review_group.command("show")
@home_option
@click.argument("item_id", type=int)
@json_option
def review_show_cmd(home: Path | None, item_id: int, as_json: bool) -> None:
    """One item: its content reference, matches and reasons, decisions and appeals."""
    node = open_node(home)
    _emit_item(node, node.review_item(item_id), as_json)


@review_group.command("submit")
@home_option
@click.argument("content_id")
@click.option("--signal", "signals", multiple=True, required=True, help="TYPE:VALUE of the content.")
@click.option("--url", default=None, help="The content's URL in your own system (optional).")
@click.option("--rule", "rules", multiple=True, help="Queue every match, because this rule says so.")
@write_json_option
def review_submit_cmd(
    home: Path | None, content_id: str, signals: tuple[str, ...], url: str | None, rules: tuple[str, ...],
    as_json: bool,
) -> None:  # fmt: skip
    """Match the content's signals and queue the matches that need a person."""
    node = open_node(home)
    results = node.match([Signal.parse(s) for s in signals])
    item = node.submit_for_review(ContentRef(content_id, url), results, rules)
    if item is None:
        emit(as_json, {"item": None}, ["nothing to review: no match needs a person"])
        return
    _emit_item(node, item, as_json)


@review_group.command("decide")
@home_option
@click.argument("item_id", type=int)
@click.argument("decision", type=_DECISIONS)
@click.option("--reason", default=None, help="Why (a false positive's reason goes in the dispute).")
@click.option("--safelist", is_flag=True, help="False positive: put the content on the local safelist.")
@write_json_option
def review_decide_cmd(
    home: Path | None, item_id: int, decision: str, reason: str | None, safelist: bool, as_json: bool
) -> None:
    """Confirm (publish agree), false-positive (publish a dispute) or escalate. Audited."""
    node = open_node(home)
    item = node.decide_review(item_id, Decision.parse(decision), reason=reason, safelist=safelist)
    _emit_item(node, item, as_json)


@review_group.command("undo")
@home_option
@click.argument("item_id", type=int)
@write_json_option
def review_undo_cmd(home: Path | None, item_id: int, as_json: bool) -> None:
    """Undo the item's decision within review.undo_seconds (withdraws its opinion). Audited."""
    node = open_node(home)
    _emit_item(node, node.undo_review(item_id), as_json)


@review_group.command("held")
@home_option
@json_option
def review_held_cmd(home: Path | None, as_json: bool) -> None:
    """Indicators flood protection holds (released by a decision on an item of theirs)."""
    node = open_node(home)
    names = node.names()
    rows = [hold_json(h, names.get(h.origin, h.origin[:12])) for h in node.flood.held()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("flood protection holds no indicator")
        return
    print_table(
        ["indicator", "origin", "category", "held at", "in window", "in baseline"],
        [(r["indicator_id"], r["origin_name"], r["category"], r["held_at"], r["matches_in_window"],
          r["matches_in_baseline"]) for r in rows],
    )  # fmt: skip


@click.group("appeal")
def appeal_group() -> None:
    """Appeals against an action on content: re-enter review with the original decision."""


@appeal_group.command("add")
@home_option
@click.argument("content_id")
@click.option("--statement", required=True, help="The user's statement.")
@write_json_option
def appeal_add_cmd(home: Path | None, content_id: str, statement: str, as_json: bool) -> None:
    """Appeal the confirmed decision on CONTENT_ID. Audited."""
    appeal = open_node(home).add_appeal(content_id, statement)
    emit(as_json, appeal_json(appeal), [f"appeal {appeal.id}: item {appeal.item_id} is back in review"])


@appeal_group.command("list")
@home_option
@click.option("--open", "open_only", is_flag=True, help="Only appeals waiting for a decision.")
@json_option
def appeal_list_cmd(home: Path | None, open_only: bool, as_json: bool) -> None:
    """Appeals, newest first."""
    appeals = open_node(home).appeals(open_only=open_only)
    if as_json:
        print_json([appeal_json(a) for a in appeals])
        return
    if not appeals:
        click.echo("no appeals")
        return
    print_table(
        ["id", "content", "item", "outcome", "submitted by", "at"],
        [(a.id, a.content_id, a.item_id, a.outcome.value, a.submitted_by, a.submitted_at) for a in appeals],
    )


@appeal_group.command("decide")
@home_option
@click.argument("appeal_id", type=int)
@click.argument("outcome", type=click.Choice(["uphold", "reverse"]))
@click.option("--reason", default=None, help="Why (a reversal's reason goes in the dispute).")
@click.option("--safelist", is_flag=True, help="Reverse: put the content on the local safelist.")
@write_json_option
def appeal_decide_cmd(
    home: Path | None, appeal_id: int, outcome: str, reason: str | None, safelist: bool, as_json: bool
) -> None:
    """Uphold the original decision, or reverse it (disputes the indicators). Audited."""
    appeal = open_node(home).decide_appeal(
        appeal_id, AppealOutcome.parse(outcome), reason=reason, safelist=safelist
    )
    emit(as_json, appeal_json(appeal), [f"appeal {appeal.id} {appeal.outcome.value}"])


COMMANDS = [review_group, appeal_group]
