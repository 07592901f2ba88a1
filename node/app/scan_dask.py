"""``accord scan --dask``: the training-data scan on Dask distributed (issue 16).

The client reads the manifest (a local path or any fsspec URL) or lists the media directory,
cuts it into partitions of consecutive rows and submits one Dask task per partition. Each
worker process loads the frozen match lists (:mod:`node.app.scan_snapshot`) once, from the
state directory, and caches them by digest; a task hashes the partition's media, matches it
with the same :class:`~node.sync.query.Matcher` code as a single-machine scan and writes the
partition's report lines and a done marker (with their size and SHA-256) into the state
directory, each atomically. The client concatenates the parts in row order: the report is
byte-for-byte the one a single-machine scan writes.

Killed and started again with the same ``--out`` (and ``--state``), a scan reuses its snapshot
and skips every partition whose marker is there. A worker that dies mid-task has its
partition run again elsewhere (Dask reschedules it); an item whose hashing raises is reported
by id and the scan goes on. Dask is the optional extra ``scan``. With ``--c2pa`` a worker reads
each item's C2PA manifest where it hashes it; the plan records the setting, so a rerun with the
other one is refused rather than mixing parts with and without manifests.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from node.app.scan import csv_header, report_chunk
from node.app.scan_snapshot import SnapshotSource, load_matcher, write_snapshot
from node.errors import InvalidInput, MissingExtra
from node.hashing.credentials import CredentialCheck
from node.hashing.manifests import ManifestRow, count_rows, hash_row, read_manifest
from node.sync.query import Matcher

log = logging.getLogger(__name__)

DEFAULT_PARTITION_ROWS = 1_000
"""Rows per task: the unit of resumption (a media partition is ~30 s on one core)."""

STATE_FORMAT = "accord-scan-state"
_PLAN, _SNAPSHOT, _PARTS = "plan.json", "snapshot", "parts"
_MAX_ERROR = 300  # characters of an item's error kept in the marker
_IN_FLIGHT_PER_WORKER = 4  # partitions queued per worker: busy workers, bounded client memory


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """An item whose processing raised: reported by id, the scan went on."""

    id: str
    error: str


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """Where a distributed scan stands (for the terminal)."""

    partitions_done: int
    partitions_total: int | None
    items: int  # rows done by this run
    items_per_second: float
    eta_seconds: float | None


@dataclass(frozen=True, slots=True)
class DistributedScanReport:
    """What a distributed scan did."""

    rows: int
    scanned: int  # rows done by this run
    matched: int
    unusable: int
    partitions: int
    skipped: int  # partitions done by an earlier run
    failed: tuple[ItemFailure, ...]
    lost: tuple[int, ...]  # partitions that failed on every try (run the scan again)
    workers: int
    dashboard: str | None
    seconds: float
    setup_seconds: float  # of ``seconds``: the snapshot written and the cluster reached
    credentials: int = 0  # items with a C2PA manifest (--c2pa)
    ai_generated: int = 0  # of those, the ones declaring generative AI

    @property
    def items_per_second(self) -> float:
        """Throughput of this run."""
        return self.scanned / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ClusterChoice:
    """Where to run: an existing scheduler's address, else a local cluster of ``workers``
    processes (default: every core), one thread each."""

    address: str | None = None
    workers: int | None = None


def distributed_module() -> Any:
    """``distributed``, or MissingExtra naming the ``scan`` extra."""
    try:
        import distributed  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtra("a distributed scan (accord scan --dask)", "scan") from exc
    return distributed


def _fsspec() -> Any:
    try:
        import fsspec  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtra("a distributed scan (accord scan --dask)", "scan") from exc
    return fsspec


class StateDir:
    """The scan's state (plan, snapshot, partition results): a local directory or an fsspec URL
    every worker can reach. Files are written whole: locally to a temporary name, fsynced and
    renamed; on an object store a put is atomic by itself."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = _fsspec().core.url_to_fs(url)
        self.local = type(self.fs).__name__ == "LocalFileSystem"

    def path(self, name: str) -> str:
        """The full path of ``name`` in the state directory."""
        return f"{self.root.rstrip('/')}/{name}"

    def put(self, name: str, data: bytes) -> None:
        """Write ``name`` atomically."""
        target = self.path(name)
        if not self.local:
            self.fs.pipe_file(target, data)
            return
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        temporary = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)

    def read(self, name: str) -> bytes | None:
        """The content of ``name``, or None when there is none."""
        try:
            return bytes(self.fs.cat_file(self.path(name)))
        except FileNotFoundError:
            return None

    def forget(self, name: str) -> None:
        """Delete ``name`` if it is there."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(name))

    def remove(self) -> None:
        """Delete the whole state directory (after a complete scan)."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.root, recursive=True)


