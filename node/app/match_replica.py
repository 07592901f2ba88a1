"""One match process of ``accord serve`` (``network.match_workers``): the Match API from its own
copy of the lists, on its own loopback port.

Why a process: one Python process answers ~1,500 single-signal Match calls/s on two cores,
its gRPC threads contending for one GIL (README, "What is not built yet"). Each match process
has its own interpreter.

What it holds, and how it stays current, is what ``accord serve`` itself does for its lists:

- the lists: adopted from the indexes ``serve`` saved (it saves them before starting these
  processes), then the change stream since their cursor, then every ``sync.refresh_seconds``
  the changes committed since (by ``serve``'s pulls, ``accord contribute``, anyone);
- what explains a match (policies, compromise marks, quarantines, opinions): the in-memory
  provenance that looks at SQLite's WAL index before each match, as ``serve``'s does;
- the safelists: the operator's file, and the reviewers' entries read every refresh.

It never writes to the database. The matches it makes are sent to ``serve`` (the parent), which
counts them as its own (match log, flood protection, sightings): ``serve`` stays the one writer.
It stops when ``serve`` says so, or as soon as ``serve`` is gone (its pipe closes).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from collections.abc import Sequence
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path

from node.app.home import Home
from node.app.matcher_parts import (
    matcher_parts,
    origin_names,
    source_trust,
)
from node.app.snapshots import resume_from_saved
from node.config import NodeConfig, load_config
from node.errors import NotFound
from node.hashing.credentials import load_trust_anchors, read_credentials
from node.hashing.gate import MediaGate
from node.match import MatchLists, builtin_warninglists
from node.match.pdq import warm_up
from node.model import KeyId
from node.model.provenance import ContentCredentials
from node.rpc.local import LocalServicer
from node.rpc.server import start_match_server
from node.store import Store
from node.sync.provenance import ProvenanceCache
from node.sync.query import signals_of_media
from node.sync.refresh import ListRefresher
from node.sync.tape import MatchTape, Taped

log = logging.getLogger(__name__)

# Messages on the pipe to ``serve`` (node/app/match_workers.py reads them).
READY = "ready"  # (READY, port): the lists are loaded and the port answers
FAILED = "failed"  # (FAILED, reason): could not start; the process exits
MATCHES = "matches"  # (MATCHES, [(at, ids, others)], [(seconds, signals)]): to count
STOP = "stop"  # from serve: stop answering and exit


class MatchReplica:
    """The matching parts of a node, opened from its home without writing to it."""

    def __init__(self, root: Path, *, origin: KeyId, record: MatchTape) -> None:
        """``origin`` is the node's key id, from ``serve``: a match process never reads the
        node's private keys."""
        home = Home(root)  # serve checked it; its identity key is not ours to read
        if not home.db_path.exists():
            raise NotFound(f"no node database at {home.db_path}")
        self.root = root
        self.config: NodeConfig = load_config(root)
        self.store = Store(home.db_path)
        self.origin = origin
        self.lists = MatchLists(warninglists=builtin_warninglists)
        self.refresher = ListRefresher(store=self.store, lists=self.lists)
        self.provenance = ProvenanceCache(
            store=self.store,
            names=partial(origin_names, self.store, origin=self.origin, own_name=self.config.node.name),
            source_trust=partial(source_trust, self.store),
        )
        parts = matcher_parts(
            self.config,
            root=root,
            store=self.store,
            lists=self.lists,
            provenance=self.provenance,
            origin=self.origin,
            record=record.append,
        )
        self.matcher, self.reviewed = parts.matcher, parts.reviewed
        limits = self.config.limits
        # This process's own pixel budget: N match processes may hash N budgets' worth at once.
        self._gate = MediaGate(
            budget_pixels=limits.media_pixels_in_flight, wait_seconds=limits.media_wait_seconds
        )

    def open_lists(self) -> int:
        """Adopt the saved indexes and catch up (else build from the database); returns the
        number of indicators listed."""
        saved = resume_from_saved(
            self.root, lists=self.lists, refresher=self.refresher, store=self.store, key_id=self.origin
        )
        if saved is None:
            self.refresher.load()
        return sum(self.lists.sizes().values())

    def follow_commits(self) -> None:
        """Apply what was committed since the last call: indicators, and reviewers' safelist."""
        self.refresher.refresh()
        if self.reviewed.follow():
            self.matcher.safelist_changed()

    def servicer(self, observe: Outbox) -> LocalServicer:
        """The Local service as this process answers it: Match and MatchStream."""
        limits = self.config.limits
        return LocalServicer(
            matcher=self.matcher,
            status=None,
            max_batch=limits.max_batch_signals,
            observe=observe.observe,
            query=None,
            media_signals=partial(signals_of_media, max_pixels=limits.max_media_pixels, gate=self._gate),
            credentials=self._credentials,
        )

    def _credentials(self, data: bytes) -> ContentCredentials | None:
        name = self.config.match.c2pa_trust_anchors
        return read_credentials(data, trust_anchors=load_trust_anchors(self.root / name) if name else None)

    def close(self) -> None:
        """Release the database."""
        self.store.close()


