"""Hostile HTTP servers on loopback for import tests: a stdlib ``http.server`` in a thread whose
every answer is a function the test gives (redirect elsewhere, trickle, nest, ...)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def http_server(answer: Answer) -> Iterator[HttpServer]:
    """A running server on 127.0.0.1 (a free port), stopped on exit."""
    server = HttpServer(answer)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(10)


class HttpServer:
    """The server and the request headers it saw (names in lowercase), in order."""

    def __init__(self, answer: Answer) -> None:
        self.seen: list[dict[str, str]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                seen.append({k.lower(): v for k, v in self.headers.items()} | {":path": self.path})
                answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # the base's names
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/"


def send_json(handler: BaseHTTPRequestHandler, document: object, *, status: int = 200) -> None:
    """Answer with ``document`` as TAXII JSON."""
    body = json.dumps(document).encode() if not isinstance(document, bytes) else document
    handler.send_response(status)
    handler.send_header("Content-Type", "application/taxii+json;version=2.1")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def redirect(to: str, *, status: int = 302) -> Answer:
    """Answer every request with a redirect to ``to``."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", to)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def trickle(*, every: float, total_bytes: int) -> Answer:
    """A 200 that sends one byte of its body every ``every`` seconds (never stalls longer)."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(total_bytes))
        handler.end_headers()
        try:
            for _ in range(total_bytes):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(every)
        except OSError:  # the client hung up: what the test wants
            return

    return answer
