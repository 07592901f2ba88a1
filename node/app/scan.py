"""``accord scan``: match a data set's items against the lists before training (issue 5).

The Safety-by-Design commitment: an AI lab removes known CSAM from training data. The scan
streams the manifest in chunks (constant memory), writes one report line per matching item
with provenance, and checkpoints after each chunk: the report is flushed and fsynced first,
then ``REPORT.checkpoint`` records how many rows are done and how long the report was. A
re-run after an interruption truncates the report to that length (dropping any line written
after the last checkpoint) and skips the rows done, so no item is reported twice.

With ``--c2pa`` every media item also has its C2PA manifest read (issue 15), and an item with
a manifest is reported even without a match (a lab looks for the AI-generated items in its
training set); "matched" still counts matching items only. A checkpoint records the setting:
a run never resumes a report written with the other one.
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
from node.hashing.credentials import CredentialCheck
from node.hashing.manifests import ManifestRow, count_rows, read_manifest
from node.model import MatchResult, Signal, Trust
from node.model.provenance import ContentCredentials, credentials_to_data
from node.sync.query import Matcher

CHUNK_ROWS = 10_000
"""Rows read, matched and checkpointed together: memory is bounded by one chunk."""

_CSV_HEADER = ("id", "signal_type", "indicator_id", "origin", "category", "distance", "tlp", "corroboration")
_C2PA_COLUMNS = ("c2pa_state", "c2pa_valid", "c2pa_trusted", "c2pa_ai_generated")
"""Appended to a CSV report with --c2pa. The manifest's own texts (signer, generator) stay in
JSON lines: whoever made the file chose them, and a spreadsheet would run a leading '='."""


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What a scan (or its resumed remainder) did."""

    rows: int  # rows of the manifest done in total, including earlier runs
    scanned: int  # rows done by this run
    matched: int  # items with at least one match, in total
    unusable: int  # rows with no usable signal or an unusable value, in total
    resumed_from: int
    seconds: float
    credentials: int = 0  # items with a C2PA manifest (--c2pa), in total
    ai_generated: int = 0  # of those, the ones declaring generative AI

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
    c2pa: bool = False  # a --c2pa scan (absent from checkpoints older than the option)
    c2pa_anchors: str | None = None  # the digest of its trust anchors
    credentials: int = 0
    ai_generated: int = 0


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
    c2pa: CredentialCheck | None = None,
) -> ScanReport:
    """Scan ``source`` (manifest or media directory) into the report ``out`` (``jsonl``/``csv``);
    with ``c2pa``, reading every media item's C2PA manifest too."""
    if fmt not in ("jsonl", "csv"):
        raise InvalidInput(f"report format must be jsonl or csv, not {fmt!r}")
    started = time.monotonic()
    state = _resume_state(source, out, c2pa=c2pa)
    first = state.rows
    with open(out, "r+b" if state.report_bytes else "wb") as stream:
        stream.truncate(state.report_bytes)
        stream.seek(state.report_bytes)
        if state.report_bytes == 0 and fmt == "csv":
            stream.write(csv_header(c2pa=c2pa is not None))
        for chunk in read_manifest(source, skip=state.rows, batch_rows=chunk_rows, c2pa=c2pa):
            part = report_chunk(matcher, chunk, fmt, c2pa=c2pa is not None)
            stream.write(part.lines)
            stream.flush()
            os.fsync(stream.fileno())  # the report is durable before the checkpoint says so
            state = _Checkpoint(
                source=state.source,
                rows=chunk[-1].number,
                report_bytes=stream.tell(),
                matched=state.matched + part.matched,
                unusable=state.unusable + part.unusable,
                c2pa=state.c2pa,
                c2pa_anchors=state.c2pa_anchors,
                credentials=state.credentials + part.credentials,
                ai_generated=state.ai_generated + part.ai_generated,
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
        credentials=state.credentials,
        ai_generated=state.ai_generated,
    )


def pending_rows(source: Path, out: Path, *, c2pa: CredentialCheck | None = None) -> int | None:
    """Rows still to scan (for a progress bar), when cheap to know."""
    total = count_rows(source)
    if total is None:
        return None
    return max(0, total - _resume_state(source, out, c2pa=c2pa).rows)


