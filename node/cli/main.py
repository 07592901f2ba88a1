"""The ``accord`` command: thin — parse arguments, call the app, print, map errors to exit codes.

Exit codes: 0 success; 1 ``match`` found nothing; 2 invalid input or usage (or some items
refused, the rest done); 3 not found or already exists; 4 refused by a peer or a peer failed;
5 unexpected internal error; 6 items refused, every one already refused by an earlier run
(:mod:`node.cli.bulk`). The README's CLI reference has the table.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from node import __version__
from node.cli import (
    commands_accounts,
    commands_actions,
    commands_analyst,
    commands_backup,
    commands_ecosystem,
    commands_feed,
    commands_feedback,
    commands_import,
    commands_partner,
    commands_provenance,
    commands_query,
    commands_relay,
    commands_review,
    commands_serve,
    commands_trust,
    logs,
)
from node.errors import AccordError

EXIT_INTERNAL = 5


class AccordGroup(click.Group):
    """Catches the project's errors in exactly one place and prints their explanation."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AccordError as exc:
            click.echo(f"accord: error: {exc.diagnostics()}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=AccordGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Node home directory [default: $ACCORD_HOME or ./accord-data].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v INFO, -vv DEBUG).")
@click.version_option(__version__, prog_name="accord")
def cli(home: Path | None, verbose: int) -> None:
    """Accord: share signed hash lists of harmful media with partners, and match against them."""
    _configure_logging(verbose)


def _configure_logging(verbose: int) -> None:
    logs.configure({0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG))


for module in (
    commands_serve,
    commands_partner,
    commands_feed,
    commands_query,
    commands_trust,
    commands_backup,
    commands_ecosystem,
    commands_analyst,
    commands_relay,
    commands_import,
    commands_feedback,
    commands_accounts,
    commands_actions,
    commands_provenance,
    commands_review,
):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="accord")
    except Exception:  # the last resort: a traceback to stderr, a distinct exit code
        logging.getLogger("node").exception("internal error")
        sys.exit(EXIT_INTERNAL)
