"""``accord webhook``, ``accord action`` and ``accord delivery``: rules, webhooks and the outbox."""

from __future__ import annotations

from pathlib import Path

import click

from node.app.delivering import Deliverer
from node.cli.commands_query import file_signals, signal_queries
from node.cli.options import home_option, json_option, open_node, write_json_option
from node.cli.output import emit, print_json, print_table, warn
from node.model import SignalType, Tlp, Trust
from node.model.action_shapes import delivery_json, plan_json, rule_json, webhook_json
from node.model.actions import Rule, RuleCondition
from node.model.deliveries import DeliveryState
from node.model.review import ContentRef

EXIT_PEER = 4
_TLP = click.Choice([t.value for t in Tlp])
_STATE = click.Choice([s.value for s in DeliveryState])


@click.group("webhook")
def webhook_group() -> None:
    """Webhooks that action rules POST signed match records to."""


@webhook_group.command("add")
@home_option
@click.argument("name")
@click.argument("url")
@click.option(
    "--max-tlp",
    type=_TLP,
    default="amber+strict",
    show_default=True,
    help="Most restricted TLP a delivery to it may carry; matches above are left out of it.",
)
@write_json_option
def webhook_add_cmd(home: Path | None, name: str, url: str, max_tlp: str, as_json: bool) -> None:
    """Add webhook NAME posting to URL (https, or http to loopback) and generate its secret
    file (mode 0600): give that secret to the receiver, which verifies each signature. Audited."""
    created = open_node(home).add_webhook(name, url, max_tlp=Tlp.parse(max_tlp))
    data = webhook_json(created.webhook) | {"secret_path": created.secret_path}
    emit(as_json, data, [f"added webhook {name}: {url}", f"secret (HMAC key) in {created.secret_path}"])


@webhook_group.command("list")
@home_option
@json_option
def webhook_list_cmd(home: Path | None, as_json: bool) -> None:
    """List webhooks (never their secrets)."""
    rows = [webhook_json(h) for h in open_node(home).webhooks()]
    if as_json:
        print_json(rows)
    elif not rows:
        click.echo("no webhooks (add one with 'accord webhook add NAME URL')")
    else:
        print_table(["name", "url", "max tlp"], [(r["name"], r["url"], r["max_tlp"]) for r in rows])


@webhook_group.command("remove")
@home_option
@click.argument("name")
def webhook_remove_cmd(home: Path | None, name: str) -> None:
    """Remove webhook NAME and its secret (refused while a rule POSTs to it). Audited."""
    open_node(home).remove_webhook(name)
    click.echo(f"removed webhook {name}")


@click.group("action")
def action_group() -> None:
    """Action rules, and acting on a piece of content's matches."""


@action_group.group("rule")
def rule_group() -> None:
    """Rules: when a match looks like this, POST webhooks and/or ask for review."""


@rule_group.command("add")
@home_option
@click.argument("name")
@click.option("--webhook", "webhooks", multiple=True, help="POST to this webhook. Repeatable.")
@click.option("--review", is_flag=True, help="Ask for review by a person (in the plan's review flag).")
@click.option("--list-kind", "list_kinds", multiple=True, type=click.Choice([t.value for t in SignalType]))
@click.option("--category", "categories", multiple=True, help="Harm category. Repeatable.")
@click.option("--origin", "origins", multiple=True, help="Origin: local name or key id. Repeatable.")
@click.option("--trust", "trusts", multiple=True, type=click.Choice([t.value for t in Trust]))
@click.option("--tlp", "tlps", multiple=True, type=_TLP)
@click.option("--decision", "decisions", multiple=True, help="The caller's decision ('none': without one).")
@click.option(
    "--max-distance", type=click.IntRange(0, 256), default=None, help="Largest match distance (bits)."
)
@write_json_option
def rule_add_cmd(
    home: Path | None,
    name: str,
    webhooks: tuple[str, ...],
    review: bool,
    list_kinds: tuple[str, ...],
    categories: tuple[str, ...],
    origins: tuple[str, ...],
    trusts: tuple[str, ...],
    tlps: tuple[str, ...],
    decisions: tuple[str, ...],
    max_distance: int | None,
    as_json: bool,
) -> None:
    """Add rule NAME: it fires for content with a match satisfying every condition given
    (repeat an option for OR; none given: any match). Audited."""
    when = RuleCondition(
        list_kinds=frozenset(SignalType(k) for k in list_kinds),
        categories=frozenset(categories),
        origins=frozenset(origins),
        trusts=frozenset(Trust(t) for t in trusts),
        tlps=frozenset(Tlp(t) for t in tlps),
        decisions=frozenset(decisions),
        max_distance=max_distance,
    )
    rule = Rule(name=name, when=when, webhooks=tuple(webhooks), review=review)
    open_node(home).add_rule(rule)
    emit(as_json, rule_json(rule), [f"added rule {name}"])


