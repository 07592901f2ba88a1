"""Hostile callers of the Federation API: each is refused, counted in status, and gets nothing.

Every case is a real server on loopback and a real signed (or mis-signed) request. What the
caller may see is decided only from the key that verified the signature; the count of refused
requests appears in ``accord status`` under ``unauthenticated``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from node.app import AccordNode, init_home
from node.app.metrics import NodeMetrics
from node.app.serve import _start
from node.errors import Unauthenticated
from node.feed import NodeIdentity, public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import ContentType, Distribution, Tlp
from node.rpc.auth import RequestVerifier, sign_request
from node.rpc.federation import PULL_METHOD
from node.rpc.pb import federation_pb2, federation_pb2_grpc
from node.rpc.refusals import MAX_SAMPLES, SAMPLES_PER_MINUTE, Refusals
from node.rpc.server import Servers
from node.store.analyst import period_counts
from node.sync.publish import Contribution
from tests.app.test_metrics import sample, scrape
from tests.support.feeds import encryption_keys, identity, pdq_signal
from tests.support.processes import accord, wait_for

PLATFORM = identity(7)  # pinned, and the only recipient of the RED entry
PLATFORM_KEYS = encryption_keys(7)  # the platform's encryption key the RED body is sealed to
HOTLINE = identity(8)  # pinned too, but not a recipient
STRANGER = identity(99)  # never pinned

Metadata = list[tuple[str, str]]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example NGO")
    opened = AccordNode.open(tmp_path / "home")
    opened.config = replace(opened.config, network=replace(opened.config.network, local_listen="127.0.0.1:0"))
    platform_key = encryption_key_to_text(PLATFORM_KEYS.public)  # compared out of band, like the key
    opened.add_partner(
        "platform",
        public_key=public_key_to_text(PLATFORM.public_key),
        endpoint=None,
        encryption_key=platform_key,
    )
    opened.add_partner("hotline", public_key=public_key_to_text(HOTLINE.public_key), endpoint=None)
    items = [Contribution(pdq_signal(j), ContentType.IMAGE, 100) for j in range(3)]
    red = Distribution(tlp=Tlp.RED, recipients=frozenset({PLATFORM.key_id}))
    opened.publisher.contribute(items, category="csam", distribution=red)
    yield opened
    opened.close()


@pytest.fixture
def servers(node: AccordNode) -> Iterator[Servers]:
    running = _start(node, "127.0.0.1:0")
    yield running
    running.stop(0)


def counted(node: AccordNode, expected: dict[str, int]) -> None:
    """``accord status`` shows ``expected`` refusals: refused calls reach the store within a second."""
    wait_for(lambda: node.status().rejections == expected, timeout=5, interval=0.05)
    time.sleep(1.2)  # and nothing more arrives with the next flush
    assert node.status().rejections == expected


def request_for(node: AccordNode, seq: int = 0) -> federation_pb2.PullRequest:
    return federation_pb2.PullRequest(cursors=[federation_pb2.Cursor(origin=node.key_id, seq=seq)])


def claiming(metadata: Metadata, key_id: str) -> Metadata:
    return [(k, key_id if k == "x-accord-caller" else v) for k, v in metadata]


def spoofed_header(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)  # a stranger signs, and claims to be the platform
    return request, claiming(sign_request(STRANGER, PULL_METHOD, request), PLATFORM.key_id)


def wrong_signer(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)  # a pinned partner signs, and claims to be another pinned partner
    return request, claiming(sign_request(HOTLINE, PULL_METHOD, request), PLATFORM.key_id)


def expired_timestamp(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)
    return request, sign_request(PLATFORM, PULL_METHOD, request, now=time.time() - 3600)


def future_timestamp(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)
    return request, sign_request(PLATFORM, PULL_METHOD, request, now=time.time() + 3600)


def unknown_key(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)
    return request, sign_request(STRANGER, PULL_METHOD, request)


def method_mismatch(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)  # signed for another method, sent to Pull
    return request, sign_request(PLATFORM, "/accord.v1.Federation/GetNodeInfo", request)


def digest_mismatch(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    signed = request_for(node, seq=5)  # signed for other cursors than the ones sent
    return request_for(node), sign_request(PLATFORM, PULL_METHOD, signed)


def bad_signature_encoding(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)
    metadata = sign_request(PLATFORM, PULL_METHOD, request)
    return request, [(k, "not*base64" if k == "x-accord-signature" else v) for k, v in metadata]


def huge_timestamp(node: AccordNode) -> tuple[federation_pb2.PullRequest, Metadata]:
    request = request_for(node)  # int() of it divided by 1000 overflowed a float: UNKNOWN status
    metadata = sign_request(PLATFORM, PULL_METHOD, request)
    return request, [(k, "9" * 400 if k == "x-accord-timestamp" else v) for k, v in metadata]


CASES: dict[str, tuple[Callable[[AccordNode], tuple[federation_pb2.PullRequest, Metadata]], str]] = {
    "spoofed identity header": (spoofed_header, "does not verify"),
    "wrong signer": (wrong_signer, "does not verify"),
    "expired timestamp": (expired_timestamp, "replay window"),
    "timestamp from the future": (future_timestamp, "replay window"),
    "unknown key": (unknown_key, "not pinned"),
    "method mismatch": (method_mismatch, "does not verify"),
    "digest mismatch": (digest_mismatch, "does not verify"),
    "signature not base64": (bad_signature_encoding, "not base64"),
    "huge timestamp": (huge_timestamp, "not a number of milliseconds"),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_hostile_caller_is_refused_counted_and_gets_nothing(
    node: AccordNode, servers: Servers, case: str
) -> None:
    build, message = CASES[case]
    request, metadata = build(node)
    entries_before = node.store.reader.execute("SELECT COUNT(*) FROM entries").fetchone()
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    pages: list[federation_pb2.EntryPage] = []
    with pytest.raises(grpc.RpcError) as caught:
        pages.extend(stub.Pull(request, metadata=metadata, timeout=5))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert message in (caught.value.details() or "")
    assert pages == []  # not one entry left the node
    counted(node, {"unauthenticated": 1})
    assert node.store.reader.execute("SELECT COUNT(*) FROM entries").fetchone() == entries_before


def test_a_replayed_nonce_is_refused_and_counted_while_the_first_call_succeeds(
    node: AccordNode, servers: Servers
) -> None:
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    request = request_for(node)
    metadata = sign_request(PLATFORM, PULL_METHOD, request)
    assert len(list(stub.Pull(request, metadata=metadata, timeout=5))) == 1
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Pull(request, metadata=metadata, timeout=5))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED and "replayed" in (
        caught.value.details() or ""
    )
    counted(node, {"unauthenticated": 1})


def test_a_pinned_non_recipient_gets_the_red_header_but_only_ciphertext(
    node: AccordNode, servers: Servers
) -> None:
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    request = request_for(node)
    for caller in (HOTLINE, PLATFORM):  # format 2: every pinned partner gets every header
        pages = list(stub.Pull(request, metadata=sign_request(caller, PULL_METHOD, request), timeout=5))
        entries = [entry for page in pages for entry in page.entries]
        assert len(entries) == 1 and entries[0].has_body
        body = entries[0].body  # sealed: no hash value of the RED entry travels in the clear
        assert all(pdq_signal(j).value.encode() not in body for j in range(3))
        assert b"indicator" not in body and b"pdq" not in body


def test_a_huge_timestamp_is_refused_as_unauthenticated(node: AccordNode, servers: Servers) -> None:
    """Issue 13: a 400-digit x-accord-timestamp raised OverflowError, answered as UNKNOWN."""
    request, metadata = huge_timestamp(node)
    stub = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}"))
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Pull(request, metadata=metadata, timeout=5))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "not a number of milliseconds" in (caught.value.details() or "")
    counted(node, {"unauthenticated": 1})


def test_the_nonce_cache_stays_bounded_and_never_forgets_into_a_replay() -> None:
    """Issue 13: the cache only shrank by age, so a wide window let it grow without bound."""
    now = [1_000_000.0]
    verifier = RequestVerifier(
        pinned=lambda: {PLATFORM.key_id: PLATFORM.public_key},
        window_seconds=3600,
        clock=lambda: now[0],
        max_nonces=50,
    )
    request = federation_pb2.PullRequest()
    signed = []
    for _ in range(200):
        metadata = sign_request(PLATFORM, PULL_METHOD, request, now=now[0])
        verifier.verify(PULL_METHOD, request, metadata)
        signed.append(metadata)
        now[0] += 1
        assert verifier.remembered <= 50
    # Every request already seen is refused: as a replay while remembered, as too old once forgotten.
    reasons = set()
    for metadata in signed:
        with pytest.raises(Unauthenticated) as caught:
            verifier.verify(PULL_METHOD, request, metadata)
        reasons.add("replayed" if "replayed" in str(caught.value) else "older")
    assert reasons == {"replayed", "older"}
    verifier.verify(
        PULL_METHOD, request, sign_request(PLATFORM, PULL_METHOD, request, now=now[0])
    )  # fresh: fine


class StalledCalls:
    """One TCP connection that keeps ``count`` Pull calls open without ever sending their request
    (a stream whose request iterator blocks), reopening each call the server ends."""

    def __init__(self, port: int, count: int, metadata: Callable[[], Metadata]) -> None:
        # Its own connection, as another process would have (channels otherwise share connections).
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
        )
        self._pull = self.channel.stream_stream(PULL_METHOD)
        self._metadata = metadata
        self._count = count
        self._never = threading.Event()
        self._stop = threading.Event()
        self.opened = 0
        self.ended: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StalledCalls:
        self._thread.start()
        wait_for(lambda: self.opened >= self._count, timeout=10, interval=0.01)
        time.sleep(0.5)  # the streams reach the server and take whatever they can
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._never.set()
        self._thread.join(10)
        self.channel.close()

    def _silence(self) -> Iterator[bytes]:
        self._never.wait()
        yield from ()

    def _run(self) -> None:
        calls: list[grpc.Future] = []
        while not self._stop.is_set():
            for call in [c for c in calls if c.done()]:
                calls.remove(call)
                self.ended[call.code().name] += 1
            while len(calls) < self._count:
                calls.append(self._pull(self._silence(), metadata=self._metadata(), timeout=60))
                self.opened += 1
            time.sleep(0.005)
        for call in calls:
            call.cancel()


def signed_pull(node: AccordNode, port: int, caller: NodeIdentity) -> tuple[float, int]:
    """A legitimate signed Pull on its own connection: (seconds taken, pages received)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = request_for(node)
        started = time.monotonic()
        pages = list(
            federation_pb2_grpc.FederationStub(channel).Pull(
                request, metadata=sign_request(caller, PULL_METHOD, request), timeout=10
            )
        )
        return time.monotonic() - started, len(pages)


