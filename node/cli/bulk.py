"""Helpers of the bulk commands: progress bars on stderr, times given on the command line, and the
targets of the curation commands (revoke, expire, relabel)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import click

from node.app import AccordNode, Refusal
from node.app.shapes import curation_json
from node.cli.output import warn
from node.errors import InvalidInput

__all__ = ["curation_json"]  # shared with the HTTP API (node/app/shapes.py)

EXIT_PARTIAL = 2  # some items were refused; everything else was done
EXIT_KNOWN_REFUSALS = 6  # items were refused, every one already refused the same way by an earlier run

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


def refusal_exit_code(refused: Sequence[Refusal]) -> int:
    """0 when nothing was refused; :data:`EXIT_KNOWN_REFUSALS` when every refusal repeats one an
    earlier run already reported (a re-run of the same input: nothing new to look at);
    :data:`EXIT_PARTIAL` when any refusal is new."""
    if not refused:
        return 0
    return EXIT_KNOWN_REFUSALS if all(r.known for r in refused) else EXIT_PARTIAL


def report_refused(refused: Sequence[Refusal], *, as_json: bool = False) -> None:
    """Warn about each refused item (not with ``--json``: the JSON lists them); exit with
    :func:`refusal_exit_code` when there was one."""
    if not as_json:
        for refusal in refused:
            again = " (refused before)" if refusal.known else ""
            warn(f"refused {refusal.source}: {refusal.reason}{again}")
    code = refusal_exit_code(refused)
    if code:
        click.get_current_context().exit(code)


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