# --- worker side -------------------------------------------------------------------------------

_MATCHERS: dict[str, Matcher] = {}
_MATCHERS_LOCK = threading.Lock()


def _matcher_for(state_url: str, digest: str) -> Matcher:
    """The matcher of snapshot ``digest``, loaded at most once per worker process."""
    with _MATCHERS_LOCK:
        found = _MATCHERS.get(digest)
        if found is None:
            state = StateDir(state_url)
            directory = Path(state.path(_SNAPSHOT))
            if not state.local:
                directory = Path(tempfile.mkdtemp(prefix=f"accord-scan-{digest[:12]}-"))
                state.fs.get(state.path(_SNAPSHOT) + "/", str(directory), recursive=True)
            found = _MATCHERS[digest] = load_matcher(directory)
        return found


def scan_partition(
    state_url: str,
    digest: str,
    number: int,
    rows: list[ManifestRow],
    fmt: str,
    *,
    c2pa: CredentialCheck | None = None,
) -> dict[str, Any]:
    """A Dask task: hash (and with ``c2pa`` read the manifests of), match and write partition
    ``number``; returns its done marker."""
    state = StateDir(state_url)
    finished = state.read(_marker(number))
    if finished is not None:  # a rerun of a partition that finished (a worker died after writing)
        return dict(json.loads(finished))
    matcher = _matcher_for(state_url, digest)
    hashed: list[ManifestRow] = []
    failed: list[list[str]] = []
    for row in rows:
        try:
            done = hash_row(row, c2pa)
        except Exception as exc:  # any item may fail (a decoder's bug): reported, the scan goes on
            failed.append([row.id, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]])
            done = ManifestRow(row.number, row.id, (), ("hashing failed",))
        else:
            if row.media is not None and done.problems:  # unreadable media: reported by id
                failed.append([row.id, "; ".join(done.problems)[:_MAX_ERROR]])
        hashed.append(done)
    part = report_chunk(matcher, hashed, fmt, c2pa=c2pa is not None)
    state.put(_data(number), part.lines)
    marker = {
        "partition": number,
        "rows": len(rows),
        "last": rows[-1].number if rows else 0,
        "matched": part.matched,
        "unusable": part.unusable,
        "bytes": len(part.lines),
        "sha256": hashlib.sha256(part.lines).hexdigest(),
        "failed": failed,
        "indicator_ids": list(part.indicator_ids),
        "others": list(part.others),
        "credentials": part.credentials,
        "ai_generated": part.ai_generated,
    }
    state.put(_marker(number), json.dumps(marker, sort_keys=True).encode())
    return marker


def _data(number: int) -> str:
    return f"{_PARTS}/{number:08d}.report"


def _marker(number: int) -> str:
    return f"{_PARTS}/{number:08d}.done"


# --- client side -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanJob:
    """One distributed scan: what to read, where to write, how to cut it."""

    source: str  # a local path (file or media directory) or an fsspec URL of a manifest
    out: Path
    fmt: str
    state: str
    partition_rows: int = DEFAULT_PARTITION_ROWS
    c2pa: CredentialCheck | None = None  # read every item's C2PA manifest too (--c2pa)


