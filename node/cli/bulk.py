"""Helpers of the bulk commands: progress bars on stderr, and times given on the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import click

from node.errors import InvalidInput


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
