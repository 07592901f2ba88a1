"""First sync between two nodes on loopback: publish, pull over real gRPC, verify, store, match.

    .venv/bin/python -m bench.sync [--indicators 1000000] [--quick] [--same-process] [--tlp green|amber|both]
                                   [--serving]

Two real node homes in a temporary directory: the origin publishes N PDQ indicators (timed),
serves its Federation API on a loopback port from its own process (as a second node would;
``--same-process`` serves it from this one), and the receiver pulls everything through the
production path (gRPC → verify → parse → STIX profile → one transaction per entry) and loads
its match lists, until all N are stored and a sample of them matches. In the same run the
``stix2`` library parses a sample of the same bundles, the path Accord's codec replaces.
Both nodes share this machine's cores; the receiver's CPU time is printed beside the clock.

Targets (issue 4): 1M indicators in ≤ 60 s, ≥ 50,000 indicators/s through ingest. ``--quick``
runs 100,000 indicators. ``--tlp amber`` publishes the feed as AMBER to the receiver: every body
sealed (feed format 2), opened by the receiver through its stanza; ``--tlp both`` runs GREEN then
AMBER in one run and prints the ratio (issue 12: GREEN no more than 10% slower than before).
``--serving`` receives as ``accord serve`` does: the receiver's (empty) lists are loaded before
the pull and follow its commits every ``sync.refresh_seconds`` from a thread of their own, so
"matchable" is when the last indicator is listed, and the deferred analyst indexes (not needed
to match) may still be building then.
Results go to stdout only; nothing is written outside the temp dir.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import stix2

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import ContentType, Distribution, Seq, Signal, SignalType, Tlp
from node.sync.ingest import Ingestor
from node.sync.publish import Contribution

FULL_COUNT = 1_000_000
QUICK_COUNT = 100_000
TARGET_SECONDS = 60.0  # for 1M indicators (issue 4)
TARGET_RATE = 50_000  # indicators/s through ingest
LIBRARY_SAMPLE = 2_000  # objects stix2 parses; at ~2,000/s a larger sample only takes longer
MATCH_SAMPLE = 100  # published signals the receiver must find in its lists afterwards
PUBLISH_BATCH = 100_000  # contributions per publish call (bounds the publisher's working set)
REFRESH_SECONDS = 0.5  # sync.refresh_seconds: how often a serving node's lists follow commits

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Timed:
    """How long one step took."""

    seconds: float

    def rate(self, count: int) -> float:
        """``count`` items per second."""
        return count / self.seconds if self.seconds > 0 else float("inf")


def timed(action: Callable[[], _T]) -> tuple[_T, Timed]:
    """Run ``action`` and measure its wall-clock time."""
    start = time.perf_counter()
    result = action()
    return result, Timed(time.perf_counter() - start)


def pdq_signals(count: int, seed: int = 4) -> list[Signal]:
    """Uniformly random PDQ hashes (unrelated images are ~128 bits apart)."""
    rng = random.Random(seed)
    return [Signal(SignalType.PDQ, f"{rng.getrandbits(256):064x}") for _ in range(count)]


def open_node(root: Path, name: str) -> AccordNode:
    """A fresh node home whose servers bind free loopback ports."""
    init_home(root, name=name)
    return open_existing(root)


def open_existing(root: Path) -> AccordNode:
    """The node at ``root``, its servers set to bind free loopback ports."""
    node = AccordNode.open(root)
    network = replace(node.config.network, listen="127.0.0.1:0", local_listen="127.0.0.1:0")
    node.config = replace(node.config, network=network)
    return node


def publish(origin: AccordNode, signals: list[Signal], distribution: Distribution) -> int:
    """Publish ``signals`` as csam PDQ indicators; returns how many entries that made."""
    entries = 0
    for start in range(0, len(signals), PUBLISH_BATCH):
        items = [Contribution(s, ContentType.IMAGE, 90) for s in signals[start : start + PUBLISH_BATCH]]
        report = origin.publisher.contribute(items, category="csam", distribution=distribution)
        entries += len(report.seqs)
    return entries


@contextmanager
def serving(origin: AccordNode, *, same_process: bool) -> Iterator[int]:
    """The origin's real gRPC servers on loopback; yields the Federation port.

    By default the origin serves from its own process, as a second node would; with
    ``same_process`` it shares this one (and its GIL) with the receiver.
    """
    if same_process:
        servers = _start(origin, "127.0.0.1:0")
        try:
            yield servers.federation_port
        finally:
            servers.stop(0)
        return
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=serve_origin, args=(str(origin.home.root), child), daemon=True
    )
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(30)


def serve_origin(root: str, conn: Connection) -> None:
    """Child process: serve the origin node at ``root`` until told to stop."""
    node = open_existing(Path(root))
    servers = _start(node, "127.0.0.1:0")
    conn.send(servers.federation_port)
    conn.recv()
    servers.stop(0)
    node.close()


def pin_both_ways(origin: AccordNode, receiver: AccordNode, port: int) -> None:
    """The receiver pins the origin's key and knows where it listens (the origin pinned it first)."""
    receiver.add_partner(
        "origin", public_key=public_key_to_text(origin.identity.public_key), endpoint=f"127.0.0.1:{port}"
    )