def health_check(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = health_pb2.HealthCheckRequest(service="")
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status  # type: ignore[no-any-return]


def test_a_keyless_caller_holding_66_silent_pulls_stalls_no_partner(
    node: AccordNode, servers: Servers
) -> None:
    """Issue 13: 66 Pull streams that never send made every call answer RESOURCE_EXHAUSTED."""
    servers.set_serving(True)
    port = servers.federation_port
    baseline = sorted(signed_pull(node, port, PLATFORM)[0] for _ in range(5))[2]
    with StalledCalls(port, 66, lambda: []) as attack:
        timings: list[float] = []
        ends = time.monotonic() + 3  # three seconds of attack, a pull and a health check after another
        while time.monotonic() < ends or len(timings) < 10:
            taken, pages = signed_pull(node, port, PLATFORM)
            assert pages == 1  # the partner's pull succeeded, with its RED entry
            timings.append(taken)
            assert health_check(port) == health_pb2.HealthCheckResponse.SERVING
        info = federation_pb2_grpc.FederationStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        assert info.GetNodeInfo(federation_pb2.NodeInfoRequest(), timeout=5).key_id == node.key_id
    # The silent streams were refused from their metadata alone, never waiting for a request;
    # streams beyond the connection's limit were refused by HTTP/2 (REFUSED_STREAM: UNAVAILABLE).
    assert attack.ended["UNAUTHENTICATED"] > 0
    assert set(attack.ended) <= {"UNAUTHENTICATED", "UNAVAILABLE"}
    median, worst = sorted(timings)[len(timings) // 2], max(timings)
    print(
        f"stall: {attack.opened} silent keyless pulls on one connection ({dict(attack.ended)});"
        f" {len(timings)} legitimate pulls, median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms"
        f" (without the attack {baseline * 1000:.0f} ms)"
    )
    assert worst < 5


def forged_claim(caller: NodeIdentity) -> Metadata:
    """Metadata claiming a pinned partner, fresh and well-formed, with a signature nobody checked yet."""
    metadata = sign_request(STRANGER, PULL_METHOD, request_for_any())
    return claiming(metadata, caller.key_id)


def request_for_any() -> federation_pb2.PullRequest:
    return federation_pb2.PullRequest()


@pytest.fixture
def quick_servers(node: AccordNode) -> Iterator[Servers]:
    """Servers whose first-message deadline is 1 s."""
    network = replace(node.config.network, first_message_seconds=1.0)
    node.config = replace(node.config, network=network)
    running = _start(node, "127.0.0.1:0")
    running.set_serving(True)
    yield running
    running.stop(0)


def test_silent_calls_claiming_a_pinned_key_hold_a_bounded_share_briefly(
    node: AccordNode, quick_servers: Servers
) -> None:
    """Metadata naming a pinned key passes the early checks (the signature covers the request,
    not yet read): such silent calls hold at most their per-partner share of slots, for at most
    the first-message deadline, and the other partners and health checks are unaffected."""
    port = quick_servers.federation_port
    ended: Counter[str] = Counter()
    with ExitStack() as stack:  # three connections of 8 silent calls: more than PLATFORM's 8 slots
        attacks = [
            stack.enter_context(StalledCalls(port, 8, lambda: forged_claim(PLATFORM))) for _ in range(3)
        ]
        for _ in range(3):
            assert signed_pull(node, port, HOTLINE)[1] == 1  # served: the RED header, its body sealed
            assert health_check(port) == health_pb2.HealthCheckResponse.SERVING
        time.sleep(1.5)  # past the deadline: the first silent calls were cancelled
        for attack in attacks:
            ended.update(attack.ended)
    print(f"silent calls claiming a pinned key: {dict(ended)}")
    assert ended["RESOURCE_EXHAUSTED"] > 0  # beyond PLATFORM's 8 slots: refused at once
    assert ended["CANCELLED"] > 0  # within them: cancelled after 1 s without a request
    wait_for(lambda: {"busy", "slow_request"} <= set(node.status().rejections), timeout=5)


def file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))  # the database, -wal, -shm


