"""The vocabulary of the local federation and the one way it touches a node: the ``accord`` CLI.

deploy/federation.py and its helpers drive nodes only through the command an operator runs,
so the demo exercises exactly that surface. A failed command becomes a FederationError that
quotes the command and its stderr.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
CLI_TIMEOUT_SECONDS = 60.0  # one `accord` command; hashing one image takes well under a second
ACCORD_EXIT_NO_MATCH = 1  # `accord match` found nothing (node/cli/main.py)
ACCORD_EXIT_NOT_FOUND = 3  # e.g. `accord identity` on a home that does not exist yet


class FederationError(Exception):
    """Something an operator must look at; the message says what."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One member of the federation: its partner name, what it calls itself, its port offset."""

    name: str
    title: str
    port_offset: int


@dataclass(frozen=True, slots=True)
class Node:
    """A member with its home directory and ports."""

    spec: NodeSpec
    home: Path
    port: int
    local_port: int

    @property
    def name(self) -> str:
        """The name the other nodes pin it under."""
        return self.spec.name

    @property
    def endpoint(self) -> str:
        """Its partner API address."""
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where its `accord serve` output goes."""
        return self.home.parent / f"{self.name}.log"


def find_accord() -> Path:
    """The ``accord`` script installed beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "accord"
    if beside.is_file():
        return beside
    found = shutil.which("accord")
    if found is None:
        raise FederationError(
            f"no 'accord' command beside {sys.executable} or on PATH: run this script with the "
            "Python of the venv the package is installed in (e.g. .venv/bin/python deploy/federation.py)"
        )
    return Path(found)


def node_environment(interval: float) -> dict[str, str]:
    """The environment of every `accord` child: the caller's, minus its ACCORD_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ACCORD_")}
    env.update(
        ACCORD_SYNC_INTERVAL_SECONDS=str(interval),
        ACCORD_SYNC_JITTER_SECONDS=str(interval / 4),
        # A pull that fails while a neighbour restarts backs off; keep that short in a demo.
        ACCORD_SYNC_MAX_BACKOFF_SECONDS=str(max(4 * interval, 5.0)),
        PYTHONUNBUFFERED="1",
    )
    return env


class AccordCli:
    """Runs `accord` commands; a failure becomes a FederationError quoting the command's stderr."""

    def __init__(self, executable: Path, env: dict[str, str]) -> None:
        self.executable = executable
        self.env = env

    def argv(self, home: Path | None, *args: str) -> list[str]:
        """The full command line for ``accord [--home HOME] ARGS``."""
        prefix = [] if home is None else ["--home", str(home)]
        return [str(self.executable), *prefix, *args]

    def run(
        self, home: Path | None, *args: str, ok: Sequence[int] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        """Run one command to completion; its exit code must be in ``ok``."""
        command = self.argv(home, *args)
        # The argv is built here from fixed words, our own paths and the CLI's own output; no shell.
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, env=self.env, timeout=CLI_TIMEOUT_SECONDS, check=False
        )
        if result.returncode not in ok:
            detail = result.stderr.strip() or result.stdout.strip() or "no output"
            raise FederationError(f"`{shlex.join(command)}` exited {result.returncode}: {detail}")
        return result

    def json(self, home: Path | None, *args: str, ok: Sequence[int] = (0,)) -> Any:
        """Run a command with ``--json`` and parse what it printed."""
        return json.loads(self.run(home, *args, "--json", ok=ok).stdout)


def say(message: str) -> None:
    """A progress line on stdout, flushed at once (the output may be a pipe or a log)."""
    print(message, flush=True)
