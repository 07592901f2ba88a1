"""``accord account add|list|remove``: accounts of the HTTP API (tokens are shown once)."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.options import home_option, json_option, open_node, write_json_option
from node.cli.output import emit, print_json, print_table, warn
from node.model import Tlp
from node.model.accounts import Role

_ROLE = click.Choice([r.value for r in Role])
_TLP = click.Choice([t.value for t in Tlp])


@click.group("account")
def account_group() -> None:
    """Accounts of the HTTP API: a role and a maximum TLP each (tokens are shown once)."""


@account_group.command("add")
@home_option
@click.argument("name")
@click.option("--role", type=_ROLE, required=True, help="admin, reviewer, analyst or matcher (services).")
@click.option(
    "--max-tlp",
    type=_TLP,
    default="amber+strict",
    show_default=True,
    help="Most restricted TLP the account sees (indicators and matches); red must be given explicitly.",
)
@write_json_option
def account_add_cmd(home: Path | None, name: str, role: str, max_tlp: str, as_json: bool) -> None:
    """Create account NAME and print its token once (only a SHA-256 of it is kept). Audited."""
    created = open_node(home).add_api_account(name, role=Role.parse(role), max_tlp=Tlp.parse(max_tlp))
    account = created.account
    data = {"name": name, "role": account.role.value, "max_tlp": account.max_tlp.value}
    data["token"] = created.token
    if as_json:
        emit(True, data, [])
        return
    click.echo(created.token)
    warn(
        f"created account {name} (role {account.role.value}, up to TLP {account.max_tlp.value}):"
        " the token above is shown only now; send it as 'Authorization: Bearer <token>'"
    )


@account_group.command("list")
@home_option
@json_option
def account_list_cmd(home: Path | None, as_json: bool) -> None:
    """List accounts (never their tokens)."""
    rows = [
        {"name": a.name, "role": a.role.value, "max_tlp": a.max_tlp.value, "added_at": a.added_at}
        for a in open_node(home).api_accounts()
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no accounts (add one with 'accord account add')")
        return
    print_table(
        ["name", "role", "max tlp", "added"],
        [(r["name"], r["role"], r["max_tlp"], r["added_at"]) for r in rows],
    )


@account_group.command("remove")
@home_option
@click.argument("name")
def account_remove_cmd(home: Path | None, name: str) -> None:
    """Delete account NAME: its token stops working at once. Audited."""
    open_node(home).remove_api_account(name)
    click.echo(f"removed account {name}")


COMMANDS = [account_group]
