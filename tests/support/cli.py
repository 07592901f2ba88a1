"""Running the ``accord`` CLI in-process, as the tests of its commands do."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from node.cli.main import cli


def run(*args: str | Path) -> Result:
    """``accord ARGS…`` in this process; exceptions propagate (a crash is a test failure)."""
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="accord", catch_exceptions=False)
