"""Helpers of the bulk commands: progress bars on stderr, times given on the command line, and the
targets of the curation commands (revoke, expire, relabel)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import click

from node.app import AccordNode, Refusal
from node.cli.output import warn
from node.errors import InvalidInput

EXIT_PARTIAL = 2  # some items were refused; everything else was done

F = TypeVar("F", bound=Callable[..., Any])


def targets_options(list_help: str) -> Callable[[F], F]:
    """``TARGETS...`` (TYPE:VALUE or indicator ids) and ``--list FILE`` on a curation command."""

    def decorate(func: F) -> F:
        with_list = click.option(
            "--list", "list_path", type=click.Path(path_type=Path), default=None, help=list_help
        )(func)
        return click.argument("targets", nargs=-1)(with_list)

    return decorate


def gather_targets(
    node: AccordNode, targets: tuple[str, ...], list_path: Path | None
) -> tuple[list[str], list[Refusal]]:
    """The targets given and those the list names, and the list lines refused; a usage error
    when there are none."""
    names, refused = list(targets), list[Refusal]()
    if list_path is not None:
        listed, refused = node.targets_from_list(list_path)
        names.extend(listed)
    if not names:
        raise click.UsageError("give TYPE:VALUE or indicator ids, or --list FILE")
    return names, refused


def report_refused(refused: list[Refusal]) -> None:
    """Warn about each refused item; exit :data:`EXIT_PARTIAL` when there was one."""
    for refusal in refused:
        warn(f"refused {refusal.source}: {refusal.reason}")
    if refused:
        click.get_current_context().exit(EXIT_PARTIAL)


class Bar(Protocol):
    """What the app is handed to report progress: ``update(n)``."""

    def update(self, n_steps: int) -> None:
        """Advance by ``n_steps`` items."""


class _Silent:
    def update(self, n_steps: int) -> None:
        """Nothing to draw: output is not a terminal and --progress was not given."""


@contextmanager
def progress_bar(enabled: bool | None, *, length: int | None, label: str) -> Iterator[Bar]:
    """A click progress bar on stderr when ``enabled`` (default: stderr is a terminal)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield _Silent()
        return
    # Unknown length: a bar of one step that shows the count of items done.
    bar: Any = click.progressbar(length=max(length or 0, 1), label=label, file=sys.stderr, show_pos=True)
    with bar:
        yield bar


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC. Errors name the option."""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{option} must be an ISO 8601 time such as 2027-01-31T00:00:00Z") from exc
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
