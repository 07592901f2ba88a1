"""``accord backup`` and ``accord restore``: the node's database, copied out and put back."""

from __future__ import annotations

from pathlib import Path

import click

from node.app import restore_database
from node.cli.options import home_option, open_node, resolve_home, write_json_option
from node.cli.output import emit, warn


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


@click.command("restore")
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


COMMANDS = [backup_cmd, restore_cmd]