def default_state(out: Path) -> str:
    """Where a scan writing ``out`` keeps its state unless told (``--state``)."""
    return str(out.with_name(out.name + ".parts"))


def run_distributed_scan(
    job: ScanJob,
    *,
    snapshot_source: Callable[[], tuple[SnapshotSource, Callable[[Callable[[int], str]], str]]],
    cluster: ClusterChoice,
    record: Callable[[list[str], list[str]], None],
    progress: Callable[[ScanProgress], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> DistributedScanReport:
    """Run ``job`` on Dask. ``snapshot_source`` gives the node's lists and a way to run a
    function at their cursor (called only when the state holds no snapshot yet); ``record``
    takes the matched indicator ids (all, and other origins') once the report is complete."""
    if job.fmt not in ("jsonl", "csv"):
        raise InvalidInput(f"report format must be jsonl or csv, not {job.fmt!r}")
    distributed = distributed_module()
    if "://" not in job.source and not Path(job.source).exists():
        raise InvalidInput(f"{job.source} does not exist (a manifest, a media directory or an fsspec URL)")
    started = time.monotonic()
    state = StateDir(job.state)
    digest = _prepare_state(job, state, snapshot_source)
    with _client(distributed, cluster) as (client, dashboard):
        workers = len(client.scheduler_info().get("workers", {})) or 1
        setup = time.monotonic() - started
        if announce is not None:
            announce(_describe(cluster, workers, dashboard))
        outcome = _run_partitions(
            distributed=distributed,
            client=client,
            job=job,
            state=state,
            digest=digest,
            workers=workers,
            progress=progress,
            started=started,
        )
    rows = sum(int(m["rows"]) for m in outcome.markers)
    failed = tuple(ItemFailure(i, e) for m in outcome.markers for i, e in m["failed"])
    matched = sum(int(m["matched"]) for m in outcome.markers)
    if not outcome.lost:
        _merge(job, state, outcome.total)
        record(
            [i for m in outcome.markers for i in m["indicator_ids"]],
            [i for m in outcome.markers for i in m["others"]],
        )
        state.remove()
    return DistributedScanReport(
        rows=rows,
        scanned=outcome.scanned,
        matched=matched,
        unusable=sum(int(m["unusable"]) for m in outcome.markers),
        partitions=outcome.total,
        skipped=outcome.skipped,
        failed=failed,
        lost=tuple(outcome.lost),
        workers=workers,
        dashboard=dashboard,
        seconds=time.monotonic() - started,
        setup_seconds=setup,
        credentials=sum(int(m.get("credentials", 0)) for m in outcome.markers),
        ai_generated=sum(int(m.get("ai_generated", 0)) for m in outcome.markers),
    )


def _describe(cluster: ClusterChoice, workers: int, dashboard: str | None) -> str:
    where = f"cluster {cluster.address}" if cluster.address else "a local cluster"
    board = (
        f"dashboard {dashboard}" if dashboard else "no dashboard (it needs bokeh: pip install 'bokeh>=3.1')"
    )
    return f"scanning on {where} of {workers} worker(s); {board}"


def _prepare_state(
    job: ScanJob,
    state: StateDir,
    snapshot_source: Callable[[], tuple[SnapshotSource, Callable[[Callable[[int], str]], str]]],
) -> str:
    """The snapshot digest of this scan: the one a resumed scan made, or a new snapshot."""
    plan = {
        "format": STATE_FORMAT,
        "source": _identity(job.source),
        "fmt": job.fmt,
        "partition_rows": job.partition_rows,
        "c2pa": job.c2pa is not None,
        "c2pa_anchors": None if job.c2pa is None else job.c2pa.anchors_digest,
    }
    saved = state.read(_PLAN)
    if saved is not None:
        try:
            existing = json.loads(saved)
            digest = str(existing.pop("snapshot"))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidInput(
                f"{state.url}/{_PLAN} is unreadable; delete {state.url} to start over"
            ) from None
        existing.setdefault("c2pa", False)  # a plan made before the option
        existing.setdefault("c2pa_anchors", None)
        _refuse_other_c2pa(state, existing, plan)
        if existing != plan:
            raise InvalidInput(
                f"{state.url} holds a scan of another source, format or partition size; "
                "choose another --state (or --out), or delete it to start over"
            )
        return digest
    source, at_cursor = snapshot_source()
    if state.local:
        digest = at_cursor(lambda cursor: write_snapshot(Path(state.path(_SNAPSHOT)), source, cursor=cursor))
    else:
        with tempfile.TemporaryDirectory(prefix="accord-scan-") as scratch:
            local = Path(scratch) / _SNAPSHOT
            digest = at_cursor(lambda cursor: write_snapshot(local, source, cursor=cursor))
            state.fs.put(str(local), state.path(_SNAPSHOT), recursive=True)
    state.put(_PLAN, json.dumps({**plan, "snapshot": digest}, sort_keys=True).encode())
    return digest


def _refuse_other_c2pa(state: StateDir, existing: dict[str, Any], plan: dict[str, Any]) -> None:
    """InvalidInput when the saved plan differs from ``plan`` only in its --c2pa setting or
    trust anchors: parts with and without manifests (or trusted under other roots) never mix."""
    if {**existing, "c2pa": plan["c2pa"], "c2pa_anchors": plan["c2pa_anchors"]} != plan or existing == plan:
        return
    if existing["c2pa"] != plan["c2pa"]:
        setting = "with" if existing["c2pa"] else "without"
        raise InvalidInput(
            f"{state.url} holds an interrupted scan {setting} --c2pa; run it again {setting}"
            " --c2pa to resume, or choose another --state (or --out)"
        )
    raise InvalidInput(
        f"{state.url} holds an interrupted --c2pa scan under other trust anchors"
        " (match.c2pa_trust_anchors changed); restore them to resume, or choose another --state"
    )


def _identity(source: str) -> str:
    return source if "://" in source else str(Path(source).resolve())


@contextlib.contextmanager
def _client(distributed: Any, cluster: ClusterChoice) -> Iterator[tuple[Any, str | None]]:
    if cluster.address:
        with distributed.Client(cluster.address) as client:
            yield client, _dashboard(client)
        return
    with local_cluster(cluster.workers or _cores()) as local, distributed.Client(local) as client:
        yield client, _dashboard(client)


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A local cluster of ``workers`` processes, one thread each, as a scan wants it.

    Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes glibc's
    mmap threshold: every decoded image's buffers are then mapped and faulted in afresh, and
    hashing ran at under half its speed. The variable is left unset for our workers.
    """
    distributed = distributed_module()
    import dask  # noqa: PLC0415 - comes with distributed

    board = ":0" if _has_bokeh() else None
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=board,
            silence_logs=40,  # logging.ERROR: a restarted worker is our business, not the terminal's
        ) as local,
    ):
        yield local


def _dashboard(client: Any) -> str | None:
    if not _has_bokeh():
        return None
    link = getattr(client, "dashboard_link", None)
    return str(link) if link else None


def _has_bokeh() -> bool:
    """True when bokeh (Dask's dashboard, optional) is installed; looked up, never imported."""
    return importlib.util.find_spec("bokeh") is not None


@dataclass(slots=True)
class _Outcome:
    markers: list[dict[str, Any]]
    total: int
    skipped: int
    scanned: int
    lost: list[int]


def _partitions(job: ScanJob) -> Iterator[tuple[int, list[ManifestRow]]]:
    if "://" in job.source:
        fsspec = _fsspec()
        name = Path(job.source.split("?", 1)[0])

        def opener() -> IO[bytes]:
            try:
                return fsspec.open(job.source, "rb").open()  # type: ignore[no-any-return]
            except (OSError, ValueError) as exc:
                raise InvalidInput(f"cannot read manifest {job.source}: {exc}") from None

        batches = read_manifest(name, batch_rows=job.partition_rows, hash_media=False, opener=opener)
    else:
        batches = read_manifest(Path(job.source), batch_rows=job.partition_rows, hash_media=False)
    yield from enumerate(batches, start=1)


def _run_partitions(
    *,
    distributed: Any,
    client: Any,
    job: ScanJob,
    state: StateDir,
    digest: str,
    workers: int,
    progress: Callable[[ScanProgress], None] | None,
    started: float,
) -> _Outcome:
    total_rows = None if "://" in job.source else count_rows(Path(job.source))
    expected = None if total_rows is None else -(-total_rows // job.partition_rows)
    outcome = _Outcome(markers=[], total=0, skipped=0, scanned=0, lost=[])
    pending = distributed.as_completed([])
    numbers: dict[str, int] = {}
    in_flight = 0
    limit = workers * _IN_FLIGHT_PER_WORKER

    def report() -> None:
        if progress is None:
            return
        elapsed = max(time.monotonic() - started, 1e-9)
        rate = outcome.scanned / elapsed
        done = len(outcome.markers)
        left_rows = None if total_rows is None else total_rows - sum(int(m["rows"]) for m in outcome.markers)
        eta = None if left_rows is None or rate <= 0 else left_rows / rate
        progress(ScanProgress(done, expected, outcome.scanned, rate, eta))

    def collect(future: Any) -> None:
        number = numbers.pop(future.key)
        try:
            marker = future.result()
        except Exception as exc:
            log.warning("partition %d failed on every try: %s: %s", number, type(exc).__name__, exc)
            outcome.lost.append(number)
            return
        outcome.markers.append(marker)
        outcome.scanned += int(marker["rows"])
        report()

    for number, rows in _partitions(job):
        outcome.total = number
        done = _intact_marker(state, number)
        if done is not None:
            outcome.markers.append(done)
            outcome.skipped += 1
            continue
        # A --c2pa task's result differs from a plain one's: never the same key on a shared cluster.
        key = f"accord-scan-{digest[:12]}-{'c2pa-' if job.c2pa else ''}{number}"
        numbers[key] = number
        pending.add(
            client.submit(
                scan_partition, job.state, digest, number, rows, job.fmt, c2pa=job.c2pa, key=key, retries=2
            )
        )
        in_flight += 1
        while in_flight >= limit:
            collect(next(pending))
            in_flight -= 1
    report()
    for future in pending:
        collect(future)
    return outcome


def _intact_marker(state: StateDir, number: int) -> dict[str, Any] | None:
    """The done marker of partition ``number`` when its results match it; a marker whose
    results are missing or altered is deleted (the partition is scanned again)."""
    raw = state.read(_marker(number))
    if raw is None:
        return None
    try:
        marker = json.loads(raw)
        data = state.read(_data(number))
        if data is not None and hashlib.sha256(data).hexdigest() == marker["sha256"]:
            return dict(marker)
    except (ValueError, KeyError, TypeError):
        pass
    log.warning("partition %d's results do not match its marker: scanning it again", number)
    state.forget(_marker(number))
    return None


def _merge(job: ScanJob, state: StateDir, total: int) -> None:
    """Concatenate the parts in row order into ``job.out`` (written whole, then renamed)."""
    temporary = job.out.with_name(job.out.name + ".tmp")
    with temporary.open("wb") as stream:
        if job.fmt == "csv":
            stream.write(csv_header(c2pa=job.c2pa is not None))
        for number in range(1, total + 1):
            marker = json.loads(state.read(_marker(number)) or b"{}")
            data = state.read(_data(number))
            if data is None or hashlib.sha256(data).hexdigest() != marker.get("sha256"):
                state.forget(_marker(number))  # a rerun does this partition again
                raise InvalidInput(
                    f"partition {number} in {state.url} does not match its marker; run the scan again"
                )
            stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, job.out)


def _cores() -> int:
    """The cores this process may run on (``taskset`` and container limits included)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