@rule_group.command("list")
@home_option
@json_option
def rule_list_cmd(home: Path | None, as_json: bool) -> None:
    """List rules."""
    rows = [rule_json(r) for r in open_node(home).action_rules()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no rules (add one with 'accord action rule add')")
        return
    print_table(["name", "when", "do"], [(r["name"], _when_text(r["when"]), _do_text(r)) for r in rows])


def _when_text(when: dict[str, object]) -> str:
    parts = [f"{k}={','.join(v)}" for k, v in when.items() if isinstance(v, list) and v]
    if when["max_distance"] is not None:
        parts.append(f"distance<={when['max_distance']}")
    return " ".join(parts) or "any match"


def _do_text(rule: dict[str, object]) -> str:
    hooks = rule["webhooks"]
    parts = [f"POST {h}" for h in hooks] if isinstance(hooks, list) else []
    return ", ".join(parts + (["review"] if rule["review"] else []))


@rule_group.command("remove")
@home_option
@click.argument("name")
def rule_remove_cmd(home: Path | None, name: str) -> None:
    """Remove rule NAME. Audited."""
    open_node(home).remove_rule(name)
    click.echo(f"removed rule {name}")


@action_group.command("run")
@home_option
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--signal", "signals", multiple=True, help="A signal TYPE:VALUE of the content. Repeatable.")
@click.option(
    "--content-id", required=True, help="Your reference of the content (opaque; sent in the webhook)."
)
@click.option("--content-url", default=None, help="Where the content is (optional; sent in the webhook).")
@click.option("--decision", default=None, help="A decision already made about it (rules may ask for one).")
@click.option("--dry-run", is_flag=True, help="Show what the rules would do; accept no delivery.")
@click.option("--offline", is_flag=True, help="Load the lists here even when the node is serving.")
@write_json_option
def action_run_cmd(
    home: Path | None,
    files: tuple[Path, ...],
    signals: tuple[str, ...],
    content_id: str,
    content_url: str | None,
    decision: str | None,
    dry_run: bool,
    offline: bool,
    as_json: bool,
) -> None:
    """Match the content (FILES and/or --signal, as 'accord match') and act on its matches:
    the rules that fire accept their webhook deliveries into the outbox ('accord serve' sends
    them, or 'accord delivery run'); the plan says whether a rule asks for review."""
    if not (files or signals):
        raise click.UsageError("give media FILES or --signal TYPE:VALUE")
    node = open_node(home)
    queries, refused = signal_queries(signals)
    for label, error in refused:
        warn(f"accord: refused {label}: {error}")
    for path in files:
        queries.extend((str(path), s) for s in file_signals(path))
    results = node.match([s for _, s in queries], prefer_running_node=not offline) if queries else []
    response = node.respond(ContentRef(content_id, content_url), results, decision, dry_run=dry_run)
    plan = response.plan
    verb = "would send" if dry_run else "accepted"
    lines = [f"rules fired: {', '.join(plan.fired) or 'none'}"]
    lines += [
        f"{verb} delivery {d.delivery_id or '-'} to {d.webhook} (rule {d.rule}, {d.matches} match(es))"
        for d in plan.deliveries
    ]
    lines += [f"withheld from {w}: every match above its maximum TLP" for w in plan.withheld]
    if plan.review:
        lines.append(f"review: asked by {', '.join(plan.review_reasons)}")
    if response.for_review:
        lines.append(f"{len(response.for_review)} match(es) put before a person instead of auto-action")
    if response.item is not None:
        lines.append(f"review item {response.item.id} (accord review show {response.item.id})")
    item_id = None if response.item is None else response.item.id
    emit(as_json, {**plan_json(plan), "for_review": list(response.for_review), "review_item": item_id}, lines)


@click.group("delivery")
def delivery_group() -> None:
    """The webhook outbox: list, replay, or send what is due now."""


@delivery_group.command("list")
@home_option
@click.option("--state", type=_STATE, default=None, help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
def delivery_list_cmd(home: Path | None, state: str | None, limit: int, as_json: bool) -> None:
    """List deliveries, newest first."""
    chosen = DeliveryState.parse(state) if state else None
    rows = [delivery_json(d) for d in open_node(home).deliveries(state=chosen, limit=limit)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no deliveries")
        return
    print_table(
        ["id", "webhook", "rule", "state", "attempts", "last status", "last error"],
        [
            (
                r["id"],
                r["webhook"],
                r["rule"],
                r["state"],
                r["attempts"],
                r["last_status"] or "-",
                r["last_error"] or "-",
            )
            for r in rows
        ],
    )


@delivery_group.command("replay")
@home_option
@click.argument("delivery_id", type=int)
@write_json_option
def delivery_replay_cmd(home: Path | None, delivery_id: int, as_json: bool) -> None:
    """Send delivery ID again (same idempotency key and body; attempts start over). Audited."""
    found = open_node(home).replay_delivery(delivery_id)
    emit(as_json, delivery_json(found), [f"delivery {delivery_id} to {found.webhook} is due again"])


@delivery_group.command("run")
@home_option
@write_json_option
def delivery_run_cmd(home: Path | None, as_json: bool) -> None:
    """Send the due deliveries once, here ('accord serve' does it continuously). Exit 4 when
    some attempt failed (retried later, or dead-lettered after actions.max_attempts)."""
    node = open_node(home)
    report = Deliverer(
        store=node.store, home=node.home.root, settings=lambda: node.config.actions
    ).run_round()
    data = {
        "delivered": report.delivered,
        "retrying": report.retrying,
        "dead": report.dead,
        "deferred": report.deferred,
    }
    emit(as_json, data, [", ".join(f"{k}: {v}" for k, v in data.items())])
    if report.retrying or report.dead:
        click.get_current_context().exit(EXIT_PEER)


COMMANDS = [webhook_group, action_group, delivery_group]