@dataclass(slots=True)
class StepTimes:
    """Wall-clock seconds the pull spent in each ingest step (they overlap: see node/sync/pull.py)."""

    prepare: float = 0.0  # helper thread: size, signature, parse, STIX profile
    commit: float = 0.0  # pulling thread: succession checks, rows and the SQLite transaction
    indexes: float = 0.0  # from the pull's end until the indexes a first sync defers are built (bulk.py)


def time_steps(ingestor: Ingestor) -> StepTimes:
    """Put timers around the receiver's two ingest steps (the pull calls them through the instance)."""
    times = StepTimes()
    for step in ("prepare", "commit"):
        method = getattr(ingestor, step)

        def timed(*args: Any, _method: Any = method, _step: str = step, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                setattr(times, _step, getattr(times, _step) + time.perf_counter() - start)

        setattr(ingestor, step, timed)  # an instance attribute shadows the method
    return times


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What the receiver's first sync did and how long each part took."""

    entries: int
    indicators: int
    pull: Timed
    load: Timed
    cpu_seconds: float  # the receiver process's user + system time over pull and load
    steps: StepTimes
    matchable: Timed | None = None  # --serving: from the pull's start until the last one is listed

    @property
    def total(self) -> Timed:
        """Until everything is matchable: the pull (verify + parse + store) plus the match-list
        load, or (``--serving``) until the following lists listed the last indicator."""
        if self.matchable is not None:
            return self.matchable
        return Timed(self.pull.seconds + self.load.seconds)


def first_sync(receiver: AccordNode, *, follow: int = 0) -> SyncResult:
    """Pull everything from the origin over gRPC, then load the match lists; with ``follow``
    (how many indicators to expect) the lists follow the pull instead, as in ``accord serve``."""
    partner = receiver.store.partner("origin")
    assert partner is not None
    # The publish (or the copies of the homes) just before left ~1 GB of dirty pages at 1M: the
    # kernel writes them back while the pull runs unless that is done first. The pull's own
    # writes stay in the figures.
    os.sync()
    steps = time_steps(receiver.ingestor)
    follower = Follower(receiver, follow) if follow else None
    before = cpu_seconds()
    report, pull_time = timed(lambda: receiver.pull_partner(partner))
    pulled = time.perf_counter()
    if not report.ok or report.rejected:
        raise SystemExit(f"sync failed: {report.summary()}")
    matchable = None if follower is None else follower.wait()
    _, load_time = timed(receiver.load_lists) if follower is None else (0, Timed(0.0))
    cpu = cpu_seconds() - before
    receiver.store.wait_for_indexes()
    steps.indexes = time.perf_counter() - pulled
    return SyncResult(
        entries=report.accepted,
        indicators=report.indicators,
        pull=pull_time,
        load=load_time,
        cpu_seconds=cpu,
        steps=steps,
        matchable=matchable,
    )


class Follower:
    """A serving node's list refresh: lists loaded empty, then every REFRESH_SECONDS the
    commits since (node/sync/refresh.py), in a thread of its own, until ``expected`` are listed."""

    def __init__(self, receiver: AccordNode, expected: int) -> None:
        receiver.load_lists()  # empty: what `accord serve` does before its first pull
        self._receiver = receiver
        self._expected = expected
        self._started = time.perf_counter()
        self._listed_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="bench-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._listed_at is None:
            self._receiver.refresher.refresh()
            if sum(self._receiver.lists.sizes().values()) >= self._expected:
                self._listed_at = time.perf_counter()
                return
            time.sleep(REFRESH_SECONDS)

    def wait(self) -> Timed:
        """Seconds from the pull's start until the last indicator was listed."""
        self._thread.join()
        assert self._listed_at is not None
        return Timed(self._listed_at - self._started)


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def check_matchable(receiver: AccordNode, signals: list[Signal], count: int) -> None:
    """Every indicator is stored, and a sample of the published signals matches exactly."""
    stored = sum(row.count for row in receiver.store.counts())
    if stored != count:
        raise SystemExit(f"receiver holds {stored} active indicators, expected {count}")
    sample = random.Random(9).sample(signals, min(MATCH_SAMPLE, len(signals)))
    for signal, result in zip(sample, receiver.match(sample), strict=True):
        if not any(m.distance == 0 for m in result.matches):
            raise SystemExit(f"a published signal does not match at the receiver: {signal.redacted()}")


def library_rate(origin: AccordNode) -> tuple[int, float]:
    """Objects/s of ``stix2.parse`` on a sample of the bundles the origin served."""
    row = origin.store.reader.execute(
        "SELECT CASE WHEN sealed = 0 THEN body ELSE bundle END FROM entries WHERE origin = ? AND seq = ?",
        (origin.key_id, Seq(1)),
    ).fetchone()
    bundle: dict[str, Any] = json.loads(row[0])
    objects = bundle["objects"][:LIBRARY_SAMPLE]
    text = json.dumps({**bundle, "objects": objects})
    _, took = timed(lambda: stix2.parse(text, allow_custom=False))
    return len(objects), took.rate(len(objects))


def rss_mib() -> tuple[float, float]:
    """Current and peak RSS of this process (the receiver, and the origin as it published), in MiB."""
    current = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def run(count: int, *, same_process: bool = False, tlp: Tlp = Tlp.GREEN, follow: bool = False) -> SyncResult:
    """The whole benchmark for ``count`` indicators shared at ``tlp`` (AMBER: to the receiver)."""
    signals = pdq_signals(count)
    print(
        f"--- {tlp.value.upper()} feed"
        + (" (every body sealed to the receiver)" if tlp.names_recipients else "")
    )
    with tempfile.TemporaryDirectory(prefix="accord-bench-") as tmp:
        origin = open_node(Path(tmp) / "origin", "Origin NGO")
        receiver = open_node(Path(tmp) / "receiver", "Receiving platform")
        try:
            receiver_key = public_key_to_text(receiver.identity.public_key)
            sealed_to = encryption_key_to_text(receiver.encryption.current.public)
            origin.add_partner("receiver", public_key=receiver_key, endpoint=None, encryption_key=sealed_to)
            recipients = frozenset({receiver.key_id}) if tlp.names_recipients else frozenset()
            distribution = Distribution(tlp=tlp, recipients=recipients)
            entries, publish_time = timed(lambda: publish(origin, signals, distribution))
            print(
                f"publish   {count:>9,} indicators in {entries} entries: {publish_time.seconds:6.1f} s"
                f"  {publish_time.rate(count):>9,.0f} indicators/s"
            )
            with serving(origin, same_process=same_process) as port:
                pin_both_ways(origin, receiver, port)
                result = first_sync(receiver, follow=count if follow else 0)
            _, check_time = timed(lambda: check_matchable(receiver, signals, count))
            report(result, check_time)
            compare_library(origin, result)
            verdicts(count, result)
            return result
        finally:
            origin.close()
            receiver.close()


def report(result: SyncResult, check_time: Timed) -> None:
    """Print what the first sync did."""
    n = result.indicators
    current, peak = rss_mib()
    print(
        f"pull      {result.entries:>9,} entries, {n:,} indicators over gRPC loopback:"
        f" {result.pull.seconds:6.1f} s  {result.pull.rate(n):>9,.0f} indicators/s"
    )
    if result.matchable is None:
        print(
            f"lists     loaded in {result.load.seconds:6.2f} s; stored count and {MATCH_SAMPLE} sample"
            f" matches checked in {check_time.seconds:.2f} s"
        )
    else:
        print(
            f"lists     followed the pull every {REFRESH_SECONDS} s (as accord serve does): all listed"
            f" {result.matchable.seconds:6.1f} s after the pull began; stored count and {MATCH_SAMPLE}"
            f" sample matches checked in {check_time.seconds:.2f} s"
        )
    print(
        f"sync      verified + stored + matchable: {result.total.seconds:6.1f} s"
        f"  {result.total.rate(n):>9,.0f} indicators/s  (receiver CPU {result.cpu_seconds:.1f} s)"
    )
    steps = result.steps
    print(
        f"steps     prepare (verify, parse, STIX profile; helper thread) {steps.prepare:6.1f} s"
        f" {n / steps.prepare:>9,.0f} indicators/s; commit (checks, rows, SQLite; pulling thread)"
        f" {steps.commit:6.1f} s {n / steps.commit:>9,.0f} indicators/s. They overlap, one GIL"
        " between them: each alone bounds the pull's rate"
    )
    print(
        f"indexes   deferred by a first sync into an empty node, built by a thread of the store once"
        f" the pull returned: ready {steps.indexes:6.2f} s after it (matching never waits for them;"
        " analyst queries scan until then)"
    )
    print(f"memory    receiver process RSS {current:,.0f} MiB now, {peak:,.0f} MiB peak")


def compare_library(origin: AccordNode, result: SyncResult) -> None:
    """The stix2 library on the same bundles, and how Accord's ingest compares."""
    sample, library = library_rate(origin)
    rate = result.total.rate(result.indicators)
    print(
        f"stix2     stix2.parse on {sample:,} objects of the same bundles: {library:>9,.0f} objects/s"
        f" (parse only; {result.indicators:,} would take {result.indicators / library:,.0f} s);"
        f" Accord's whole ingest is {rate / library:,.1f}x faster"
    )


def verdicts(count: int, result: SyncResult) -> None:
    """PASS or MISS against the issue's targets."""
    rate = result.total.rate(result.indicators)
    print(
        f"target    ≥ {TARGET_RATE:,} indicators/s through ingest: {verdict(rate >= TARGET_RATE)}"
        f" ({rate:,.0f}/s)"
    )
    seconds = result.total.seconds * FULL_COUNT / count
    label = ")" if count == FULL_COUNT else f", extrapolated linearly from {count:,})"
    print(
        f"target    first sync of 1M indicators ≤ {TARGET_SECONDS:.0f} s:"
        f" {verdict(seconds <= TARGET_SECONDS)} ({seconds:.1f} s{label}"
    )


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__.split("\n")[0])
    parser.add_argument("--indicators", type=int, default=FULL_COUNT, help="how many PDQ indicators")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_COUNT:,} indicators (< 1 minute)")
    parser.add_argument(
        "--same-process", action="store_true", help="serve the origin from this process, not its own"
    )
    parser.add_argument(
        "--tlp", choices=["green", "amber", "both"], default="green", help="GREEN, AMBER (sealed), or both"
    )
    parser.add_argument(
        "--serving", action="store_true", help="the lists follow the pull, as in accord serve"
    )
    args = parser.parse_args()
    count = QUICK_COUNT if args.quick else args.indicators
    levels = [Tlp.GREEN, Tlp.AMBER] if args.tlp == "both" else [Tlp(args.tlp)]
    results = [run(count, same_process=args.same_process, tlp=level, follow=args.serving) for level in levels]
    if len(results) == 2:
        green, amber = (r.total.seconds for r in results)
        print(f"sealed    the AMBER (sealed) first sync took {amber / green:.2f}x the GREEN one")


if __name__ == "__main__":
    main()
