"""Real ``accord`` processes for integration tests: CLI calls and long-running ``accord serve``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ACCORD = [sys.executable, "-m", "node"]


def _ephemeral_low() -> int:
    """The first port the kernel hands out to outgoing connections and ``bind(0)``."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Test servers listen on ports *below* the kernel's ephemeral range. A port picked with bind(0)
# comes from that range, and between picking it and `accord serve` binding it any outgoing
# connection of a parallel test may be given it ("Address already in use" in CI). Below the
# range only this allocator hands ports out, and each xdist worker has its own slice.
_POOL_LOW = max(1024, _ephemeral_low() - 12_000)
_POOL_SIZE = _ephemeral_low() - _POOL_LOW
_SLICES = 16
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
_SLICE = int(_worker) % _SLICES if _worker.isdigit() else 0
_SLICE_SIZE = _POOL_SIZE // _SLICES
_next = [os.getpid() % _SLICE_SIZE]


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive loopback ports, all free now and kept from other tests."""
    for _ in range(_SLICE_SIZE):
        offset = _next[0]
        _next[0] = (offset + count) % _SLICE_SIZE
        if offset + count > _SLICE_SIZE:
            continue
        base = _POOL_LOW + _SLICE * _SLICE_SIZE + offset
        if all(_bindable(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} free loopback port(s) in this test worker's slice")


def free_port() -> int:
    """A TCP port on loopback, free now, outside the ephemeral range (see above)."""
    return free_ports(1)


def accord(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one accord command to completion."""
    return subprocess.run(
        [*ACCORD, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def accord_json(*args: str | Path) -> Any:
    """Run an accord command with --json and parse its output."""
    result = accord(*args, "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    explain: Callable[[], str] | None = None,
) -> float:
    """Seconds until ``predicate`` held; AssertionError after ``timeout``, with what ``explain``
    says about the state the condition was waiting on (which process died, what its log said)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    detail = f"\n{explain()}" if explain is not None else ""
    raise AssertionError(f"condition not met within {timeout} s{detail}")


class ServeProcess:
    """``accord serve`` in the background, its stderr in a log file; stopped with SIGTERM."""

    def __init__(
        self,
        home: Path,
        *,
        listen: int,
        local: int,
        log: Path,
        env: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
        ready_timeout: float = 30,
    ) -> None:
        self.home, self.listen, self.local, self.log = home, listen, local, log
        self._log_handle = log.open("w")
        self.process = subprocess.Popen(
            [
                *ACCORD,
                "-v",
                "serve",
                "--home",
                str(home),
                "--listen",
                f"127.0.0.1:{listen}",
                "--local-listen",
                f"127.0.0.1:{local}",
                *extra,
            ],
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            wait_for(
                lambda: "SERVING" in log.read_text() or self.process.poll() is not None, timeout=ready_timeout
            )
        except AssertionError:
            self.process.kill()  # never leave a half-started server behind
            self.process.wait()
            self._log_handle.close()
            raise
        if self.process.poll() is not None:
            self._log_handle.close()
            raise RuntimeError(f"accord serve exited early:\n{log.read_text()}")

    def describe(self, lines: int = 12) -> str:
        """Whether the process runs (or how it ended) and the last lines of its log."""
        code = self.process.poll()
        state = "running" if code is None else f"exited with {code}"
        try:
            tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError as error:
            tail = [f"(log unreadable: {error})"]
        return "\n".join([f"{self.home.name} (pid {self.process.pid}): {state}", *("  " + t for t in tail)])

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; kill only if it does not stop in time. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_handle.close()
        return self.process.returncode