class Outbox:
    """What this process tells ``serve``: one writer to the pipe at a time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._observed: deque[tuple[float, int]] = deque()
        self.tape = MatchTape(self._send_matches)

    def observe(self, seconds: float, signals: int) -> None:
        """Keep one answered request's latency and signal count for ``serve``'s metrics."""
        self._observed.append((seconds, signals))

    def send(self, *message: object) -> bool:
        """Send one message; False when ``serve`` is gone."""
        with self._lock:
            try:
                self._conn.send(message)
            except (OSError, ValueError):  # a closed pipe: serve has stopped or died
                return False
        return True

    def flush(self) -> bool:
        """Send the matches and observations kept since the last flush."""
        self.tape.fold()
        return self._send_observed()

    def _send_matches(self, taped: Sequence[Taped]) -> None:
        calls = [(t.at, t.indicator_ids, t.others) for t in taped]
        self.send(MATCHES, calls, self._drain_observed())

    def _send_observed(self) -> bool:
        observed = self._drain_observed()
        return self.send(MATCHES, [], observed) if observed else True

    def _drain_observed(self) -> list[tuple[float, int]]:
        drained: list[tuple[float, int]] = []
        while True:
            try:
                drained.append(self._observed.popleft())
            except IndexError:
                return drained


def run(root: str, origin: str, number: int, address: str, conn: Connection) -> None:
    """A match process's life (the target ``serve`` spawns): load, answer, follow, stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches serve, which stops us in order
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    outbox = Outbox(conn)
    try:
        replica = MatchReplica(Path(root), origin=KeyId(origin), record=outbox.tape)
        _configure_logging(replica.config, number)
        listed = replica.open_lists()
        warm_up()
        server = start_match_server(replica.servicer(outbox), address, replica.config.network)
    except Exception as exc:  # reported to serve, which refuses to start
        outbox.send(FAILED, f"{type(exc).__name__}: {exc}")
        return
    log.info("match process %d: %d indicators listed, answering on port %d", number, listed, server.port)
    outbox.send(READY, server.port)
    threading.Thread(target=_watch_parent, args=(conn, stop), name="parent-watch", daemon=True).start()
    try:
        _follow(replica, outbox, stop)
    finally:
        server.stop(replica.config.network.grace_seconds)
        outbox.flush()  # the matches of the last calls still count
        replica.close()


def _follow(replica: MatchReplica, outbox: Outbox, stop: threading.Event) -> None:
    """Every ``sync.refresh_seconds`` until ``stop``: pick up commits, send the matches."""
    interval = replica.config.sync.refresh_seconds
    while not stop.wait(interval):
        try:
            replica.follow_commits()
        except Exception:  # a busy or briefly locked database: the next round catches up
            log.exception("match process could not follow the database; retrying")
        if not outbox.flush():
            stop.set()  # serve is gone


def _watch_parent(conn: Connection, stop: threading.Event) -> None:
    """Set ``stop`` when ``serve`` asks, or when its end of the pipe closes (it died)."""
    while not stop.is_set():
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message == STOP:
            break
    stop.set()


def _configure_logging(config: NodeConfig, number: int) -> None:
    logging.basicConfig(
        level=config.log.level.upper(),
        format=f"%(asctime)s match-process-{number} %(levelname)s %(name)s: %(message)s",
    )
