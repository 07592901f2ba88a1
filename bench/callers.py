"""Client processes that call a server together, for the API benchmarks (match_api, http_api).

Each client process sets itself up (imports, connections, one warm-up call), says ``ready``,
and waits for the go: a deadline on ``time.monotonic()``, one clock for every process on this
machine. The rate is the calls made between the go and the last call's end. Process start-up
is not calling time: counted, it made the rate depend on how long imports took (~1.5 s of a
15-s run, 9% of the figure).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from threading import Thread
from typing import Any


@dataclass(frozen=True, slots=True)
class Calls:
    """What the client processes did after the go."""

    latencies: list[float]  # seconds, sorted
    failed: int
    seconds: float  # from the go until the last call ended

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        return 1000 * self.latencies[int(fraction * (len(self.latencies) - 1))]


def run_together(target: Callable[..., None], arguments: Sequence[tuple[Any, ...]], seconds: float) -> Calls:
    """Start one process per ``arguments`` running ``target(*args, conn)``, wait until each is
    ready, give them one deadline ``seconds`` away, and gather what they did."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for args in arguments:
        parent, child = context.Pipe()
        process = context.Process(target=target, args=(*args, child))
        process.start()
        pipes.append(parent)
        processes.append(process)
    for pipe in pipes:
        if pipe.recv() != "ready":
            raise SystemExit("a client process failed to start")
    go = time.monotonic()
    for pipe in pipes:
        pipe.send(go + seconds)
    results = [pipe.recv() for pipe in pipes]
    for process in processes:
        process.join()
    latencies = sorted(x for lat, _, _ in results for x in lat)
    if not latencies:
        raise SystemExit("no call completed")
    return Calls(latencies, sum(f for _, f, _ in results), max(end for _, _, end in results) - go)


def call_until_go_deadline(conn: Connection, call: Sequence[Callable[[int], bool]]) -> None:
    """In a client process whose set-up is done: one thread per ``call`` (``call[n](k)`` makes
    the k-th call of thread n, True when it succeeded); report ready, call from the go until the
    deadline, and send back the latencies, the failures and when the last call ended."""
    conn.send("ready")
    deadline: float = conn.recv()
    latencies: list[list[float]] = [[] for _ in call]
    failed = [0] * len(call)
    ended = [0.0] * len(call)

    def worker(n: int) -> None:
        k = n
        while time.monotonic() < deadline:
            started = time.perf_counter()
            if not call[n](k):
                failed[n] += 1
            latencies[n].append(time.perf_counter() - started)
            k += len(call)
        ended[n] = time.monotonic()

    workers = [Thread(target=worker, args=(n,)) for n in range(len(call))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    conn.send(([x for part in latencies for x in part], sum(failed), max(ended)))
