"""Saving and loading the PDQ index, so that a node restarts without rebuilding it.

Only files the node itself wrote are read back, and even those as data, never as code:
numpy's own format with ``allow_pickle=False``, plus ``manifest.json`` naming every file
with its size and SHA-256, the format version and the chunk layout. A save writes a new
generation of files and replaces the manifest last (atomically), so a crash leaves the old
index whole. The loader refuses anything inconsistent with a ConfigError before a compiled
loop could read out of bounds.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from node.errors import ConfigError
from node.match.segment import CHUNK_WIDTHS, Segment

FORMAT = "accord-pdq-index"
VERSION = 1
MANIFEST = "manifest.json"
_HASH_BLOCK = 1 << 24


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything saved: segments with their liveness, the tail, and the odd ids' table."""

    segments: list[tuple[Segment, npt.NDArray[np.uint8]]]
    tail_words: npt.NDArray[np.uint64]
    tail_alive: npt.NDArray[np.uint8]
    tail_ids: list[str]
    other_ids: list[str]
    meta: dict[str, str | int] = field(default_factory=dict)


def save(directory: Path, snapshot: Snapshot) -> None:
    """Write ``snapshot`` as a new generation in ``directory``, then drop the old one."""
    directory.mkdir(parents=True, exist_ok=True)
    generation = secrets.token_hex(8)
    files: dict[str, dict[str, Any]] = {}

    def put(name: str, array: npt.NDArray[Any]) -> str:
        path = directory / f"{generation}-{name}.npy"
        np.save(path, array, allow_pickle=False)
        files[path.name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        return path.name

    segments = [
        _put_segment(put, f"s{n}", segment, alive) for n, (segment, alive) in enumerate(snapshot.segments)
    ]
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "generation": generation,
        "chunk_widths": list(CHUNK_WIDTHS),
        "segments": segments,
        "tail": {
            "rows": len(snapshot.tail_ids),
            "words": put("tail-words", snapshot.tail_words),
            "alive": put("tail-alive", snapshot.tail_alive),
            "ids": put("tail-ids", np.array(snapshot.tail_ids, dtype=str)),
        },
        "other_ids": put("other-ids", np.array(snapshot.other_ids, dtype=str)),
        "meta": snapshot.meta,
        "files": files,
    }
    _replace_manifest(directory, manifest)
    for stale in directory.glob("*.npy"):
        if stale.name not in files:
            stale.unlink(missing_ok=True)


def _put_segment(put: Any, name: str, segment: Segment, alive: npt.NDArray[np.uint8]) -> dict[str, Any]:
    return {
        "rows": len(segment),
        "prefix_bits": segment.prefix_bits,
        "words": put(f"{name}-words", segment.words),
        "keys": put(f"{name}-keys", segment.keys),
        "alive": put(f"{name}-alive", alive),
        "offsets": put(f"{name}-offsets", segment.offsets),
        "entries": put(f"{name}-entries", segment.entries),
    }


def _replace_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    temporary = directory / f".{MANIFEST}.tmp"
    with temporary.open("w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, directory / MANIFEST)


def load(directory: Path) -> Snapshot:
    """Read back what ``save`` wrote; raises ConfigError for anything else."""
    manifest = _read_manifest(directory)
    _check_files(directory, manifest["files"])
    try:
        segments = [_load_segment(directory, s) for s in manifest["segments"]]
        tail = manifest["tail"]
        rows = _int(tail["rows"], "tail rows")
        tail_words = _array(directory, tail["words"], np.uint64, (rows, 4))
        tail_alive = _array(directory, tail["alive"], np.uint8, (rows,))
        tail_ids = _strings(directory, tail["ids"], rows)
        other_ids = _strings(directory, manifest["other_ids"], None)
        meta = manifest.get("meta", {})
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"PDQ index manifest in {directory} lacks a field: {exc}") from exc
    return Snapshot(segments, tail_words, tail_alive, tail_ids, other_ids, dict(meta))


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the PDQ index manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a PDQ index manifest")
    if manifest.get("version") != VERSION:
        raise ConfigError(f"{path} has format version {manifest.get('version')!r}; this node reads {VERSION}")
    if manifest.get("chunk_widths") != list(CHUNK_WIDTHS):
        raise ConfigError(f"{path} was built with other chunks: rebuild the index from the store")
    if not isinstance(manifest.get("files"), dict):
        raise ConfigError(f"{path} lists no files")
    return manifest


