"""Running the three ``accord serve`` processes: ports, start, readiness, and a stop that always happens.

Each node runs in its own session, writes to ``<dir>/<node>.log`` and counts as started once
it prints SERVING. Leaving the Supervisor's ``with`` block stops every node: SIGTERM, a wait,
then SIGKILL. On Linux the kernel also stops them if this script is killed outright.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from federation_nodes import HOST, AccordCli, FederationError, Node, NodeSpec, say

READY_TIMEOUT_SECONDS = 30.0  # binding and loading empty lists takes a second or two
STOP_TIMEOUT_SECONDS = 15.0  # network.grace_seconds (5 s) plus the scheduler's shutdown
READY_MARKER = "; SERVING"  # the line `accord serve` prints once its match lists are loaded


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; unwinding stops the nodes."""


class StopSignal:
    """Records SIGINT/SIGTERM. Polling loops call :meth:`check` and unwind from there.

    The handler only records the signal: an exception raised at an arbitrary point could
    land between starting a child and registering it, and leak it.
    """

    def __init__(self) -> None:
        self.received: str | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        self.received = signal.Signals(signum).name

    def check(self) -> None:
        """Raise Interrupted once a signal has arrived."""
        if self.received is not None:
            raise Interrupted(self.received)

    @contextmanager
    def installed(self) -> Iterator[StopSignal]:
        """Handle SIGINT and SIGTERM inside the block; restore the previous handlers after."""
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# --- ports -------------------------------------------------------------------------------


def choose_ports(base: int, specs: Sequence[NodeSpec]) -> dict[str, tuple[int, int]]:
    """(partner port, local port) per node: ``base + offset`` and the next port, or any free ones for 0."""
    if base == 0:
        free = _free_ports(2 * len(specs))
        return {spec.name: (free[2 * i], free[2 * i + 1]) for i, spec in enumerate(specs)}
    ports = {spec.name: (base + spec.port_offset, base + spec.port_offset + 1) for spec in specs}
    busy = [port for pair in ports.values() for port in pair if not port_is_free(port)]
    if busy:
        raise FederationError(
            f"port(s) {', '.join(map(str, busy))} on {HOST} are in use: pass --base-port N "
            "(or --base-port 0 for any free ports)"
        )
    return ports


def port_is_free(port: int) -> bool:
    """True when nothing listens on ``HOST:port``.

    gRPC binds with SO_REUSEPORT, so a second node on a busy port would start "successfully";
    this probe (without SO_REUSEPORT) is what catches the clash.
    """
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:  # all held open at once, so the kernel hands out distinct ports
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


# --- running the nodes -------------------------------------------------------------------


@dataclass(slots=True)
class Running:
    """One `accord serve` child and the log it writes to."""

    node: Node
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_start: int


class Supervisor:
    """The serve processes. Leaving the ``with`` block stops them all, however it is left."""

    def __init__(self, cli: AccordCli, stop: StopSignal) -> None:
        self._cli = cli
        self._stop = stop
        self._running: list[Running] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, node: Node) -> None:
        """Start ``accord serve`` for ``node`` and wait until it reports SERVING."""
        log = node.log_path.open("ab")
        log_start = log.tell()  # before the child shares this file offset and writes past it
        command = self._cli.argv(
            node.home, "-v", "serve", "--listen", node.endpoint, "--local-listen", f"{HOST}:{node.local_port}"
        )
        try:
            # Own session: Ctrl-C in the terminal reaches only this script, which stops the nodes
            # in order. Fixed argv, no shell.
            process = subprocess.Popen(  # noqa: S603
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._cli.env,
                start_new_session=True,
                preexec_fn=_die_with_parent_hook(),  # noqa: PLW1509 - this script starts no threads
            )
        except OSError as exc:
            log.close()
            raise FederationError(f"cannot start {node.name}: {exc}") from exc
        self._running.append(Running(node=node, process=process, log=log, log_start=log_start))
        self._wait_serving(self._running[-1])

    def _wait_serving(self, running: Running) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self._stop.check()
            if READY_MARKER in _read_from(running.node.log_path, running.log_start):
                return
            if running.process.poll() is not None:
                raise FederationError(
                    f"{running.node.name} exited with {running.process.returncode} before serving"
                )
            time.sleep(0.1)
        raise FederationError(
            f"{running.node.name} did not report SERVING within {READY_TIMEOUT_SECONDS:.0f} s"
        )

    def check_alive(self) -> None:
        """Raise if a node stopped on its own (or Interrupted if we were asked to stop)."""
        self._stop.check()
        for running in self._running:
            if running.process.poll() is not None:
                raise FederationError(f"{running.node.name} exited with {running.process.returncode}")

    def stop(self) -> None:
        """SIGTERM every node (they shut down in parallel), wait, then SIGKILL any that hang."""
        for running in self._running:
            if running.process.poll() is None:
                running.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for running in self._running:
            try:
                running.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{running.node.name} did not stop within {STOP_TIMEOUT_SECONDS:.0f} s; killing it")
                running.process.kill()
                running.process.wait()
            running.log.close()
        self._running.clear()


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", errors="replace")


def _die_with_parent_hook() -> Callable[[], None] | None:
    """On Linux, a pre-exec hook asking the kernel to SIGTERM the child if this script dies.

    The ``with`` block covers exceptions and signals; this covers SIGKILL (e.g. a test timeout).
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def hook() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return hook
