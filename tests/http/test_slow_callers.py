"""Callers that hold connections (slowloris): a request must arrive whole in time, and one
client address holds a bounded share of the server's connections. Raw sockets against the real
uvicorn server on loopback; the second address is 127.0.0.2 (all of 127/8 is loopback)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from node.app import AccordNode
from node.config import HttpSection, NodeConfig
from node.errors import ConfigError
from node.http.server import HttpServer
from tests.http.conftest import start_server

REQUEST_SECONDS = 1.0
PER_ADDRESS = 3
HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def server(published: AccordNode) -> Iterator[HttpServer]:
    running = start_server(
        published, request_seconds=REQUEST_SECONDS, max_connections_per_address=PER_ADDRESS
    )
    yield running
    running.stop()


def connect(server: HttpServer, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=(source, 0))


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (read everything it sent), or None."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def answer(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_connection_that_sends_nothing_is_closed_when_its_request_is_late(server: HttpServer) -> None:
    before = server.protocol.stats["requests_too_slow"]
    with connect(server) as sock:
        waited = closed_within(sock, 10)
    assert waited is not None and REQUEST_SECONDS * 0.8 <= waited < REQUEST_SECONDS + 2
    assert server.protocol.stats["requests_too_slow"] == before + 1


def test_a_trickled_request_is_closed_although_bytes_keep_coming(server: HttpServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        closed = False
        for byte in b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 40:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)  # 10 bytes a second: the request would take 6 s
            if closed_within(sock, 0.001) is not None:
                closed = True
                break
        elapsed = time.monotonic() - started
    assert closed and elapsed < REQUEST_SECONDS + 2


def test_a_slow_request_within_the_limit_and_kept_alive_requests_are_served(server: HttpServer) -> None:
    with connect(server) as sock:
        sock.sendall(HEALTH[:10])
        time.sleep(REQUEST_SECONDS / 2)
        sock.sendall(HEALTH[10:])
        first = answer(sock)
        time.sleep(REQUEST_SECONDS * 1.5)  # idle between requests: the keep-alive timeout's business
        sock.sendall(HEALTH)
        second = answer(sock)
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")


def test_one_address_cannot_take_the_servers_connections(server: HttpServer) -> None:
    before = server.protocol.stats["connections_refused"]
    held = [connect(server, "127.0.0.2") for _ in range(PER_ADDRESS)]
    try:
        time.sleep(0.2)
        with connect(server, "127.0.0.2") as extra:
            refused = answer(extra)
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            other = client.get("/v1/health")
    finally:
        for sock in held:
            sock.close()
    assert refused.startswith(b"HTTP/1.1 503") and b"connection: close" in refused.lower()
    assert other.status_code == 200  # another address is served meanwhile
    assert server.protocol.stats["connections_refused"] == before + 1
    time.sleep(0.2)
    with connect(server, "127.0.0.2") as again:  # the share frees when they close
        again.sendall(HEALTH)
        assert answer(again).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    ("setting", "value"),
    [("request_seconds", 0.0), ("request_seconds", float("inf")), ("max_connections_per_address", 0)],
)
def test_bad_limits_are_refused_at_config_time(setting: str, value: float) -> None:
    with pytest.raises(ConfigError, match=setting):
        replace(NodeConfig(), http=replace(HttpSection(), **{setting: value}))
