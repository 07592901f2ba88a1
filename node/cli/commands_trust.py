"""``accord group add|list|remove`` and ``accord tls rotate``: who restricted entries reach, and how."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.options import home_option, json_option, open_node
from node.cli.output import print_json, print_table


@click.group("group")
def group_group() -> None:
    """Sharing groups: named sets of partners to address AMBER / RED entries to."""


@group_group.command("add")
@home_option
@click.argument("name")
@click.argument("partners", nargs=-1, required=True)
def group_add_cmd(home: Path | None, name: str, partners: tuple[str, ...]) -> None:
    """Add PARTNERS to sharing group NAME, creating it if needed."""
    group = open_node(home).add_to_group(name, partners)
    click.echo(f"group {group.name}: {', '.join(group.members)}")


@group_group.command("grant")
@home_option
@click.argument("name")
@click.argument("partner")
def group_grant_cmd(home: Path | None, name: str, partner: str) -> None:
    """Add PARTNER to sharing group NAME and give it the group's backlog.

    Every restricted body of ours addressed to the group so far is opened to PARTNER through a
    grant entry in our feed (the content keys sealed to its encryption key). Removing a partner
    from a group affects only entries published afterwards: what it could read stays readable.
    """
    group, seqs, bodies = open_node(home).grant_group(name, partner)
    where = f"in entry seq {', '.join(str(s) for s in seqs)}" if seqs else "(nothing to grant)"
    click.echo(f"group {group.name}: {', '.join(group.members)}; granted {bodies} bodies {where}")


@group_group.command("list")
@home_option
@json_option
def group_list_cmd(home: Path | None, as_json: bool) -> None:
    """List sharing groups and their members."""
    groups = open_node(home).sharing_groups()
    if as_json:
        print_json([{"name": g.name, "members": list(g.members)} for g in groups])
        return
    if not groups:
        click.echo("no sharing groups (create one with 'accord group add NAME PARTNER...')")
        return
    print_table(["group", "members"], [(g.name, ", ".join(g.members) or "-") for g in groups])


@group_group.command("remove")
@home_option
@click.argument("name")
@click.argument("partners", nargs=-1)
def group_remove_cmd(home: Path | None, name: str, partners: tuple[str, ...]) -> None:
    """Remove PARTNERS from group NAME; with no PARTNERS, remove the group.

    Entries already published keep the recipients they were signed with.
    """
    group = open_node(home).remove_from_group(name, partners)
    click.echo(
        f"removed group {name}" if group is None else f"group {group.name}: {', '.join(group.members) or '-'}"
    )


@click.group("tls")
def tls_group() -> None:
    """The node's TLS certificate (partners pin its fingerprint)."""


@tls_group.command("rotate")
@home_option
def tls_rotate_cmd(home: Path | None) -> None:
    """Replace the TLS key and self-signed certificate; print the new fingerprint.

    Partners must pin it ('accord partner pin NAME --cert-fingerprint ...') before they can
    connect again; a running 'accord serve' uses the new certificate after a restart.
    """
    fingerprint = open_node(home).rotate_tls()
    click.echo(f"new TLS certificate: {fingerprint}")
    click.echo("hand it to partners out of band; restart 'accord serve' to use it")


COMMANDS = [group_group, tls_group]
