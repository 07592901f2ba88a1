"""HTTP API vs gRPC Local API: single-signal matches/s, p50 and p99, and 1 MP JPEG matches/s.

    .venv/bin/python -m bench.http_api [--indicators 1000000] [--clients 4] [--threads 4]
                                       [--seconds 20] [--media-seconds 10] [--data DIR]

One real ``accord serve`` process holds N random PDQ indicators (the cached homes of
``bench.cold_start``; ``--indicators 10000000`` is the issue's size) and serves both the gRPC
Local API and the HTTP API (``--http``) on loopback. In the same run, client processes (each
with several threads and its own keep-alive connections) send one-signal match requests for
``--seconds`` to each API in turn: half are listed hashes with up to 31 bits flipped (they
match), half random (they do not). The HTTP clients use ``http.client`` (the lightest client
in the standard library, so the figure is the server's, not the client's) with a matcher
token of their own. Then the HTTP clients upload a 1-megapixel JPEG (multipart/form-data,
``POST /v1/match``) for ``--media-seconds``: matches/s, and per core of this machine.
Clients and server share the machine's cores: the figures are conservative.

Targets (issue 14): HTTP single-signal ≥ 1,000 requests/s with p99 ≤ 20 ms at 10M indicators;
1 MP JPEG ≥ 30 matches/s per core.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from bench.callers import call_until_go_deadline, run_together
from bench.cold_start import REPO, build_home, free_port, wait_serving
from bench.match_api import api_rate, queries
from node.app import AccordNode
from node.model import Tlp
from node.model.accounts import Role
from tests.support.media import render_image

DEFAULT_COUNT = 100_000
TARGET_RATE = 1_000.0  # single-signal requests/s over HTTP (issue 14)
TARGET_P99_MS = 20.0
TARGET_MEDIA_PER_CORE = 30.0  # 1 MP JPEG matches/s per core (issue 14)
MEGAPIXEL = (1155, 866)  # 1,000,230 pixels, 4:3

Work = tuple[str, bytes, str]  # (path, body, content type)


def jpeg_1mp() -> bytes:
    """A natural-looking 1-megapixel JPEG (the test suite's generated images)."""
    out = io.BytesIO()
    render_image(seed=1, size=MEGAPIXEL).save(out, "JPEG", quality=90)
    return out.getvalue()


def multipart(data: bytes) -> tuple[bytes, str]:
    """``data`` as one file part of a multipart/form-data body, and its content type."""
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return body + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def http_client_process(port: int, token: str, work: list[Work], threads: int, conn: Connection) -> None:
    """One client process: ``threads`` threads, each with a keep-alive connection opened before
    the go (bench/callers.py), posting ``work`` round-robin until the deadline."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(threads)]
    for connection in connections:
        connection.connect()

    def caller(n: int) -> Callable[[int], bool]:
        def call(k: int) -> bool:
            path, body, kind = work[k % len(work)]
            headers = {"Authorization": f"Bearer {token}", "Content-Type": kind}
            try:
                connections[n].request("POST", path, body=body, headers=headers)
                response = connections[n].getresponse()
                response.read()
            except (OSError, http.client.HTTPException):  # counted, not fatal
                connections[n].close()
                connections[n] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                return False
            return response.status == 200

        return call

    call_until_go_deadline(conn, [caller(n) for n in range(threads)])
    for connection in connections:
        connection.close()


def http_rate(
    port: int, token: str, work: list[Work], *, clients: int, threads: int, seconds: float
) -> tuple[float, float, float, int]:
    """Run the HTTP client processes; (requests/s, p50 ms, p99 ms, failures)."""
    arguments = [(port, token, work[n::clients] or work, threads) for n in range(clients)]
    calls = run_together(http_client_process, arguments, seconds)
    return calls.rate, calls.percentile_ms(0.5), calls.percentile_ms(0.99), calls.failed


def bench_token(root: Path) -> tuple[str, str]:
    """A matcher account for this run (name, token); removed again at the end."""
    name = f"bench-{os.getpid()}"
    node = AccordNode.open(root)
    try:
        return name, node.add_api_account(name, role=Role.MATCHER, max_tlp=Tlp.RED).token
    finally:
        node.close()


def remove_token(root: Path, name: str) -> None:
    node = AccordNode.open(root)
    try:
        node.remove_api_account(name)
    finally:
        node.close()


def wait_http(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until GET /v1/health answers 200 (the lists are loaded)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"accord serve exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/v1/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the HTTP API did not become healthy")


def main() -> None:
    """Parse arguments, build or reuse the home, serve both APIs and measure them in turn."""
    parser = argparse.ArgumentParser(prog="python -m bench.http_api", description=__doc__.split("\n")[0])
    parser.add_argument("--indicators", type=int, default=DEFAULT_COUNT, help="indicators the node holds")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per client process")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each API is called")
    parser.add_argument("--media-seconds", type=float, default=10.0, help="how long JPEGs are uploaded")
    parser.add_argument("--data", type=Path, default=REPO / ".bench-data", help="where homes are cached")
    args = parser.parse_args()
    count = args.indicators
    root = args.data / f"cold-start-{count}" / "home"  # the same homes as bench.cold_start
    root.parent.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    print(f"machine   {cores} cores, load average {os.getloadavg()[0]:.2f} (clients and server share them)")
    build_home(root, count)
    texts = queries(20_000, count, seed=3)
    work = [("/v1/match", json.dumps({"signals": [t]}).encode(), "application/json") for t in texts]
    name, token = bench_token(root)
    local, http_port = free_port(), free_port()
    command = [sys.executable, "-m", "node", "serve", "--home", str(root)]
    command += ["--listen", f"127.0.0.1:{free_port()}", "--local-listen", f"127.0.0.1:{local}"]
    command += ["--http", f"127.0.0.1:{http_port}"]
    env = {
        **os.environ,
        "ACCORD_MATCH_INDEX_SAVE_SECONDS": "0",
        "ACCORD_LOG_LEVEL": "WARNING",
        "ACCORD_HTTP_RATE_PER_SECOND": "1000000",  # the bench measures the server, not the limiter
        "ACCORD_HTTP_RATE_BURST": "1000000",
        # every client connects from 127.0.0.1: the per-address share would cap --clients x --threads
        "ACCORD_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "10000",
    }
    log = root.parent / "http-api-serve.log"
    try:
        with log.open("w") as out:
            server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
            try:
                wait_serving(f"127.0.0.1:{local}", server)
                wait_http(http_port, server)
                measure(args, ports=(http_port, local), token=token, work=work, texts=texts, cores=cores)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(120)
    finally:
        remove_token(root, name)
    print(f"machine   load average {os.getloadavg()[0]:.2f} at the end")


def measure(
    args: argparse.Namespace,
    *,
    ports: tuple[int, int],
    token: str,
    work: list[Work],
    texts: list[str],
    cores: int,
) -> None:
    """Both APIs, one after the other, then media over HTTP; prints every figure."""
    port, local = ports
    http_rate(port, token, work[:200], clients=1, threads=1, seconds=1.0)  # warm: JIT, connections
    rate, p50, p99, failed = http_rate(
        port, token, work, clients=args.clients, threads=args.threads, seconds=args.seconds
    )
    print(
        f"http      {args.clients} client processes x {args.threads} threads, POST /v1/match one signal"
        f" ({failed} failed): {rate:,.0f} requests/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    grpc = api_rate(
        f"127.0.0.1:{local}", texts, clients=args.clients, threads=args.threads, seconds=args.seconds
    )
    print(f"ratio     HTTP requests/s / gRPC calls/s: {rate / grpc:.2f}")
    verdict = "PASS" if rate >= TARGET_RATE and p99 <= TARGET_P99_MS else "MISS"
    print(
        f"target    HTTP ≥ {TARGET_RATE:,.0f} requests/s and p99 ≤ {TARGET_P99_MS:.0f} ms: {verdict}"
        f" ({rate:,.0f}/s, p99 {p99:.1f} ms; the issue's figure is at 10M indicators)"
    )
    body, kind = multipart(jpeg_1mp())
    media = [("/v1/match", body, kind)]
    m_rate, m_p50, m_p99, m_failed = http_rate(
        port, token, media, clients=args.clients, threads=1, seconds=args.media_seconds
    )
    per_core = m_rate / cores
    print(
        f"media     1 MP JPEG ({len(body) // 1024} KiB) over HTTP, {args.clients} clients"
        f" ({m_failed} failed):"
        f" {m_rate:,.1f} matches/s = {per_core:,.1f} per core ({cores} cores);"
        f" p50 {m_p50:.0f} ms, p99 {m_p99:.0f} ms"
    )
    print(
        f"target    ≥ {TARGET_MEDIA_PER_CORE:.0f} JPEG matches/s per core:"
        f" {'PASS' if per_core >= TARGET_MEDIA_PER_CORE else 'MISS'} ({per_core:,.1f})"
    )


if __name__ == "__main__":
    main()
