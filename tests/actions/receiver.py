"""A real webhook receiver for tests: a threading HTTP server on loopback that records every
POST (headers, body) and answers as the test says: ok, fail (500), hang, redirect, slow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it (header names in lowercase)."""

    headers: dict[str, str]
    body: bytes

    @property
    def key(self) -> str:
        return self.headers["idempotency-key"]

    def record(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """Behaviour: "ok", "fail", "hang", "redirect:<url>", "huge"; ``delay`` before answering."""

    def __init__(self, behaviour: str = "ok", *, delay: float = 0.0) -> None:
        self.behaviour = behaviour
        self.delay = delay
        self.received: list[Received] = []
        self.in_flight = 0  # requests held in the delay: received, no byte of the answer sent
        self.release = threading.Event()  # ends hanging handlers at shutdown
        self.check: Callable[[Received], bool] | None = None  # False answers 401
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                got = Received({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                owner.received.append(got)
                owner.answer(self, got)

            def log_message(self, format: str, *args: Any) -> None:  # the base's names
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def answer(self, handler: BaseHTTPRequestHandler, got: Received) -> None:
        if self.delay:
            self.in_flight += 1
            time.sleep(self.delay)
            self.in_flight -= 1
        if self.behaviour == "hang":
            self.release.wait(60)
            return
        if self.behaviour.startswith("redirect:"):
            _send(handler, 302, b"", {"Location": self.behaviour.removeprefix("redirect:")})
            return
        if self.behaviour == "huge":  # claims 100 MB and trickles it
            handler.send_response(200)
            handler.send_header("Content-Length", str(100 * 1024 * 1024))
            handler.end_headers()
            try:
                for _ in range(1000):
                    handler.wfile.write(b"x" * 65536)
            except OSError:
                pass
            return
        if self.check is not None and not self.check(got):
            _send(handler, 401, b"bad signature", {})
            return
        _send(handler, 500 if self.behaviour == "fail" else 200, b"{}", {})

    @property
    def keys(self) -> set[str]:
        return {r.key for r in self.received}


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def receiver(behaviour: str = "ok", *, delay: float = 0.0) -> Iterator[Receiver]:
    """A running receiver, stopped on exit."""
    server = Receiver(behaviour, delay=delay)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(10)
