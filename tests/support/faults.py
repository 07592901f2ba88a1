"""A real TCP proxy that injects network faults between two real nodes.

It forwards bytes both ways between a client (the pulling node) and a server (the peer) and,
at planned points of the server→client stream, injects one fault:

- ``drop``: close both connections cleanly (the peer went away: FIN),
- ``reset``: abort the client connection (SO_LINGER 0: RST, "connection reset by peer"),
- ``stall``: stop forwarding with the connection left open (a hung peer), then close it.

The points are byte offsets into everything the server sent through the proxy, drawn from a
seeded random generator, so a fault lands at a random point of a random page and a seed
reproduces the run.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from dataclasses import dataclass, field

KINDS = ("drop", "stall", "reset")
_CHUNK = 16 * 1024


@dataclass(slots=True)
class Fault:
    """One planned fault: what, and after how many server bytes."""

    kind: str
    offset: int
    injected: bool = False


@dataclass(slots=True)
class _Link:
    client: socket.socket
    server: socket.socket
    dead: threading.Event = field(default_factory=threading.Event)

    def close(self, *, reset: bool = False) -> None:
        if reset:
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.dead.set()


class FaultProxy:
    """Listens on a free loopback port and forwards to ``target``; close it when done."""

    def __init__(
        self, target: str, *, seed: int, faults: int, spacing: tuple[int, int], stall_seconds: float
    ) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        rng = random.Random(seed)
        offset = 0
        self.plan: list[Fault] = []
        for _ in range(faults):
            offset += rng.randint(*spacing)
            self.plan.append(Fault(kind=rng.choice(KINDS), offset=offset))
        self._stall_seconds = stall_seconds
        self._sent = 0  # server→client bytes forwarded, over every connection
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def injected(self) -> list[Fault]:
        """The faults injected so far."""
        return [f for f in self.plan if f.injected]

    def close(self) -> None:
        """Stop accepting and drop every open connection."""
        self._closed.set()
        self._listener.close()
        for link in list(self._links):
            if not link.dead.is_set():
                link.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            link = _Link(client=client, server=server)
            self._links.append(link)
            threading.Thread(target=self._upstream, args=(link,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(link,), daemon=True).start()

    def _upstream(self, link: _Link) -> None:
        """client → server, unchanged."""
        try:
            while data := link.client.recv(_CHUNK):
                link.server.sendall(data)
        except OSError:
            pass
        if not link.dead.is_set():
            link.close()

    def _downstream(self, link: _Link) -> None:
        """server → client, with the planned faults."""
        try:
            while data := link.server.recv(_CHUNK):
                data, fault = self._cut(data)
                link.client.sendall(data)
                if fault is not None:
                    self._inject(fault, link)
                    return
        except OSError:
            pass
        if not link.dead.is_set():
            link.close()

    def _cut(self, data: bytes) -> tuple[bytes, Fault | None]:
        """The part of ``data`` before the next fault's offset, and that fault if it is reached."""
        with self._lock:
            start = self._sent
            fault = next((f for f in self.plan if not f.injected), None)
            if fault is None or start + len(data) < fault.offset:
                self._sent += len(data)
                return data, None
            fault.injected = True
            keep = max(0, fault.offset - start)
            self._sent += keep
            return data[:keep], fault

    def _inject(self, fault: Fault, link: _Link) -> None:
        if fault.kind == "stall":
            link.dead.wait(self._stall_seconds)  # forward nothing; the client must give up
        link.close(reset=fault.kind == "reset")
