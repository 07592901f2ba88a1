"""Exact PDQ matching at scale: Accord's index against a brute-force numpy scan (DESIGN §9).

    .venv/bin/python -m bench.matching [--sizes 1000000,10000000] [--quick]
                                       [--kinds random,clustered,image] [--image-hashes FILE]

For each size, on uniformly random hashes, on clustered ones (near-duplicate families) and on
image hashes, in the same run: recall within T against brute force, single-query throughput
with one and two threads, p50/p99 latency, batched throughput, build time, memory, add/remove
freshness, save and cold load; the brute-force scan, python-threatexchange's default PDQ index
(``PdqSignal.get_index_cls()``, a FAISS multi-hash index; the ``dev`` extra) and FAISS
IndexBinaryFlat when installed (the ``bench`` extra) as baselines, with Accord's single-query
rate over pytx's. Targets are the issue's, defined at 10M hashes and T = 31.

Image hashes: the PDQ hashes of ``--image-hashes FILE`` (one 64-hex hash a line, e.g. of a real
image set; the list is as long as the file), queried by the same hashes with bits flipped.
Without a file, images are rendered here (colour fields and shapes, tests/support/media.py),
as many as the size asks up to IMAGE_CAP (hashing runs ~50 images/s), and queried by the PDQ
of each image rescaled and re-encoded as JPEG: real near-duplicates of rendered, not
photographed, images.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import io
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt

from node.match import PdqIndex

THRESHOLD = 31
MAX_FLIPS = 31  # recall queries: stored hashes with k = 0..31 random bits flipped
FAMILY_SIZE = 100  # clustered lists: ~100 near-duplicates per family...
FAMILY_SPREAD = 16  # ...each up to this many bits from its family's centre
BATCH = 1000
IMAGE_CAP = 2_000  # rendered images per run without --image-hashes (hashing is ~50 images/s)
PYTX_QUERIES = 400  # single queries timed on pytx's index (it is the slow side)


@dataclass
class Report:
    """Figures of one list, printed as a table."""

    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, figure: str, value: str, ratio: str = "", verdict: str = "") -> None:
        self.rows.append((figure, value, ratio, verdict))

    def print(self) -> None:
        print(f"\n=== {self.title} ===")
        widths = [
            max(len(r[i]) for r in [*self.rows, ("figure", "value", "vs brute", "target")]) for i in range(4)
        ]
        for row in [("figure", "value", "vs brute", "target"), *self.rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def verdict(ok: bool, target: str) -> str:
    return f"{'PASS' if ok else 'MISS'} ({target})"


# --- data --------------------------------------------------------------------------------------


def random_hashes(n: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def clustered_hashes(n: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Families of ~FAMILY_SIZE members, each a centre with 0..FAMILY_SPREAD random bits flipped."""
    families = max(1, n // FAMILY_SIZE)
    centres = random_hashes(families, rng)
    out = np.empty((n, 32), dtype=np.uint8)
    for start in range(0, n, 1 << 20):
        stop = min(n, start + (1 << 20))
        members = centres[rng.integers(0, families, size=stop - start)]
        out[start:stop] = flip_bits(members, rng.integers(0, FAMILY_SPREAD + 1, size=stop - start), rng)
    return out


def flip_bits(
    hashes: npt.NDArray[np.uint8], counts: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    """Each row with exactly ``counts[i]`` distinct random bits flipped."""
    order = np.argsort(rng.random((len(hashes), 256)), axis=1)
    flips = np.zeros((len(hashes), 256), dtype=bool)
    take = np.arange(256)[None, :] < counts[:, None]
    np.put_along_axis(flips, order, take, axis=1)
    return hashes ^ np.packbits(flips, axis=1)


def image_hashes(
    n: int, rng: np.random.Generator, path: Path | None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8] | None]:
    """Image PDQ hashes (from ``path``, or of images rendered here), and for rendered ones the
    PDQ of each image rescaled and re-encoded (its near-duplicate query); None from a file."""
    if path is not None:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return np.frombuffer(bytes.fromhex("".join(lines[:n])), dtype=np.uint8).reshape(-1, 32), None
    import pdqhash  # type: ignore[import-untyped]  # noqa: PLC0415 - only the image kind hashes
    from PIL import Image  # noqa: PLC0415

    from tests.support.media import render_image  # noqa: PLC0415 - the test suite's image generator

    def pdq(image: Image.Image) -> bytes:
        bits, _ = pdqhash.compute(np.asarray(image.convert("RGB")))
        return np.packbits(bits.astype(np.uint8)).tobytes()

    count = min(n, IMAGE_CAP)
    listed, variants = [], []
    for seed in rng.integers(0, 2**31, size=count):
        image = render_image(seed=int(seed))
        listed.append(pdq(image))
        buffer = io.BytesIO()
        image.resize((image.width // 2, image.height // 2)).convert("RGB").save(buffer, "JPEG", quality=70)
        buffer.seek(0)
        variants.append(pdq(Image.open(buffer)))
    return _as_array(listed), _as_array(variants)


def _as_array(rows: list[bytes]) -> npt.NDArray[np.uint8]:
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 32)


class UuidIds(Sequence[str]):
    """``indicator--<uuid4>`` ids made on demand, so the list itself costs no memory."""

    def __init__(self, n: int, seed: int) -> None:
        self._n = n
        self._seed = seed

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._id(i) for i in range(*index.indices(self._n))]
        return self._id(index)

    def __iter__(self) -> Iterator[str]:
        return (self._id(i) for i in range(self._n))

    def _id(self, i: int) -> str:
        value = (i * 0x9E3779B97F4A7C15 + self._seed * 0xBF58476D1CE4E5B9) & ((1 << 128) - 1)
        value ^= value >> 61
        text = f"{value:032x}"
        return f"indicator--{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:32]}"


def as_rows(hashes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    return hashes.view(">u8").astype(np.uint64)


# --- measurements ------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident memory, after handing freed heap pages back (build temporaries are not state)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def brute_force(
    rows: npt.NDArray[np.uint64], query: npt.NDArray[np.uint64], threshold: int
) -> npt.NDArray[np.int64]:
    """The baseline: XOR every row with the query and count bits (numpy, one core).

    In blocks that stay in cache, with the uint8 counts summed as uint16: ~3x faster than
    one whole-array expression, so the ratios are against a fair numpy scan.
    """
    block = 1 << 15
    xor = np.empty((block, 4), dtype=np.uint64)
    bits = np.empty((block, 4), dtype=np.uint8)
    found = []
    for start in range(0, len(rows), block):
        n = min(block, len(rows) - start)
        np.bitwise_xor(rows[start : start + n], query, out=xor[:n])
        np.bitwise_count(xor[:n], out=bits[:n])
        distance = bits[:n, 0].astype(np.uint16) + bits[:n, 1] + bits[:n, 2] + bits[:n, 3]
        found.append(np.flatnonzero(distance <= threshold) + start)
    return np.concatenate(found)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def timed_calls(index: PdqIndex, queries: list[bytes]) -> list[float]:
    out = []
    for q in queries:
        start = time.perf_counter()
        index.query(q, THRESHOLD)
        out.append(time.perf_counter() - start)
    return out


def concurrent_run(index: PdqIndex, queries: list[bytes], threads: int) -> tuple[float, list[float]]:
    """Queries per second with ``threads`` callers, and every call's latency."""
    parts = [queries[t::threads] for t in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        results = list(pool.map(lambda part: timed_calls(index, part), parts))
        elapsed = time.perf_counter() - start
    return len(queries) / elapsed, [x for r in results for x in r]


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(len(values) - 1, int(share * len(values)))]


def measure_recall(
    index: PdqIndex, ids: Sequence[str], rows: npt.NDArray[np.uint64], queries: npt.NDArray[np.uint8]
) -> tuple[float, int, float]:
    """(recall, matches expected, brute-force seconds per query) over ``queries``."""
    expected = found = 0
    spent = 0.0
    for q in queries:
        start = time.perf_counter()
        truth = brute_force(rows, as_rows(q[None, :])[0], THRESHOLD)
        spent += time.perf_counter() - start
        want = {ids[int(r)] for r in truth}
        got = {h.indicator_id for h in index.query(q.tobytes(), THRESHOLD)}
        expected += len(want)
        found += len(want & got)
        if got - want:
            raise SystemExit(f"index returned hashes beyond T: {sorted(got - want)[:3]}")
    return (found / expected if expected else 1.0), expected, spent / len(queries)


def freshness(index: PdqIndex, rng: np.random.Generator, rounds: int = 50) -> tuple[float, float]:
    """Worst seconds from calling add()/remove() to a query seeing the change."""
    worst_add = worst_remove = 0.0
    for n in range(rounds):
        pdq = random_hashes(1, rng)[0].tobytes()
        indicator_id = UuidIds(1, 10_000 + n)[0]
        start = time.perf_counter()
        index.add(indicator_id, pdq)
        while indicator_id not in {h.indicator_id for h in index.query(pdq, 0)}:
            pass
        worst_add = max(worst_add, time.perf_counter() - start)
        start = time.perf_counter()
        index.remove(indicator_id)
        while indicator_id in {h.indicator_id for h in index.query(pdq, 0)}:
            pass
        worst_remove = max(worst_remove, time.perf_counter() - start)
    return worst_add, worst_remove


def faiss_baseline(
    hashes: npt.NDArray[np.uint8], queries: npt.NDArray[np.uint8]
) -> tuple[float, float] | None:
    """FAISS IndexBinaryFlat single and batched queries/s (range search), if faiss is installed."""
    try:
        import faiss  # type: ignore[import-not-found]  # noqa: PLC0415  (optional: the bench extra)
    except ImportError:
        return None
    flat = faiss.IndexBinaryFlat(256)
    flat.add(hashes)
    few = queries[:20]
    single = len(few) / timed(lambda: [flat.range_search(q[None, :], THRESHOLD + 1) for q in few])
    batched = len(queries) / timed(lambda: flat.range_search(queries, THRESHOLD + 1))
    return single, batched


# --- one list ----------------------------------------------------------------------------------


def bench_list(n: int, kind: str, *, quick: bool, seed: int, image_file: Path | None = None) -> Report:
    """Every figure for one list of ``n`` hashes of ``kind``."""
    rng = np.random.default_rng(seed)
    variants = None
    if kind == "image":
        hashes, variants = image_hashes(n, rng, image_file)
        source = "from " + str(image_file) if image_file is not None else "of rendered images"
        kind = f"image ({source})"
    else:
        hashes = clustered_hashes(n, rng) if kind == "clustered" else random_hashes(n, rng)
    n = len(hashes)
    note = "" if n >= 10_000_000 else " (targets are set at 10M: shown for reference)"
    report = Report(f"{n:,} {kind} hashes, T = {THRESHOLD}{note}")
    ids = UuidIds(n, seed)
    picks = rng.integers(0, n, size=(400 if quick else 2000))
    if variants is not None:  # rendered images: their re-encoded copies, and flipped bits
        queries = np.concatenate([variants, flip_bits(hashes[picks], np.arange(len(picks)) % 32, rng)])
    else:
        queries = flip_bits(hashes[picks], np.arange(len(picks)) % (MAX_FLIPS + 1), rng)
    warm_up(rng)
    index = bench_build(ids, hashes, report)
    rows = as_rows(hashes)
    del hashes
    gc.collect()
    recall, expected, brute_seconds = measure_recall(index, ids, rows, queries[: (64 if quick else 128)])
    brute_qps = 1 / brute_seconds
    report.add(
        "recall within T (k = 0..31 flips)",
        f"{recall:.4f} of {expected:,}",
        "",
        verdict(recall == 1.0, "1.0"),
    )
    report.add("brute force (numpy), 1 thread", f"{brute_qps:,.1f} q/s", "1.0x")
    accord_single = bench_queries(index, queries, report, brute_qps, quick=quick)
    bench_pytx(
        ids, rows, index, queries=queries, report=report, brute_qps=brute_qps, accord_single=accord_single
    )
    add_s, remove_s = freshness(index, rng)
    report.add("add → matchable (worst)", f"{add_s * 1e3:.2f} ms", "", verdict(add_s <= 1, "≤ 1 s"))
    report.add(
        "remove → unmatchable (worst)", f"{remove_s * 1e3:.2f} ms", "", verdict(remove_s <= 1, "≤ 1 s")
    )
    bench_updates(index, report, rng, quick=quick)
    bench_cold_start(index, report, [q.tobytes() for q in queries[:50]])
    index = PdqIndex()  # drop the big one before FAISS builds its own copy
    gc.collect()
    bench_faiss(rows, queries, report, brute_qps, n, quick=quick)
    return report


def bench_build(ids: Sequence[str], hashes: npt.NDArray[np.uint8], report: Report) -> PdqIndex:
    """bulk_load time and memory: the arrays' own size, and the process's RSS growth."""
    gc.collect()
    before = rss_bytes()
    index = PdqIndex()
    start = time.perf_counter()
    index.bulk_load(ids, hashes)
    build = time.perf_counter() - start
    gc.collect()
    rss = rss_bytes() - before
    n = len(ids)
    arrays = index.stats()["array_bytes"]
    report.add("index build (bulk_load, from str ids)", f"{build:.1f} s")
    report.add("index arrays", f"{arrays / n:.1f} B/hash", "", verdict(arrays / n <= 100, "≤ 100 B/hash"))
    rss_text = f"{rss / n:.1f} B/hash ({rss / 2**20:,.0f} MiB)"
    report.add("RSS growth after build", rss_text, "", verdict(rss / n <= 100, "≤ 100 B/hash"))
    return index


def bench_queries(
    index: PdqIndex, queries: npt.NDArray[np.uint8], report: Report, brute_qps: float, *, quick: bool
) -> float:
    """Throughput with one and two callers, latency, and batches of BATCH queries; returns the
    single-thread rate."""
    query_bytes = [q.tobytes() for q in queries]
    index.query(query_bytes[0], THRESHOLD)
    single, lat1 = concurrent_run(index, query_bytes, 1)
    report.add("single queries, 1 thread", f"{single:,.0f} q/s", f"{single / brute_qps:,.0f}x")
    two, lat2 = concurrent_run(index, query_bytes * 2, 2)
    target = verdict(two >= 2000 and two >= 50 * brute_qps, "≥ 2,000 q/s and ≥ 50x")
    report.add("single queries, 2 threads", f"{two:,.0f} q/s", f"{two / brute_qps:,.0f}x", target)
    for label, lat in (("2 threads", lat2), ("1 thread", lat1)):
        p50, p99 = percentile(lat, 0.50) * 1e3, percentile(lat, 0.99) * 1e3
        report.add(
            f"latency p50 / p99 ({label})", f"{p50:.2f} / {p99:.2f} ms", "", verdict(p99 <= 5, "p99 ≤ 5 ms")
        )
    batches = [queries[i : i + BATCH] for i in range(0, len(queries), BATCH)] * (1 if quick else 2)
    start = time.perf_counter()
    for batch in batches:
        index.query_batch(batch, THRESHOLD)
    batched = sum(len(b) for b in batches) / (time.perf_counter() - start)
    target = verdict(batched >= 4000, "≥ 4,000 q/s")
    report.add(f"batched ({BATCH} per call)", f"{batched:,.0f} q/s", f"{batched / brute_qps:,.0f}x", target)
    return single


def bench_pytx(
    ids: Sequence[str],
    rows: npt.NDArray[np.uint64],
    index: PdqIndex,
    *,
    queries: npt.NDArray[np.uint8],
    report: Report,
    brute_qps: float,
    accord_single: float,
) -> None:
    """python-threatexchange's default PDQ index on the same list and queries: build time,
    single-thread rate (and Accord's over it), and whether it finds what Accord finds."""
    try:
        from threatexchange.signal_type.pdq.signal import PdqSignal  # noqa: PLC0415 - the dev extra
    except ImportError:
        report.add("pytx default PDQ index", "not installed (pip install threatexchange faiss-cpu)")
        return
    hexes = rows.astype(">u8").view(np.uint8).reshape(len(rows), 32)
    pytx_cls = PdqSignal.get_index_cls()
    started = time.perf_counter()
    pytx = pytx_cls.build((hexes[i].tobytes().hex(), i) for i in range(len(rows)))
    report.add(f"pytx {pytx_cls.__name__} build", f"{time.perf_counter() - started:.1f} s")
    texts = [q.tobytes().hex() for q in queries[:PYTX_QUERIES]]
    pytx.query(texts[0])
    started = time.perf_counter()
    answers = [pytx.query(t) for t in texts]
    rate = len(texts) / (time.perf_counter() - started)
    report.add("pytx default index, single, 1 thread", f"{rate:,.1f} q/s", f"{rate / brute_qps:,.1f}x")
    report.add("Accord / pytx (single, 1 thread)", f"{accord_single / rate:,.1f}x")
    missed = sum(
        len({h.indicator_id for h in index.query(q.tobytes(), THRESHOLD)} - {ids[m.metadata] for m in found})
        for q, found in zip(queries[: len(texts)], answers, strict=True)
    )
    report.add("pytx: Accord's matches it missed", f"{missed:,} over {len(texts)} queries")


def warm_up(rng: np.random.Generator) -> None:
    """Load the compiled loops once, so that neither timings nor RSS include them."""
    small = PdqIndex()
    small.bulk_load(UuidIds(5000, 1), random_hashes(5000, rng))
    small.add_many(UuidIds(10, 2), random_hashes(10, rng))
    small.query_batch(random_hashes(100, rng), THRESHOLD)
    small.query(bytes(32), 63)
    small.merge(full=True)


def bench_updates(index: PdqIndex, report: Report, rng: np.random.Generator, *, quick: bool) -> None:
    """Adds in batches while queries run, then the background merge's length."""
    count = 20_000 if quick else 100_000
    ids = UuidIds(count, 99)
    fresh = random_hashes(count, rng)
    elapsed = timed(
        lambda: [index.add_many(ids[i : i + 1000], fresh[i : i + 1000]) for i in range(0, count, 1000)]
    )
    report.add("add_many throughput (1,000 per call)", f"{count / elapsed:,.0f} hashes/s")
    merge = timed(index.wait_for_merge)
    full = timed(lambda: index.merge(full=True))
    report.add("full merge into a new base", f"{full:.1f} s (background; {merge:.1f} s left after adds)")
    stale = index.query(fresh[0].tobytes(), 0)
    if [h.indicator_id for h in stale] != [ids[0]]:
        raise SystemExit("an added hash was lost by the merge")


def bench_cold_start(index: PdqIndex, report: Report, probes: list[bytes]) -> None:
    with tempfile.TemporaryDirectory(prefix="accord-bench-") as tmp:
        directory = Path(tmp)
        saved = timed(lambda: index.save(directory))
        expected = [index.query(q, THRESHOLD) for q in probes]
        size = sum(p.stat().st_size for p in directory.iterdir())
        loaded: list[PdqIndex] = []
        cold = timed(lambda: loaded.append(PdqIndex.load(directory)))
        first = timed(lambda: loaded[0].query(probes[0], THRESHOLD))
        same = [loaded[0].query(q, THRESHOLD) for q in probes] == expected
        report.add("save", f"{saved:.1f} s ({size / 2**20:,.0f} MiB on disk)")
        report.add(
            "cold load + first query",
            f"{cold:.2f} s + {first * 1e3:.1f} ms",
            "",
            verdict(cold + first <= 15 and same, "≤ 15 s, same answers"),
        )


def bench_faiss(
    rows: npt.NDArray[np.uint64],
    queries: npt.NDArray[np.uint8],
    report: Report,
    brute_qps: float,
    n: int,
    *,
    quick: bool,
) -> None:
    if quick and n > 1_000_000:
        return
    result = faiss_baseline(rows.astype(">u8").view(np.uint8).reshape(n, 32), queries[:BATCH])
    if result is None:
        report.add("FAISS IndexBinaryFlat", "not installed (pip install '.[bench]')")
        return
    single, batched = result
    report.add("FAISS IndexBinaryFlat, single", f"{single:,.1f} q/s", f"{single / brute_qps:,.1f}x")
    report.add("FAISS IndexBinaryFlat, batched", f"{batched:,.1f} q/s", f"{batched / brute_qps:,.1f}x")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated list sizes")
    parser.add_argument("--kinds", default="random,clustered,image", help="random, clustered, image")
    parser.add_argument("--quick", action="store_true", help="one small list of each kind (smoke run)")
    parser.add_argument("--seed", type=int, default=20250506)
    parser.add_argument("--image-hashes", type=Path, help="PDQ hashes of real images, one hex a line")
    args = parser.parse_args(argv)
    sizes = [200_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    print(f"PDQ matching benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    for n in sizes:
        for kind in args.kinds.split(","):
            bench_list(n, kind, quick=args.quick, seed=args.seed, image_file=args.image_hashes).print()
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end (other work on the machine lowers throughput)")
    print(f"threads alive: {threading.active_count()}; peak RSS {_peak_rss() / 2**30:.1f} GiB")


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    main()