def test_a_flood_of_refused_calls_is_counted_without_growing_the_database(
    node: AccordNode, servers: Servers, tmp_path: Path
) -> None:
    """Issue 13: each refused call wrote a rejections row, a log line and a synced write
    (3,000 calls: +27 MB of WAL), and nothing pruned them. Now 3,000 refused calls (refused
    before their request is read, and refused by the signature check) are counted exactly in
    ``accord status`` and /metrics, while the store keeps a few samples and hourly counts."""
    metrics = NodeMetrics(node)
    stop_metrics = metrics.serve("127.0.0.1:0")
    database = node.store.path
    before = file_bytes(database)
    rejection_rows = node.store.reader.execute("SELECT COUNT(*) FROM rejections").fetchone()[0]
    request = request_for(node)

    def flood(worker: int) -> Counter[str]:
        codes: Counter[str] = Counter()
        # A connection per worker, as flooding clients have: streams one connection opens faster
        # than the server retires them are refused by HTTP/2 (UNAVAILABLE) and never reach it.
        options = [("grpc.use_local_subchannel_pool", 1)]
        with grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}", options=options) as channel:
            stub = federation_pb2_grpc.FederationStub(channel)
            for n in range(750):
                # One call in five names a pinned key with a wrong signature: refused by the handler.
                metadata = spoofed_header(node)[1] if n % 5 == 0 else unknown_key(node)[1]
                try:
                    list(stub.Pull(request, metadata=metadata, timeout=10))
                except grpc.RpcError as exc:
                    codes[exc.code().name] += 1
        return codes

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        codes = sum(pool.map(flood, range(4)), Counter())
    took = time.monotonic() - started
    try:
        assert set(codes) <= {"UNAUTHENTICATED", "UNAVAILABLE"} and sum(codes.values()) == 3000
        refused = codes["UNAUTHENTICATED"]  # what reached the server; all of them, in practice
        assert refused >= 2900
        counted(node, {"unauthenticated": refused})
        assert (
            sample(scrape(metrics.port), 'accord_entries_rejected_total{reason="unauthenticated"}') == refused
        )
        status = accord("status", "--home", node.home.root, "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["rejections"] == {"unauthenticated": refused}
    finally:
        stop_metrics()
    samples = node.store.refused_call_samples()
    hours = node.store.reader.execute("SELECT COUNT(*) FROM refused_calls").fetchone()[0]
    growth = file_bytes(database) - before
    print(
        f"refusal flood: {refused} of 3,000 calls refused by the server in {took:.1f} s;"
        f" {len(samples)} samples, {hours} hourly count rows, database + WAL grew {growth // 1024} KiB"
    )
    assert node.store.reader.execute("SELECT COUNT(*) FROM rejections").fetchone()[0] == rejection_rows
    assert len(samples) <= 2 * SAMPLES_PER_MINUTE  # one reason, at most two minutes
    assert {s.reason for s in samples} == {"unauthenticated"} and all(
        s.peer.startswith("ipv4:") for s in samples
    )
    assert hours <= 2
    assert growth < 512 * 1024


def test_refusal_samples_are_capped_and_log_lines_rate_limited(
    node: AccordNode, caplog: pytest.LogCaptureFixture
) -> None:
    """The samples kept are at most SAMPLES_PER_MINUTE per reason and minute and MAX_SAMPLES in
    all (oldest pruned); the log says one line per reason per interval, with the number since."""
    minute = [datetime(2026, 12, 1, tzinfo=UTC)]
    clock = [0.0]
    refusals = Refusals(node.store, now=lambda: minute[0], clock=lambda: clock[0], flush_seconds=3600)
    with caplog.at_level(logging.WARNING, logger="node.rpc.refusals"):
        for n in range(3 * MAX_SAMPLES):
            refusals.record(Unauthenticated(f"refusal {n}"), method=PULL_METHOD, peer="ipv4:192.0.2.1:5000")
            clock[0] += 0.01
            if n % SAMPLES_PER_MINUTE == 0:
                minute[0] += timedelta(minutes=1)
                refusals.flush()
    refusals.close()
    samples = node.store.refused_call_samples()
    assert len(samples) == MAX_SAMPLES
    assert samples[-1].message == f"refusal {3 * MAX_SAMPLES - 1}"  # the newest kept, the oldest pruned
    assert node.status().rejections == {"unauthenticated": 3 * MAX_SAMPLES}
    day = datetime(2026, 12, 1, tzinfo=UTC)  # the transparency report counts them by the hour
    assert period_counts(node.store, "refused", day, day + timedelta(days=1)) == [
        ("-", "unauthenticated", 3 * MAX_SAMPLES)
    ]
    assert period_counts(node.store, "refused", day + timedelta(days=1), day + timedelta(days=2)) == []
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3  # 30 s of refusals, one line per 10 s
    assert "more unauthenticated refusals in the last 10 s" in lines[1]


@pytest.mark.parametrize(
    ("requests", "message"),
    [([b"\xff\xff\xff"], "not a valid message"), ([], "ended before its request message arrived")],
    ids=["malformed request", "no request"],
)
def test_a_pull_without_a_readable_request_is_invalid_not_unknown(
    node: AccordNode, servers: Servers, requests: list[bytes], message: str
) -> None:
    """The admission layer reads unary requests itself: what it cannot read is INVALID_ARGUMENT."""
    with grpc.insecure_channel(f"127.0.0.1:{servers.federation_port}") as channel:
        pull = channel.stream_stream(PULL_METHOD)  # raw bytes, as a hostile client sends them
        metadata = sign_request(PLATFORM, PULL_METHOD, federation_pb2.PullRequest())
        with pytest.raises(grpc.RpcError) as caught:
            list(pull(iter(requests), metadata=metadata, timeout=5))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in (caught.value.details() or "")
