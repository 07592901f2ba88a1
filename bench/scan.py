"""Distributed scan throughput: a media directory scanned on Dask with 1 and 2 workers, each
pinned to its own core, beside raw Pillow + ``pdqhash`` on the same images in the same run.

    .venv/bin/python -m bench.scan [--images 600] [--quick] [--partition-rows 50]

The images are generated (Pillow: gradients, shapes and noise, 640 x 480 JPEG) in a temporary
directory; a temporary node lists three of them. Measured in one run:

- **raw pdqhash** (baseline) — this process pinned to one core: ``Image.open`` + ``convert``
  + ``pdqhash.compute`` per image, what a hand-written hashing loop does;
- **dask, 1 worker / 2 workers** — the scan as ``accord scan --dask`` runs it (partitions,
  hashing md5 + SHA-256 + PDQ, matching, partition files, the merged report) on a local
  cluster (``node.app.scan_dask.local_cluster``, as ``accord scan --dask`` starts it) whose
  workers are pinned one per core by a worker plugin (``psutil.cpu_affinity``).
  Workers are started and warmed (imports, then a small scan) before the clock starts; the
  snapshot is written inside the timed run, as in service.

Printed: items/s and items/s per core, end to end and "scanning" (the run less its one-off
setup: snapshot written, cluster reached), the 2-worker / 1-worker ratio (target >= 1.8,
issue 16) and raw pdqhash against the 1-worker (one core) scan rate (target: within 1.2x). The machine's load
average is printed at the start and the end: other work on a 2-core machine lowers both.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
import psutil
from distributed import Client, WorkerPlugin
from PIL import Image, ImageDraw

from node.app import AccordNode, init_home
from node.app.scan_dask import (
    ClusterChoice,
    DistributedScanReport,
    ScanJob,
    local_cluster,
    run_distributed_scan,
)
from node.model import Tlp

FULL_IMAGES = 600
QUICK_IMAGES = 60
TARGET_RATIO = 1.8
TARGET_RAW = 1.2


def make_images(directory: Path, count: int) -> list[Path]:
    """``count`` distinct 640 x 480 JPEGs (the same on every run)."""
    directory.mkdir(parents=True)
    paths = []
    for n in range(count):
        rng = np.random.default_rng(n)
        base = np.linspace(0, 255, 640, dtype=np.float32)[None, :, None] * rng.random(3)[None, None, :]
        noise = rng.normal(0, 18, size=(480, 640, 3))
        image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = int(rng.integers(0, 600)), int(rng.integers(0, 440))
            w, h = int(rng.integers(20, 200)), int(rng.integers(20, 200))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = draw.rectangle if n % 2 else draw.ellipse
            shape((x, y, x + w, y + h), fill=colour)
        path = directory / f"img-{n:06d}.jpg"
        image.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def raw_rate(paths: list[Path], core: int) -> float:
    """Images per second of Pillow + pdqhash in this process, pinned to ``core``."""
    me = psutil.Process()
    before = me.cpu_affinity()
    me.cpu_affinity([core])
    try:
        started = time.perf_counter()
        for path in paths:
            with Image.open(path) as image:
                pdqhash.compute(np.asarray(image.convert("RGB")))
        return len(paths) / (time.perf_counter() - started)
    finally:
        me.cpu_affinity(before)


class PinWorkers(WorkerPlugin):  # type: ignore[misc]
    """Pins worker ``n`` of a local cluster to ``cores[n]``: one core each."""

    def __init__(self, cores: list[int]) -> None:
        self.cores = cores

    def setup(self, worker: Any) -> None:
        """Runs in each worker process as it joins."""
        psutil.Process().cpu_affinity([self.cores[int(worker.name) % len(self.cores)]])


def _warm() -> int:
    import node.app.scan_dask  # noqa: F401, PLC0415 - imports paid before the clock starts

    return psutil.Process().cpu_affinity()[0]


def dask_rate(
    home: Path, media: Path, *, workers: int, cores: list[int], partition_rows: int
) -> tuple[float, float]:
    """Items per second of a distributed scan of ``media`` on ``workers`` pinned workers:
    end to end, and with the one-off setup (snapshot, connecting) left out."""
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.register_plugin(PinWorkers(cores))
        pinned = sorted(client.run(_warm).values())
        node = AccordNode.open(home)
        try:
            node.load_lists()
            warm = media.parent / "warm"
            if not warm.exists():  # a first small scan: compiled code and lists loaded in each worker
                warm.mkdir()
                for path in sorted(media.iterdir())[: 4 * partition_rows]:
                    (warm / path.name).write_bytes(path.read_bytes())
            _scan(node, warm, cluster.scheduler_address, partition_rows)
            report = _scan(node, media, cluster.scheduler_address, partition_rows)
        finally:
            node.close()
    print(
        f"  {workers} worker(s) on core(s) {pinned}: {report.rows} items, {report.matched} matched, "
        f"{report.seconds:.1f} s of which {report.setup_seconds:.1f} s setup"
    )
    return report.rows / report.seconds, report.rows / (report.seconds - report.setup_seconds)


def _scan(node: AccordNode, media: Path, address: str, partition_rows: int) -> DistributedScanReport:
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as scratch:
        out = Path(scratch) / "report.jsonl"
        job = ScanJob(str(media), out, "jsonl", str(out) + ".parts", partition_rows=partition_rows)
        return run_distributed_scan(
            job,
            snapshot_source=lambda: (node.scan_snapshot_source(), node.refresher.at_cursor),
            cluster=ClusterChoice(address=address),
            record=lambda ids, others: None,
        )


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=FULL_IMAGES)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_IMAGES} images (a smoke run)")
    parser.add_argument("--partition-rows", type=int, default=50)
    args = parser.parse_args()
    count = QUICK_IMAGES if args.quick else args.images
    cores = sorted(psutil.Process().cpu_affinity())
    if len(cores) < 2:
        raise SystemExit("bench.scan needs 2 cores to pin 2 workers to")
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as scratch:
        root = Path(scratch)
        paths = make_images(root / "media", count)
        home = root / "home"
        init_home(home, name="bench")
        node = AccordNode.open(home)
        try:
            node.contribute(files=paths[:3], category="csam", tlp=Tlp.GREEN)
        finally:
            node.close()
        raw = raw_rate(paths, cores[0])
        one, one_steady = dask_rate(
            home, root / "media", workers=1, cores=cores[:1], partition_rows=args.partition_rows
        )
        two, two_steady = dask_rate(
            home, root / "media", workers=2, cores=cores[:2], partition_rows=args.partition_rows
        )
    print(f"\nmedia-directory scan, {count} images 640 x 480 JPEG (items/s)")
    print(f"{'':24}{'end to end':>12}{'per core':>10}{'scanning':>10}{'per core':>10}")
    print(f"{'raw Pillow + pdqhash':24}{raw:>12.1f}{raw:>10.1f}{raw:>10.1f}{raw:>10.1f}")
    print(f"{'dask, 1 worker':24}{one:>12.1f}{one:>10.1f}{one_steady:>10.1f}{one_steady:>10.1f}")
    print(f"{'dask, 2 workers':24}{two:>12.1f}{two / 2:>10.1f}{two_steady:>10.1f}{two_steady / 2:>10.1f}")
    for label, a, b in (("end to end", one, two), ("scanning", one_steady, two_steady)):
        ratio = b / a
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        print(f"{label}: 2 workers / 1 worker {ratio:.2f}x (target >= {TARGET_RATIO}x) {verdict}", end="; ")
        verdict = "PASS" if raw / a <= TARGET_RAW else "MISS"
        print(f"raw pdqhash / 1 worker {raw / a:.2f}x (target <= {TARGET_RAW}x) {verdict}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
