"""``accord account add|list|remove|password|logout``: accounts of the HTTP API and TAXII (tokens
are shown once).

A service gets a token; a person gets a password (``--password``: prompted twice, or read from
``--password-file``) and logs in with POST /v1/login. An operator sets a new password for a
person who forgot theirs (``account password``) and ends every session of an account
(``account logout``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from node.cli.options import F, home_option, json_option, open_node, write_json_option
from node.cli.output import emit, print_json, print_table, warn
from node.model import Tlp
from node.model.accounts import Role

_ROLE = click.Choice([r.value for r in Role])
_TLP = click.Choice([t.value for t in Tlp])


@click.group("account")
def account_group() -> None:
    """Accounts of the HTTP API: a role and a maximum TLP each (tokens are shown once)."""


def _password_options(who: str) -> Callable[[F], F]:
    """--password (prompted twice) and --password-file, for ``who`` (a help text prefix)."""

    def add(command: F) -> F:
        command = click.option(
            "--password-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"{who}read the password from this file's first line (for scripts).",
        )(command)
        return click.option(
            "--password", "ask_password", is_flag=True, help=f"{who}prompt for the password (twice)."
        )(command)

    return add


@account_group.command("add")
@home_option
@click.argument("name")
@click.option(
    "--role",
    type=_ROLE,
    required=True,
    help="admin, reviewer, analyst, matcher (upload pipelines) or contributor (case-management systems).",
)
@click.option(
    "--max-tlp",
    type=_TLP,
    default="amber+strict",
    show_default=True,
    help="Most restricted TLP the account sees (indicators and matches); red must be given explicitly.",
)
@_password_options("A person (no token): ")
@write_json_option
def account_add_cmd(
    home: Path | None,
    name: str,
    role: str,
    max_tlp: str,
    ask_password: bool,
    password_file: Path | None,
    as_json: bool,
) -> None:
    """Create account NAME: print its token once (only a SHA-256 of it is kept), or, with
    --password / --password-file, give a person a password (kept as an argon2id hash). Audited."""
    password = _password(ask_password, password_file)
    created = open_node(home).add_api_account(
        name, role=Role.parse(role), max_tlp=Tlp.parse(max_tlp), password=password
    )
    account = created.account
    data: dict[str, str | None] = {"name": name, "role": account.role.value, "max_tlp": account.max_tlp.value}
    data["token"] = created.token
    if as_json:
        emit(True, data, [])
        return
    if created.token is None:
        warn(
            f"created account {name} (role {account.role.value}, up to TLP {account.max_tlp.value})"
            " with a password: log in with POST /v1/login"
        )
        return
    click.echo(created.token)
    warn(
        f"created account {name} (role {account.role.value}, up to TLP {account.max_tlp.value}):"
        " the token above is shown only now; send it as 'Authorization: Bearer <token>'"
    )


def _password(ask: bool, path: Path | None) -> str | None:
    """The new password: prompted twice, read from a file, or None (a token account)."""
    if ask and path is not None:
        raise click.UsageError("give --password or --password-file, not both")
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--password-file") from exc
        if not lines or not lines[0]:
            raise click.BadParameter(
                f"{path} holds no password on its first line", param_hint="--password-file"
            )
        return lines[0]
    if ask:
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    return None


@account_group.command("list")
@home_option
@json_option
def account_list_cmd(home: Path | None, as_json: bool) -> None:
    """List accounts (never their tokens)."""
    rows = [
        {
            "name": a.name,
            "role": a.role.value,
            "max_tlp": a.max_tlp.value,
            "partner": a.partner,
            "added_at": a.added_at,
        }
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


@account_group.command("password")
@home_option
@click.argument("name")
@_password_options("The new password: ")
@write_json_option
def account_password_cmd(
    home: Path | None, name: str, ask_password: bool, password_file: Path | None, as_json: bool
) -> None:
    """Set a new password for person NAME (one who forgot theirs): every session of the account
    ends. A token account has no password and is refused. Audited (without the password)."""
    password = _password(ask_password, password_file)
    if password is None:
        raise click.UsageError("give --password (prompted twice) or --password-file")
    ended = open_node(home).reset_password(name, password)
    emit(
        as_json,
        {"name": name, "sessions_ended": ended},
        [f"new password for account {name}; {ended} session(s) ended: log in again with POST /v1/login"],
    )


@account_group.command("logout")
@home_option
@click.argument("name")
@write_json_option
def account_logout_cmd(home: Path | None, name: str, as_json: bool) -> None:
    """End every session of account NAME (log it out everywhere); its token, if any, still
    works (revoke that with 'account remove'). Audited."""
    ended = open_node(home).end_sessions(name)
    emit(as_json, {"name": name, "sessions_ended": ended}, [f"ended {ended} session(s) of account {name}"])


COMMANDS = [account_group]
