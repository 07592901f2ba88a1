"""Bulk import and training-data scan throughput (issue 5).

    .venv/bin/python -m bench.import [--hashes 100000] [--images 300] [--scan-rows 100000]

In a temporary node home, in one process:

* **hash list**: a ``signal_type signal`` file of N hashes (md5 and pdq mixed) imported with
  ``AccordNode.contribute`` (read, dedupe, safelist check, STIX, sign, store). Baseline: only
  reading and validating the same file (``read_hash_list``) — the floor any import pays.
  Then the same import again (restartable: everything is a duplicate, nothing is published).
* **media directory**: M generated PNG images in nested folders imported the same way.
  Baseline: hashing the files alone (md5, sha256, PDQ), which dominates.
* **scan**: a CSV manifest of R rows (every tenth listed) scanned with ``AccordNode.scan``
  against the lists. Baseline: reading the manifest alone (``read_manifest``).

Prints items/s for each and the ratio to its baseline. Nothing is written outside the temp dir.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from node.app import AccordNode, init_home
from node.hashing import hash_file, media_files, read_hash_list
from node.hashing.manifests import read_manifest
from node.model import Tlp
from tests.support.media import make_image

_T = TypeVar("_T")


def timed(work: Callable[[], _T]) -> tuple[_T, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def write_list(path: Path, count: int) -> None:
    with path.open("w") as stream:
        for n in range(count):
            if n % 2:
                stream.write(f"md5 {n:032x}\n")
            else:
                stream.write(f"pdq {(n * 0x9E3779B97F4A7C15 + 0xABCDEF) % (1 << 256):064x}\n")


def bench_list(node: AccordNode, root: Path, count: int) -> None:
    path = root / "list.txt"
    write_list(path, count)
    _, base = timed(lambda: sum(1 for _ in read_hash_list(path)))
    report, took = timed(lambda: node.contribute(lists=[path], category="csam", tlp=Tlp.GREEN))
    again, rerun = timed(lambda: node.contribute(lists=[path], category="csam", tlp=Tlp.GREEN))
    assert report.publish is not None
    assert report.publish.added == count
    assert again.publish is not None
    assert again.publish.added == 0
    assert again.duplicates == count
    print(f"hash list, {count:,} hashes")
    print(f"  baseline read+validate   {count / base:12,.0f} hashes/s  ({base:.2f} s)")
    print(
        f"  import (publish, store)  {count / took:12,.0f} hashes/s  ({took:.2f} s)  "
        f"{len(report.publish.seqs)} entries; {took / base:.1f}x the baseline's time"
    )
    print(f"  re-run (all duplicates)  {count / rerun:12,.0f} hashes/s  ({rerun:.2f} s)")


def bench_media(node: AccordNode, root: Path, count: int) -> None:
    media = root / "media"
    for n in range(count):
        make_image(media / f"d{n % 10}" / f"img{n}.png", seed=10_000 + n, size=(320, 240))
    files = list(media_files([media]))
    _, base = timed(lambda: [hash_file(f) for f in files])
    report, took = timed(lambda: node.contribute(files=[media], category="csam", tlp=Tlp.GREEN))
    assert report.publish is not None
    print(f"media directory, {count} images (320x240 PNG), {report.publish.added:,} signals")
    print(f"  baseline hashing only    {count / base:12,.1f} images/s  ({base:.2f} s)")
    print(
        f"  import                   {count / took:12,.1f} images/s  ({took:.2f} s)  "
        f"{took / base:.2f}x the baseline's time"
    )


def bench_scan(node: AccordNode, root: Path, rows: int) -> None:
    manifest = root / "manifest.csv"
    with manifest.open("w") as stream:
        stream.write("id,md5\n")
        for n in range(rows):
            value = n + 10**12 if n % 10 else n + 1  # every tenth row: a listed md5 (odd values are)
            stream.write(f"item-{n},{value:032x}\n")
    _, base = timed(lambda: sum(len(chunk) for chunk in read_manifest(manifest)))
    _, load = timed(node.load_lists)
    report, took = timed(lambda: node.scan(manifest, root / "report.jsonl", fmt="jsonl"))
    print(f"scan, {rows:,} manifest rows ({report.matched:,} matched); lists loaded in {load:.2f} s")
    print(f"  baseline read manifest   {rows / base:12,.0f} rows/s  ({base:.2f} s)")
    print(
        f"  scan + report            {report.items_per_second:12,.0f} items/s  ({took:.2f} s)  "
        f"{took / base:.1f}x the baseline's time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hashes", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--scan-rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        init_home(root / "home", name="bench")
        node = AccordNode.open(root / "home")
        try:
            bench_list(node, root, args.hashes)
            bench_media(node, root, args.images)
            bench_scan(node, root, args.scan_rows)
        finally:
            node.close()


if __name__ == "__main__":
    main()
