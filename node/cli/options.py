"""Options every command shares: ``--home`` and ``--json``; opening the node."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from node.app import AccordNode
from node.cli import logs

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_HOME = "./accord-data"


def home_option(func: F) -> F:
    """``--home DIR`` on a command (default: the group's --home, then $ACCORD_HOME, then ./accord-data)."""
    return click.option(
        "--home",
        "home",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Node home directory [default: $ACCORD_HOME or ./accord-data].",
    )(func)


def json_option(func: F) -> F:
    """``--json`` for machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def write_json_option(func: F) -> F:
    """``--json`` on a write command: its result as one JSON object (shapes: README CLI reference)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the result as one JSON object instead of text."
    )(func)


def resolve_home(home: Path | None) -> Path:
    """The home to use: the command's --home, the group's --home, $ACCORD_HOME, ./accord-data."""
    if home is not None:
        return home
    ctx = click.get_current_context()
    group_home = ctx.find_root().params.get("home")
    if group_home is not None:
        return Path(group_home)
    return Path(os.environ.get("ACCORD_HOME") or DEFAULT_HOME)


def open_node(home: Path | None) -> AccordNode:
    """Open the node at the resolved home; it is closed when the command ends."""
    node = AccordNode.open(resolve_home(home))
    click.get_current_context().call_on_close(node.close)
    if node.config.log.format == "json":
        logs.use_json()
    return node
