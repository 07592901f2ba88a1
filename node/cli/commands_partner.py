"""``accord partner add|list|remove``: pinning partners (no trust on first use)."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.options import home_option, json_option, open_node
from node.cli.output import print_json, print_table
from node.model import fingerprint


@click.group("partner")
def partner_group() -> None:
    """Pin, list and unpin partners."""


@partner_group.command("add")
@home_option
@click.argument("name")
@click.option("--key", "public_key", required=True, help="The partner's public key, ed25519:<base64>.")
@click.option("--endpoint", default=None, help="HOST:PORT of its partner API, if this node pulls from it.")
def add_cmd(home: Path | None, name: str, public_key: str, endpoint: str | None) -> None:
    """Pin partner NAME with its public key (and endpoint to pull from)."""
    partner = open_node(home).add_partner(name, public_key=public_key, endpoint=endpoint)
    click.echo(f"pinned {partner.name}: key id {partner.key_id} (fingerprint {fingerprint(partner.key_id)})")


@partner_group.command("list")
@home_option
@json_option
def list_cmd(home: Path | None, as_json: bool) -> None:
    """List pinned partners."""
    partners = open_node(home).partners()
    if as_json:
        print_json([{"name": p.name, "key_id": p.key_id, "endpoint": p.endpoint} for p in partners])
        return
    if not partners:
        click.echo("no partners pinned (add one with 'accord partner add')")
        return
    print_table(
        ["name", "fingerprint", "endpoint"],
        [(p.name, fingerprint(p.key_id), p.endpoint or "-") for p in partners],
    )


@partner_group.command("remove")
@home_option
@click.argument("name")
def remove_cmd(home: Path | None, name: str) -> None:
    """Unpin partner NAME (its entries stay as history; nothing more is accepted from it)."""
    open_node(home).remove_partner(name)
    click.echo(f"unpinned {name}")


COMMANDS = [partner_group]
