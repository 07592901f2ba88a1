"""Serving the HTTP API: uvicorn in a background thread, TLS with the node's certificate.

Plain HTTP only on loopback. Off loopback the node's own certificate (``tls.crt``, the one the
partner API serves) is used, and a plaintext server is refused unless the operator set
``network.insecure_plaintext``: bearer tokens would cross the network readable.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from node.errors import ConfigError
from node.model import is_loopback_endpoint

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 15.0  # uvicorn starts in well under a second; this is a stuck start


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one client may hold (``[http]``): a request must arrive whole within
    ``request_seconds`` of its connection (or of its first byte, on a kept-alive one), and
    one client address holds at most ``max_per_address`` connections at once."""

    request_seconds: float = 60.0
    max_per_address: int = 16


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools) with :class:`ConnectionLimits`.

    uvicorn times out only idle kept-alive connections: a caller that opens connections and
    never finishes a request (sends nothing, or trickles its headers or body) would hold them
    forever, and beyond ``limit_concurrency`` every other caller gets 503. Here such a
    connection is closed when its request is late, and an address over its share is answered
    503 at once, so one address cannot take the server's connections. Runs on the server's
    event loop only: the counts need no lock.
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    held: ClassVar[Counter[str]] = Counter()  # connections per client address (fresh per server)
    stats: ClassVar[Counter[str]] = Counter()  # late requests and refused connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._late: asyncio.TimerHandle | None = None
        self._address = "unknown"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else "unknown"
        self.held[self._address] += 1
        if self.held[self._address] > self.limits.max_per_address:
            self.stats["connections_refused"] += 1
            log.warning(
                "HTTP connection from %s refused: it holds %d already (http.max_connections_per_address)",
                self._address,
                self.limits.max_per_address,
            )
            self._answer_503(b"too many connections from this address; retry later")
            return
        self._arm()  # the first request must arrive in time too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.held[self._address] -= 1
        if self.held[self._address] <= 0:
            del self.held[self._address]
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._late = self.loop.call_later(self.limits.request_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._late is not None:
            self._late.cancel()
            self._late = None

    def _too_slow(self) -> None:
        self._late = None
        if self.transport.is_closing():
            return
        self.stats["requests_too_slow"] += 1
        log.warning(
            "HTTP connection from %s closed: no whole request within %g s (http.request_seconds)",
            self._address,
            self.limits.request_seconds,
        )
        self.transport.close()

    def _answer_503(self, message: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(message)).encode() + b"\r\nconnection: close\r\n\r\n" + message
        )
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` class of its own (limits and counts) for one server."""
    return type(
        "GuardedProtocol",
        (GuardedProtocol,),
        {"limits": limits, "held": Counter(), "stats": Counter()},
    )


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The PEM key and certificate files the server presents."""

    key: Path
    cert: Path


def check_transport(
    address: str, *, tls: TlsFiles | None, allow_plaintext: bool, name: str = "HTTP API"
) -> None:
    """Refuse plaintext off loopback unless explicitly allowed (``network.insecure_plaintext``)."""
    if tls is None and not is_loopback_endpoint(address) and not allow_plaintext:
        raise ConfigError(
            f"the {name} would serve plaintext on {address}, which is not loopback: bearer tokens"
            " would cross the network readable (serve TLS, or set network.insecure_plaintext)"
        )


class HttpServer:
    """A bound HTTP API server; :meth:`start` serves it in a daemon thread."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        address: str,
        tls: TlsFiles | None,
        allow_plaintext: bool = False,
        grace_seconds: float = 5.0,
        max_concurrency: int | None = None,
        name: str = "HTTP API",
        limits: ConnectionLimits | None = None,
    ) -> None:
        check_transport(address, tls=tls, allow_plaintext=allow_plaintext, name=name)
        if tls is None and not is_loopback_endpoint(address):
            log.warning(
                "INSECURE: the %s on %s is PLAINTEXT (network.insecure_plaintext): credentials"
                " and every answer cross the network readable",
                name,
                address,
            )
        self._name = name
        self._socket = _bind(address, name)
        self.tls = tls
        # httptools, named rather than picked: every install parses requests the same way.
        self.protocol = guarded_protocol(limits or ConnectionLimits())
        config = uvicorn.Config(
            app,
            http=self.protocol,
            log_config=None,  # the node configures logging once
            access_log=False,  # uvicorn's access line holds the query string; ours does not
            lifespan="off",
            server_header=False,
            # The socket's peer address is the client: X-Forwarded-For from loopback would let
            # any local process pick the address its rate limits and login lockout count under.
            proxy_headers=False,
            ssl_keyfile=None if tls is None else str(tls.key),
            ssl_certfile=None if tls is None else str(tls.cert),
            timeout_graceful_shutdown=int(grace_seconds),
            limit_concurrency=max_concurrency,
        )
        # Never an access line: uvicorn's holds the query string, which may carry a hash value.
        logging.getLogger("uvicorn.access").disabled = True
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._socket.getsockname()[1])

    def start(self) -> None:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=self._name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the {self._name} did not start (see the log above)")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (the grace period), then return."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
        self._socket.close()


def _bind(address: str, name: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except (OSError, ValueError, OverflowError) as exc:  # OverflowError: a port above 65535
        sock.close()
        raise ConfigError(f"cannot listen on {address} for the {name}: {exc}") from exc
    return sock
