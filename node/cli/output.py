"""Printing: aligned tables for people, JSON for machines.

Write commands report through :func:`emit`: with ``--json`` one JSON object (its shape is
documented in the README's CLI reference), otherwise text lines. Either way the process exit
code says what happened (:mod:`node.cli.bulk` for refused items).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

from node.app.shapes import refusals_json

__all__ = ["emit", "print_json", "print_table", "refusals_json", "warn"]


def print_json(data: Any, *, err: bool = False) -> None:
    """Machine-readable output on stdout (on stderr when ``err``: stdout carries data)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False), err=err)


def emit(as_json: bool, data: Mapping[str, Any], lines: Iterable[str], *, err: bool = False) -> None:
    """A write command's result: ``data`` as one JSON object with ``--json``, else ``lines``.

    ``err``: print on stderr instead, because stdout carries the command's data (``--out -``)."""
    if as_json:
        print_json(dict(data), err=err)
        return
    for line in lines:
        click.echo(line, err=err)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table; nothing at all for no rows (the caller says why)."""
    texts = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in texts:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def warn(message: str) -> None:
    """A line on stderr."""
    click.echo(message, err=True)
