"""``accord scan``: match a data set's items against the lists before training (issue 5).

The Safety-by-Design commitment: an AI lab removes known CSAM from training data. The scan
streams the manifest in chunks (constant memory), writes one report line per matching item
with provenance, and checkpoints after each chunk: the report is flushed and fsynced first,
then ``REPORT.checkpoint`` records how many rows are done and how long the report was. A
re-run after an interruption truncates the report to that length (dropping any line written
after the last checkpoint) and skips the rows done, so no item is reported twice.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import InvalidInput
from node.hashing.manifests import ManifestRow, count_rows, read_manifest
from node.model import MatchResult, Signal, Trust
from node.sync.query import Matcher

CHUNK_ROWS = 10_000
"""Rows read, matched and checkpointed together: memory is bounded by one chunk."""

_CSV_HEADER = ("id", "signal_type", "indicator_id", "origin", "category", "distance", "tlp", "corroboration")


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What a scan (or its resumed remainder) did."""

    rows: int  # rows of the manifest done in total, including earlier runs
    scanned: int  # rows done by this run
    matched: int  # items with at least one match, in total
    unusable: int  # rows with no usable signal or an unusable value, in total
    resumed_from: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        """Throughput of this run."""
        return self.scanned / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    source: str
    rows: int
    report_bytes: int
    matched: int
    unusable: int


def checkpoint_path(out: Path) -> Path:
    """Where the scan writing ``out`` keeps its checkpoint."""
    return out.with_name(out.name + ".checkpoint")


def run_scan(
    matcher: Matcher,
    source: Path,
    out: Path,
    *,
    fmt: str,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> ScanReport:
    """Scan ``source`` (manifest or media directory) into the report ``out`` (``jsonl``/``csv``)."""
    if fmt not in ("jsonl", "csv"):
        raise InvalidInput(f"report format must be jsonl or csv, not {fmt!r}")
    started = time.monotonic()
    state = _resume_state(source, out)
    first = state.rows
    with open(out, "r+b" if state.report_bytes else "wb") as stream:
        stream.truncate(state.report_bytes)
        stream.seek(state.report_bytes)
        if state.report_bytes == 0 and fmt == "csv":
            stream.write(_csv_line(_CSV_HEADER))
        for chunk in read_manifest(source, skip=state.rows, batch_rows=chunk_rows):
            matched, unusable = _write_chunk(matcher, chunk, stream, fmt)
            stream.flush()
            os.fsync(stream.fileno())  # the report is durable before the checkpoint says so
            state = _Checkpoint(
                source=state.source,
                rows=chunk[-1].number,
                report_bytes=stream.tell(),
                matched=state.matched + matched,
                unusable=state.unusable + unusable,
            )
            _save_checkpoint(out, state)
            if progress is not None:
                progress(len(chunk))
    checkpoint_path(out).unlink(missing_ok=True)  # complete: a re-run starts a new scan
    return ScanReport(
        rows=state.rows,
        scanned=state.rows - first,
        matched=state.matched,
        unusable=state.unusable,
        resumed_from=first,
        seconds=time.monotonic() - started,
    )


def pending_rows(source: Path, out: Path) -> int | None:
    """Rows still to scan (for a progress bar), when cheap to know."""
    total = count_rows(source)
    if total is None:
        return None
    return max(0, total - _resume_state(source, out).rows)


def _write_chunk(matcher: Matcher, chunk: list[ManifestRow], stream: Any, fmt: str) -> tuple[int, int]:
    part = report_chunk(matcher, chunk, fmt)
    stream.write(part.lines)
    return part.matched, part.unusable


@dataclass(frozen=True, slots=True)
class ChunkReport:
    """The report lines of a run of rows, and what they counted (shared with the Dask scan)."""

    lines: bytes
    matched: int  # items with at least one match
    unusable: int  # rows with no usable signal or an unusable value
    indicator_ids: tuple[str, ...]  # every match's indicator (the local match log)
    others: tuple[str, ...]  # those of other origins (counted for sightings)


def report_chunk(matcher: Matcher, chunk: list[ManifestRow], fmt: str) -> ChunkReport:
    """Match ``chunk`` and render the report lines of its matching items, in row order."""
    queries: list[tuple[ManifestRow, Signal]] = [(row, s) for row in chunk for s in row.signals]
    results = matcher.match([s for _, s in queries])
    by_row: dict[int, list[MatchResult]] = {}
    for (row, _), result in zip(queries, results, strict=True):
        if result.matches:
            by_row.setdefault(row.number, []).append(result)
    lines = [_report_lines(row, by_row[row.number], fmt) for row in chunk if row.number in by_row]
    unusable = sum(1 for row in chunk if row.problems or not row.signals)
    matches = [m for found in by_row.values() for r in found for m in r.matches]
    others = tuple(m.indicator_id for m in matches if m.trust is not Trust.OWN)
    return ChunkReport(b"".join(lines), len(lines), unusable, tuple(m.indicator_id for m in matches), others)


def csv_header() -> bytes:
    """The first line of a CSV report."""
    return _csv_line(_CSV_HEADER)


def _report_lines(row: ManifestRow, results: list[MatchResult], fmt: str) -> bytes:
    """The report entry of one matching item. Hash values are left out: the id names the item."""
    matches: list[dict[str, Any]] = [
        {
            "signal_type": r.query.type.value,
            "indicator_id": m.indicator_id,
            "origin": m.origin,
            "origin_name": m.origin_name,
            "category": m.category,
            "distance": m.distance,
            "tlp": m.tlp.value,
        }
        for r in results
        for m in r.matches
    ]
    origins = len({m["origin"] for m in matches})
    if fmt == "jsonl":
        entry = {"id": row.id, "row": row.number, "corroboration": origins, "matches": matches}
        return (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode()
    return b"".join(
        _csv_line(
            (
                row.id,
                m["signal_type"],
                m["indicator_id"],
                m["origin_name"],
                m["category"],
                str(m["distance"]),
                m["tlp"],
                str(origins),
            )
        )
        for m in matches
    )


def _csv_line(cells: tuple[Any, ...]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(cells)
    return text.getvalue().encode()


def _resume_state(source: Path, out: Path) -> _Checkpoint:
    """The checkpoint of an interrupted scan of ``source`` into ``out``, or a fresh start."""
    fresh = _Checkpoint(source=str(source.resolve()), rows=0, report_bytes=0, matched=0, unusable=0)
    path = checkpoint_path(out)
    if not path.exists() or not out.exists():
        return fresh
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        saved = _Checkpoint(**data)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it to start over"
        ) from None
    if saved.source != fresh.source:
        raise InvalidInput(f"{out} is the report of a scan of another source; choose another --out")
    if out.stat().st_size < saved.report_bytes:
        raise InvalidInput(f"{out} is shorter than its checkpoint says; delete both to start over")
    return saved


def _save_checkpoint(out: Path, state: _Checkpoint) -> None:
    """Written to a temporary file and renamed: a crash leaves the old or the new, never half."""
    path = checkpoint_path(out)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(_as_dict(state)))
    os.replace(temporary, path)


def _as_dict(state: _Checkpoint) -> dict[str, Any]:
    return {
        "source": state.source,
        "rows": state.rows,
        "report_bytes": state.report_bytes,
        "matched": state.matched,
        "unusable": state.unusable,
    }