def _check_files(directory: Path, files: dict[str, Any]) -> None:
    """Every listed file exists with its recorded size and SHA-256 (a torn or mixed save fails)."""
    for name, expected in files.items():
        path = directory / name
        if Path(name).name != name or not path.is_file():
            raise ConfigError(f"PDQ index file {name} is missing from {directory}")
        if path.stat().st_size != expected.get("bytes") or _sha256(path) != expected.get("sha256"):
            raise ConfigError(f"PDQ index file {path} does not match its manifest (size or checksum)")


def _load_segment(directory: Path, entry: dict[str, Any]) -> tuple[Segment, npt.NDArray[np.uint8]]:
    rows = _int(entry["rows"], "segment rows")
    prefix = _int(entry["prefix_bits"], "prefix bits")
    if not 1 <= prefix <= min(CHUNK_WIDTHS):
        raise ConfigError(f"PDQ index segment has {prefix} prefix bits")
    chunks = len(CHUNK_WIDTHS)
    segment = Segment(
        words=_array(directory, entry["words"], np.uint64, (rows, 4), mapped=True),
        keys=_array(directory, entry["keys"], np.uint64, (rows, 2), mapped=True),
        alive=_array(directory, entry["alive"], np.uint8, (rows,)),
        prefix_bits=prefix,
        offsets=_array(directory, entry["offsets"], np.int32, (chunks, (1 << prefix) + 1)),
        entries=_array(directory, entry["entries"], np.uint32, (chunks, rows), mapped=True),
    )
    _check_tables(segment)
    return segment, segment.alive


def _check_tables(segment: Segment) -> None:
    """Offsets rise from 0 to n and every entry names a row below n: no read out of bounds."""
    offsets, rows = segment.offsets, len(segment)
    if np.any(offsets[:, 0] != 0) or np.any(offsets[:, -1] != rows) or np.any(np.diff(offsets, axis=1) < 0):
        raise ConfigError("PDQ index offsets are inconsistent with the segment's rows")
    for c, width in enumerate(CHUNK_WIDTHS):
        if rows and int(segment.entries[c].max()) >> (width - segment.prefix_bits) >= rows:
            raise ConfigError("PDQ index entries name rows beyond the segment")


def _array(
    directory: Path, name: str, dtype: type[np.generic], shape: tuple[int, ...], *, mapped: bool = False
) -> npt.NDArray[Any]:
    """A saved array of exactly ``dtype`` and ``shape``; ``mapped`` ones are paged in lazily."""
    try:
        # Copy-on-write mapping: shared with the page cache, and typed like any writable array.
        array = np.load(directory / name, mmap_mode="c" if mapped else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read PDQ index file {name}: {exc}") from exc
    if array.dtype != np.dtype(dtype) or array.shape != shape:
        raise ConfigError(
            f"PDQ index file {name} holds {array.dtype}{array.shape}, expected {np.dtype(dtype)}{shape}"
        )
    return np.asarray(array)


def _strings(directory: Path, name: str, rows: int | None) -> list[str]:
    try:
        array = np.load(directory / name, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read PDQ index file {name}: {exc}") from exc
    if array.dtype.kind != "U" or array.ndim != 1 or (rows is not None and len(array) != rows):
        raise ConfigError(f"PDQ index file {name} does not hold the expected ids")
    return [str(s) for s in array.tolist()]


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"PDQ index manifest has an invalid {what}: {value!r}")
    return value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
