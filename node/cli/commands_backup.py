"""``accord backup`` and ``accord restore``: the node's database, copied out and put back."""

from __future__ import annotations

from pathlib import Path

import click

from node.app import restore_database
from node.app.backup import confirm_restore
from node.cli.options import home_option, open_node, resolve_home, write_json_option
from node.cli.output import emit, warn
from node.sync.restore import FORCE_RISK


@click.command("backup")
@home_option
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@write_json_option
def backup_cmd(home: Path | None, path: Path, as_json: bool) -> None:
    """Copy the database to PATH (mode 0600), consistently, even while the node serves.

    Uses SQLite's online backup API. The identity key is not copied: keep it apart, as safely.
    The backup is recorded in the audit log.
    """
    open_node(home).backup(path)
    if as_json:
        emit(True, {"backup": str(path)}, [])
    else:
        warn(f"accord: database backed up to {path}")


class _RestoreGroup(click.Group):
    """``accord restore PATH`` restores a backup; ``accord restore confirm`` settles a restore.

    Anything that is not a subcommand (or help) goes to the hidden ``from`` command, so the
    original ``accord restore [--home DIR] PATH`` keeps working.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            at = _first_argument(args)
            if at is not None and args[at] in self.commands:  # 'restore --home DIR confirm'
                args = [args[at], *args[:at], *args[at + 1 :]]
            else:
                args = [_FROM_BACKUP, *args]
        return super().parse_args(ctx, args)


_FROM_BACKUP = "from"


def _first_argument(args: list[str]) -> int | None:
    """The index of the first argument that is not an option or the value of ``--home``."""
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif arg == "--home":
            skip = True
        elif not arg.startswith("-"):
            return index
    return None


@click.group("restore", cls=_RestoreGroup)
def restore_group() -> None:
    """Restore the database from a backup: 'accord restore [--home DIR] PATH'.

    The node then refuses to publish until enough partners (sync.restore_quorum) have shown it
    their heads of its own feed and none holds more than it does; without that it could fork
    its feed. 'accord restore confirm' settles that by hand.
    """


@restore_group.command(_FROM_BACKUP, hidden=True)
@home_option
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def restore_cmd(home: Path | None, path: Path) -> None:
    """Replace the stopped node's database with the backup at PATH.

    The node then refuses to publish until a sync with its partners has returned the entries
    it published after the backup; without that it could fork its own feed.
    """
    report = restore_database(resolve_home(home), path)
    warn(
        f"accord: restored {report.entries} entries (own feed head {report.own_head}); "
        "run 'accord sync' (or 'accord serve') before publishing: partners may hold newer entries of ours"
    )


@restore_group.command("confirm")
@home_option
@click.option(
    "--force",
    is_flag=True,
    help="Allow publishing without the quorum of partners (audited; it may fork the feed).",
)
def restore_confirm_cmd(home: Path | None, force: bool) -> None:
    """Allow a restored node to publish again.

    Without --force: only when the quorum of partners (sync.restore_quorum) has shown its
    heads; otherwise it says who is missing (exit 4). With --force: without the quorum, recorded
    in the audit log. Never while a partner has shown a head of our feed beyond what this
    database holds: publishing then would certainly fork it; 'accord sync' fetches them back.
    """
    node = open_node(home)
    done = confirm_restore(
        node.store, node.audit, own=node.origin, rule=node.config.sync.restore_quorum, force=force
    )
    if done.verdict is None:
        warn("accord: this node is not waiting on a restore; publishing is allowed")
    elif done.forced:
        warn(f"accord: WARNING: publishing allowed without the quorum (audited). Risk: {FORCE_RISK}")
    else:
        shown = ", ".join(done.verdict.confirmed)
        warn(f"accord: partners {shown} showed this node's feed head; publishing allowed again")


COMMANDS = [backup_cmd, restore_group]
