"""``accord serve``'s match processes (``network.match_workers``): start, count, restart, stop.

Each process (node/app/match_replica.py) answers Match on its own loopback port, from its own
copy of the lists. ``serve`` starts them once its lists are loaded and saved (they adopt the
saved indexes), reports SERVING only when every one answers, counts the matches they send as
its own, restarts one that dies (on the same port), and stops them when it stops. They exit by
themselves when ``serve`` dies: their pipe to it closes.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from node.app import match_replica
from node.errors import ConfigError
from node.model import is_loopback_endpoint

log = logging.getLogger(__name__)

START_SECONDS = 600.0
"""How long ``serve`` waits for a match process to load its lists (10M indicators: ~30 s)."""
MAX_RESTART_DELAY = 30.0
"""A match process that keeps dying is restarted at most this far apart."""

CountMatches = Callable[[list[str], list[str], datetime], None]
Observe = Callable[[float, int], None]


@dataclass(slots=True)
class _Slot:
    """One match process's place: its number and address, and its current process."""

    number: int
    address: str
    ready: threading.Event = field(default_factory=threading.Event)
    answering: bool = False  # READY received from the current process, which is still running
    failure: str | None = None
    process: BaseProcess | None = None
    conn: Connection | None = None
    restarts: int = 0


class MatchProcesses:
    """The match processes of one ``accord serve``."""

    def __init__(
        self,
        *,
        root: Path,
        origin: str,
        count: int,
        listen: str,
        count_matches: CountMatches,
        observe: Observe | None = None,
        start_seconds: float = START_SECONDS,
    ) -> None:
        if not is_loopback_endpoint(listen):
            raise ConfigError(f"network.match_listen must be a loopback address, not {listen}")
        host, _, port_text = listen.rpartition(":")
        try:
            first = int(port_text)
        except ValueError:
            raise ConfigError(f"network.match_listen must be HOST:PORT, not {listen!r}") from None
        if not 0 <= first <= 65535 - count:
            raise ConfigError(f"network.match_listen: no {count} ports from {first} up")
        self._root = root
        self._origin = origin
        self._count_matches = count_matches
        self._observe = observe
        self._start_seconds = start_seconds
        self._context = multiprocessing.get_context("spawn")  # never fork a process running gRPC
        self._stopping = threading.Event()
        self._slots = [_Slot(n, f"{host}:{first + n if first else 0}") for n in range(count)]
        self._threads: list[threading.Thread] = []

    @property
    def addresses(self) -> list[str]:
        """Every match process's ``HOST:PORT`` (ports as bound)."""
        return [slot.address for slot in self._slots]

    def answering(self) -> int:
        """How many processes answer now (a dead one being restarted does not)."""
        return sum(slot.answering for slot in self._slots)

    def restarts(self) -> int:
        """How many times a process was restarted after it exited unasked."""
        return sum(slot.restarts for slot in self._slots)

    def start(self) -> list[str]:
        """Start every process and wait until each answers; returns their addresses. A process
        that cannot start (a port in use, an unreadable home) stops them all: ConfigError."""
        for slot in self._slots:
            _check_free(slot)  # a busy port is named now, not after a process loaded its lists
        for slot in self._slots:
            thread = threading.Thread(
                target=self._supervise, args=(slot,), name=f"match-process-{slot.number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + self._start_seconds
        for slot in self._slots:
            if not slot.ready.wait(max(0.0, deadline - time.monotonic())):
                slot.failure = f"not answering after {self._start_seconds:g} s"
            if slot.failure is not None:
                self.stop(0)
                raise ConfigError(
                    f"match process {slot.number} ({slot.address}) did not start: {slot.failure}"
                )
        return self.addresses

    def ask_to_stop(self) -> None:
        """Tell every process to stop answering and exit (in-flight calls get the grace
        period); do not wait. ``serve`` asks first, then stops its own servers meanwhile."""
        self._stopping.set()
        for slot in self._slots:
            _send(slot.conn, match_replica.STOP)

    def stop(self, grace: float) -> None:
        """Ask every process to stop (in-flight calls get ``grace`` seconds), then wait for them;
        one still running after that is killed. Only a process's supervising thread waits on
        the process itself (two threads reaping one child race)."""
        self.ask_to_stop()
        deadline = time.monotonic() + grace + 5
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for slot, thread in zip(self._slots, self._threads, strict=True):
            if thread.is_alive() and slot.process is not None:
                log.warning("match process %d did not stop in time: killing it", slot.number)
                slot.process.kill()
                thread.join(10)

    def _supervise(self, slot: _Slot) -> None:
        """Run ``slot``'s process, read what it sends, and restart it when it dies."""
        delay = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            self._spawn(slot)
            self._read(slot)
            process = slot.process
            if process is not None:
                process.join(10)
                if process.is_alive():  # closed its pipe but does not exit
                    process.kill()
                    process.join(5)
            if self._stopping.is_set() or not slot.ready.is_set():
                return  # stopped, or never started: start() reports it
            if slot.failure is not None:
                if slot.restarts:
                    log.error("match process %d could not restart: %s", slot.number, slot.failure)
                return
            code = process.exitcode if process is not None else None
            # 1 s after a process that ran a minute; doubling (up to 30 s) while they keep dying.
            delay = (
                1.0
                if slot.restarts == 0 or time.monotonic() - started > 60
                else min(delay * 2, MAX_RESTART_DELAY)
            )
            slot.restarts += 1
            log.warning(
                "match process %d (%s) exited (code %s): restarting it in %.0f s",
                slot.number,
                slot.address,
                code,
                delay,
            )
            self._stopping.wait(delay)

    def _spawn(self, slot: _Slot) -> None:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=match_replica.run,
            args=(str(self._root), self._origin, slot.number, slot.address, theirs),
            name=f"accord-match-{slot.number}",
            daemon=True,
        )
        process.start()
        theirs.close()  # only the child holds its end: its death closes the pipe for us
        slot.process, slot.conn = process, ours

    def _read(self, slot: _Slot) -> None:
        """Handle ``slot``'s messages until its process ends (its pipe closes)."""
        conn = slot.conn
        assert conn is not None
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == match_replica.READY:
                slot.address = f"{slot.address.rpartition(':')[0]}:{message[1]}"  # a restart reuses it
                slot.answering = True
                slot.ready.set()
            elif kind == match_replica.FAILED:
                slot.failure = str(message[1])
                slot.ready.set()
            elif kind == match_replica.MATCHES:
                self._count(message[1], message[2])
        conn.close()
        slot.conn, slot.answering = None, False

    def _count(
        self, calls: Sequence[tuple[datetime, list[str], list[str]]], observed: Sequence[tuple[float, int]]
    ) -> None:
        for at, indicator_ids, others in calls:
            self._count_matches(indicator_ids, others, at)
        if self._observe is not None:
            for seconds, signals in observed:
                self._observe(seconds, signals)


def _check_free(slot: _Slot) -> None:
    """ConfigError when ``slot``'s fixed port cannot be bound now (port 0 always can)."""
    host, _, port = slot.address.rpartition(":")
    if port == "0":
        return
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds: TIME_WAIT is no reason
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as exc:
            raise ConfigError(
                f"match process {slot.number} cannot listen on {slot.address}: {exc.strerror or exc}"
            ) from None


def _send(conn: Connection | None, message: object) -> None:
    if conn is None:
        return
    with contextlib.suppress(OSError, ValueError):  # the process is gone already
        conn.send(message)
