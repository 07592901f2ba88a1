"""Data-set manifests → rows of signals, read in chunks (the training-data scan, issue 5).

A manifest has an ``id`` column and one column per signal type (``md5``, ``sha256``, ``sha1``,
``pdq``; any may be empty), and may have a ``path`` column naming a media file to hash for the
rows that carry no hash. CSV and JSON lines are read a line at a time and Parquet a record
batch at a time (pyarrow), so memory stays constant however long the manifest is. A directory
instead is walked (sorted, see :mod:`node.hashing.walk`) and each file hashed (md5, sha256, PDQ,
and vPDQ for videos with the video extra) where it is read or, in a distributed scan, on a
worker. Row ``n`` is always the same item, which is what lets a scan resume by skipping the
rows it has done. Asked to (``accord scan --c2pa``), :func:`hash_row` also reads the C2PA
manifest of each file it hashes or a row names beside its hashes; a row of hashes alone names
no file, so it has nothing to read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import IO, Any

from node.errors import InvalidInput, MediaError, MissingExtra
from node.hashing.credentials import CredentialCheck, read_file_credentials
from node.hashing.media import hash_file
from node.hashing.walk import media_files
from node.model import PDQ_MIN_QUALITY, Signal, SignalType
from node.model.jsontext import parse_json
from node.model.provenance import ContentCredentials

_SIGNAL_COLUMNS = {t.value: t for t in SignalType}
MEDIA_COLUMN = "path"
"""A manifest column naming a media file, hashed when the row carries no hash (relative paths
start at a local manifest's folder)."""
MAX_ID_CHARS = 1024
"""Longest item id kept in a report; ids are paths or keys, never this long in practice."""


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One item of the data set: its id, its signals, and why any value was unusable."""

    number: int  # 1-based position in the manifest (what a checkpoint counts)
    id: str
    signals: tuple[Signal, ...]
    problems: tuple[str, ...] = ()
    media: str | None = None  # a file still to hash (``hash_media=False``): see :func:`hash_row`
    file: str | None = None  # the file a row names beside its hashes (read for C2PA only)
    credentials: ContentCredentials | None = None  # its C2PA manifest, when asked for and found


def read_manifest(
    source: Path,
    *,
    skip: int = 0,
    batch_rows: int = 10_000,
    hash_media: bool = True,
    opener: Callable[[], IO[bytes]] | None = None,
    c2pa: CredentialCheck | None = None,
) -> Iterator[list[ManifestRow]]:
    """Rows of ``source`` after the first ``skip``, in lists of at most ``batch_rows``.

    ``hash_media`` False leaves media files (a directory's, a ``path`` column's) unhashed: rows
    carry ``media`` and a distributed scan hashes them on its workers with :func:`hash_row`.
    ``opener`` reads the manifest from elsewhere than the local file ``source`` (whose suffix
    still names its format): a distributed scan passes an fsspec URL's opener. ``c2pa``: read
    the C2PA manifests of the files hashed (see :func:`hash_row`)."""
    rows = _rows(source, opener=opener)
    if skip:
        # Skipped rows are read (not parsed into signals) so numbering stays exact.
        for _ in islice(rows, skip):
            pass
    while batch := list(islice(rows, batch_rows)):
        yield [hash_row(row, c2pa) for row in batch] if hash_media else batch


def _rows(source: Path, *, opener: Callable[[], IO[bytes]] | None = None) -> Iterator[ManifestRow]:
    if opener is None and source.is_dir():
        return _directory_rows(source)
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        return _parquet_rows(source, opener)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _jsonl_rows(source, opener)
    if suffix in (".csv", ".tsv", ".txt"):
        return _csv_rows(source, opener)
    raise InvalidInput(f"manifest {source} must be .csv, .jsonl or .parquet, or a directory of media")


def _record(number: int, data: dict[str, Any], base: Path | None = None) -> ManifestRow:
    item_id = data.get("id")
    if item_id is None or str(item_id).strip() == "":
        return ManifestRow(number, f"row {number}", (), ("no id",))
    signals: list[Signal] = []
    problems: list[str] = []
    for column, kind in _SIGNAL_COLUMNS.items():
        value = data.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            signals.append(Signal(kind, str(value)))
        except InvalidInput as exc:
            problems.append(f"{column}: {exc}")
    item = str(item_id)[:MAX_ID_CHARS]
    media = data.get(MEDIA_COLUMN)
    named = str(_media_path(media.strip(), base)) if isinstance(media, str) and media.strip() else None
    if not signals and not problems and named is not None:
        return ManifestRow(number, item, (), media=named)
    return ManifestRow(number, item, tuple(signals), tuple(problems), file=named)


def _media_path(text: str, base: Path | None) -> Path:
    path = Path(text)
    return path if path.is_absolute() or base is None else base / path


def _csv_rows(source: Path, opener: Callable[[], IO[bytes]] | None) -> Iterator[ManifestRow]:
    with _open_text(source, opener) as stream:
        reader = csv.DictReader(stream, delimiter="\t" if source.suffix.lower() == ".tsv" else ",")
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise InvalidInput(f"manifest {source}: the header is not a CSV row ({exc})") from None
        if fieldnames is None or "id" not in [f.strip().lower() for f in fieldnames]:
            raise InvalidInput(f"manifest {source}: the header must name an 'id' column")
        number = 0
        while True:
            number += 1
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # E.g. a field over csv's field_size_limit (128 KiB): the csv module drops the
                # rest of that line and carries on with the next, so that row alone is refused.
                yield ManifestRow(number, f"row {number}", (), (f"not a CSV row: {exc}",))
                continue
            data = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
            yield _record(number, data, _base(source, opener))


def _jsonl_rows(source: Path, opener: Callable[[], IO[bytes]] | None) -> Iterator[ManifestRow]:
    with _open_text(source, opener) as stream:
        for number, line in enumerate(stream, start=1):
            try:
                data = parse_json(line, what="the row")
            except InvalidInput as exc:
                yield ManifestRow(number, f"row {number}", (), (str(exc),))
                continue
            if not isinstance(data, dict):
                yield ManifestRow(number, f"row {number}", (), ("not a JSON object",))
                continue
            yield _record(number, {str(k).lower(): v for k, v in data.items()}, _base(source, opener))


def _pyarrow_parquet() -> Any:
    """``pyarrow.parquet``, imported on first use (40 ms at every CLI start, and ~170 MB
    installed, so it is the optional extra ``parquet``)."""
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtra("reading a Parquet manifest", "parquet") from exc
    return pq


def _parquet_rows(source: Path, opener: Callable[[], IO[bytes]] | None) -> Iterator[ManifestRow]:
    pq = _pyarrow_parquet()
    try:
        parquet = pq.ParquetFile(source if opener is None else opener())
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"manifest {source} is not a readable Parquet file: {type(exc).__name__}"
        ) from None
    names = [n.lower() for n in parquet.schema_arrow.names]
    if "id" not in names:
        raise InvalidInput(f"manifest {source}: the schema has no 'id' column")
    wanted = [
        n
        for n in parquet.schema_arrow.names
        if n.lower() in ("id", MEDIA_COLUMN) or n.lower() in _SIGNAL_COLUMNS
    ]
    number = 0
    for batch in parquet.iter_batches(batch_size=8192, columns=wanted):
        for data in batch.to_pylist():
            number += 1
            yield _record(number, {k.lower(): v for k, v in data.items()}, _base(source, opener))


def _base(source: Path, opener: Callable[[], IO[bytes]] | None) -> Path | None:
    """Where a manifest's relative media paths start: a local manifest's folder."""
    return None if opener is not None else source.parent


def _directory_rows(root: Path) -> Iterator[ManifestRow]:
    for number, path in enumerate(media_files([root]), start=1):
        yield ManifestRow(number, str(path.relative_to(root)), (), media=str(path))


def hash_row(row: ManifestRow, c2pa: CredentialCheck | None = None) -> ManifestRow:
    """``row`` with its ``media`` file hashed into signals (md5, sha256, and PDQ when its
    quality is enough), or with the reason it could not be as a problem. With ``c2pa``, the
    file hashed (or named beside the row's hashes) also has its C2PA manifest read."""
    hashed = _hash_media(row)
    named = row.media or row.file
    if c2pa is None or named is None or not hashed.signals:
        return hashed  # nothing to read, or a file that could not even be hashed
    try:
        found = read_file_credentials(Path(named), c2pa)
    except MediaError as exc:
        return replace(hashed, problems=(*hashed.problems, f"C2PA: {exc}"))
    return replace(hashed, credentials=found)


def _hash_media(row: ManifestRow) -> ManifestRow:
    if row.media is None:
        return row
    try:
        hashes = hash_file(Path(row.media))
    except InvalidInput as exc:
        return ManifestRow(row.number, row.id, (), (str(exc),))
    signals = [hashes.md5, hashes.sha256]
    if hashes.pdq is not None and (hashes.pdq_quality or 0) >= PDQ_MIN_QUALITY:
        signals.append(hashes.pdq)
    if hashes.vpdq is not None:  # a video's good frames (the video extra)
        signals.append(hashes.vpdq)
    return ManifestRow(row.number, row.id, tuple(signals))


def _open_text(source: Path, opener: Callable[[], IO[bytes]] | None = None) -> io.TextIOWrapper:
    try:
        if opener is not None:
            return io.TextIOWrapper(opener(), encoding="utf-8-sig", newline="")
        return open(source, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InvalidInput(f"cannot read manifest {source}: {exc.strerror or exc}") from exc


def count_rows(source: Path) -> int | None:
    """Rows in the manifest (Parquet metadata, lines of text, files of a directory); None if unreadable."""
    if source.is_dir():
        return sum(1 for _ in media_files([source]))
    if source.suffix.lower() == ".parquet":
        try:
            return int(_pyarrow_parquet().ParquetFile(source).metadata.num_rows)
        except (OSError, ValueError):
            return None
    lines = 0
    try:
        with open(source, "rb") as stream:
            while chunk := stream.read(1 << 20):
                lines += chunk.count(b"\n")
    except OSError:
        return None
    return lines - 1 if source.suffix.lower() in (".csv", ".tsv", ".txt") else lines
