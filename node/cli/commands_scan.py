"""``accord scan`` on Dask: its options, progress on stderr and summary (issue 16).

The command itself is ``scan_cmd`` in :mod:`node.cli.commands_import`; with ``--dask``,
``--cluster`` or ``scan.dask = true`` it hands over here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from node.app.node import AccordNode
from node.app.scan_dask import (
    DEFAULT_PARTITION_ROWS,
    ClusterChoice,
    ScanJob,
    ScanProgress,
    default_state,
    run_distributed_scan,
)
from node.cli.output import emit
from node.hashing.credentials import CredentialCheck

_F = TypeVar("_F", bound=Callable[..., Any])
_PROGRESS_EVERY = 1.0  # seconds between progress lines


def dask_options(command: _F) -> _F:
    """The options of a scan on Dask."""
    options = [
        click.option(
            "--dask", "use_dask", is_flag=True, default=False, help="Scan on Dask (the 'scan' extra)."
        ),
        click.option(
            "--cluster",
            default=None,
            help="Dask scheduler address (tcp://host:8786) [default: scan.cluster, else a local cluster].",
        ),
        click.option(
            "--workers",
            default=None,
            type=click.IntRange(1, 4096),
            help="Local cluster worker processes, one thread each [default: one per core].",
        ),
        click.option(
            "--state",
            default=None,
            help="State directory (path or fsspec URL all workers reach) [default: --out + '.parts'].",
        ),
        click.option(
            "--partition-rows",
            default=DEFAULT_PARTITION_ROWS,
            show_default=True,
            type=click.IntRange(1, 1_000_000),
            help="Rows per Dask task (the unit a rerun skips).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def c2pa_option(command: _F) -> _F:
    """``--c2pa``: read every media item's C2PA manifest too (issue 15)."""
    return click.option(
        "--c2pa",
        is_flag=True,
        default=False,
        help="Also read each media file's C2PA manifest and report every item carrying one "
        "(the 'c2pa' extra; trust anchors from match.c2pa_trust_anchors). "
        "Rows of hashes alone have no file to read.",
    )(command)


def c2pa_summary(items: int, ai_generated: int) -> str:
    """The summary line of a --c2pa scan."""
    return (
        f"C2PA: {items} item(s) carry a manifest, {ai_generated} declare AI generation"
        " (evidence only: check valid/trusted per item in the report)"
    )


def wants_dask(node: AccordNode, options: dict[str, Any]) -> bool:
    """True when this scan runs on Dask: asked for, a cluster named, or configured."""
    return bool(options["use_dask"] or options["cluster"] or node.config.scan.dask)


def scan_on_dask(
    node: AccordNode,
    source: str,
    out: Path,
    *,
    fmt: str,
    progress: bool | None,
    as_json: bool,
    options: dict[str, Any],
    c2pa: CredentialCheck | None = None,
) -> None:
    """Run the scan on Dask and print what it did; exit 1 when nothing matched, 2 when
    partitions or items failed (the report is then written only once every partition is done)."""
    config = node.config.scan
    cluster = ClusterChoice(
        address=options["cluster"] or config.cluster or None,
        workers=options["workers"] or config.workers or None,
    )
    job = ScanJob(
        source=source,
        out=out,
        fmt=fmt,
        state=options["state"] or default_state(out),
        partition_rows=options["partition_rows"],
        c2pa=c2pa,
    )
    show = progress if progress is not None else sys.stderr.isatty()
    report = run_distributed_scan(
        job,
        snapshot_source=lambda: (node.scan_snapshot_source(), node.refresher.at_cursor),
        cluster=cluster,
        record=node.record_scan_matches,
        progress=_Progress() if show else None,
        announce=lambda text: click.echo(f"accord: {text}", err=True),
    )
    for failure in report.failed:
        click.echo(f"accord: item {failure.id!r} failed: {failure.error}", err=True)
    lines = (
        [f"resumed: {report.skipped} of {report.partitions} partition(s) were done"] if report.skipped else []
    )
    lines += [
        f"scanned {report.rows} item(s): {report.matched} matched, "
        f"{report.unusable} without a usable signal ({len(report.failed)} failed); report {out}",
        f"throughput {report.items_per_second:,.0f} items/s ({report.scanned} in {report.seconds:.1f} s) "
        f"on {report.workers} worker(s)",
    ]
    if report.lost:
        lines.append(
            f"partition(s) {', '.join(map(str, report.lost))} failed on every try: no report written; "
            f"run the same command again to finish (state in {job.state})"
        )
    data = {
        "rows": report.rows,
        "scanned": report.scanned,
        "matched": report.matched,
        "unusable": report.unusable,
        "failed": [{"id": f.id, "error": f.error} for f in report.failed],
        "partitions": report.partitions,
        "skipped_partitions": report.skipped,
        "lost_partitions": list(report.lost),
        "workers": report.workers,
        "dashboard": report.dashboard,
        "seconds": round(report.seconds, 3),
        "items_per_second": round(report.items_per_second, 1),
        "report": None if report.lost else str(out),
        "format": fmt,
    }
    if c2pa is not None:
        lines.append(c2pa_summary(report.credentials, report.ai_generated))
        data["c2pa"] = {"items": report.credentials, "ai_generated": report.ai_generated}
    emit(as_json, data, lines)
    context = click.get_current_context()
    if report.lost:
        context.exit(2)
    if not report.matched:
        context.exit(1)


class _Progress:
    """One line on stderr at most every second: partitions, items/s, ETA."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, state: ScanProgress) -> None:
        now = time.monotonic()
        final = state.partitions_total is not None and state.partitions_done >= state.partitions_total
        if now - self._last < _PROGRESS_EVERY and not final:
            return
        self._last = now
        total = "?" if state.partitions_total is None else str(state.partitions_total)
        eta = "?" if state.eta_seconds is None else f"{state.eta_seconds:,.0f} s"
        click.echo(
            f"accord: partitions {state.partitions_done}/{total}, {state.items:,} item(s), "
            f"{state.items_per_second:,.1f} items/s, ETA {eta}",
            err=True,
        )