@dataclass(frozen=True, slots=True)
class ChunkReport:
    """The report lines of a run of rows, and what they counted (shared with the Dask scan)."""

    lines: bytes
    matched: int  # items with at least one match
    unusable: int  # rows with no usable signal or an unusable value
    indicator_ids: tuple[str, ...]  # every match's indicator (the local match log)
    others: tuple[str, ...]  # those of other origins (counted for sightings)
    credentials: int = 0  # items with a C2PA manifest
    ai_generated: int = 0  # of those, the ones declaring generative AI


def report_chunk(matcher: Matcher, chunk: list[ManifestRow], fmt: str, *, c2pa: bool = False) -> ChunkReport:
    """Match ``chunk`` and render the report lines of its matching items, and of its items
    with a C2PA manifest, in row order. ``c2pa``: the CSV lines carry the manifest columns."""
    queries: list[tuple[ManifestRow, Signal]] = [(row, s) for row in chunk for s in row.signals]
    results = matcher.match([s for _, s in queries])
    by_row: dict[int, list[MatchResult]] = {}
    for (row, _), result in zip(queries, results, strict=True):
        if result.matches:
            by_row.setdefault(row.number, []).append(result)
    lines = [
        _report_lines(row, by_row.get(row.number, []), fmt, c2pa=c2pa)
        for row in chunk
        if row.number in by_row or row.credentials is not None
    ]
    unusable = sum(1 for row in chunk if row.problems or not row.signals)
    matches = [m for found in by_row.values() for r in found for m in r.matches]
    others = tuple(m.indicator_id for m in matches if m.trust is not Trust.OWN)
    manifests = [row.credentials for row in chunk if row.credentials is not None]
    return ChunkReport(
        b"".join(lines),
        len(by_row),
        unusable,
        tuple(m.indicator_id for m in matches),
        others,
        credentials=len(manifests),
        ai_generated=sum(1 for c in manifests if c.ai_generated),
    )


def csv_header(*, c2pa: bool = False) -> bytes:
    """The first line of a CSV report (with the C2PA columns for a --c2pa scan)."""
    return _csv_line(_CSV_HEADER + _C2PA_COLUMNS if c2pa else _CSV_HEADER)


def _report_lines(row: ManifestRow, results: list[MatchResult], fmt: str, *, c2pa: bool) -> bytes:
    """The report entry of one matching item (or one with a C2PA manifest). Hash values are
    left out: the id names the item."""
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
        if row.credentials is not None:
            entry["c2pa"] = credentials_to_data(row.credentials)
        return (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode()
    cells = [
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
        for m in matches
    ] or [(row.id, "", "", "", "", "", "", "0")]  # no match: reported for its manifest alone
    tail = _c2pa_cells(row.credentials) if c2pa else ()
    return b"".join(_csv_line((*line, *tail)) for line in cells)


def _c2pa_cells(found: ContentCredentials | None) -> tuple[str, ...]:
    if found is None:
        return ("", "", "", "")
    flags = (found.valid, found.trusted, found.ai_generated)
    return (found.validation_state, *("true" if f else "false" for f in flags))


def _csv_line(cells: tuple[Any, ...]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(cells)
    return text.getvalue().encode()


def _resume_state(source: Path, out: Path, *, c2pa: CredentialCheck | None) -> _Checkpoint:
    """The checkpoint of an interrupted scan of ``source`` into ``out``, or a fresh start."""
    fresh = _Checkpoint(
        source=str(source.resolve()),
        rows=0,
        report_bytes=0,
        matched=0,
        unusable=0,
        c2pa=c2pa is not None,
        c2pa_anchors=None if c2pa is None else c2pa.anchors_digest,
    )
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
    if saved.c2pa != fresh.c2pa:
        # Its lines so far have (or lack) the manifests and, in CSV, the columns: never mixed.
        raise InvalidInput(
            f"{out} is the report of an interrupted scan {'with' if saved.c2pa else 'without'} --c2pa;"
            f" run it again {'with' if saved.c2pa else 'without'} --c2pa to resume, or choose another --out"
        )
    if saved.c2pa_anchors != fresh.c2pa_anchors:  # "trusted" would mean two things in one report
        raise InvalidInput(
            f"{out} is the report of an interrupted --c2pa scan under other trust anchors"
            " (match.c2pa_trust_anchors changed); restore them to resume, or choose another --out"
        )
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
        "c2pa": state.c2pa,
        "c2pa_anchors": state.c2pa_anchors,
        "credentials": state.credentials,
        "ai_generated": state.ai_generated,
    }
