"""Media files uploaded to the HTTP API, held as files for as long as a use case reads them.

``accord contribute FILE`` hashes files on disk (content sniffing, C2PA manifests, model weights
by name). An upload to ``POST /v1/indicators`` takes the same path: each file is written to a
private directory inside the node's home (mode 0700, files 0600: the media may be abuse
material, so never a shared temporary directory), read, and removed when the call ends, also
when it fails. Reports name each file by its part and the name the client gave, never by the
path it was held at.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from node.app.contribute import NOT_MEDIA, Refusal
from node.app.contributing import ContributeReport

_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,12}")  # kept: model weights files are known by theirs
_SHOWN_NAME_CHARS = 120
_PREFIX = ".uploads-"
NOT_MEDIA_UPLOAD = (
    "not an image or video, nor a model weights file (judged by its content): send"
    ' "any_file": true in the options part to share this file\'s own md5 and sha256'
)


class UploadLike(Protocol):
    """One uploaded file (node.http.uploads.Upload)."""

    @property
    def filename(self) -> str: ...
    @property
    def data(self) -> bytes: ...


@contextmanager
def held_uploads(home: Path, uploads: Sequence[UploadLike]) -> Iterator[dict[Path, str]]:
    """Each upload as a file under ``home``; yields {path: how a report names it}. No upload
    (a contribution of signals only): no directory is made."""
    if not uploads:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix=_PREFIX, dir=home) as directory:
        labels: dict[Path, str] = {}
        for position, upload in enumerate(uploads):
            suffix = Path(upload.filename).suffix
            path = Path(directory) / f"{position:04d}{suffix if _SUFFIX.fullmatch(suffix) else ''}"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(upload.data)
            labels[path] = upload_label(position, upload.filename)
        yield labels


def remove_stale_uploads(home: Path) -> int:
    """Delete upload directories a process killed mid-call left in ``home``; how many files
    they held. Call before serving: a serving node's own calls are not running yet."""
    removed = 0
    for directory in home.glob(f"{_PREFIX}*"):
        if directory.is_dir() and not directory.is_symlink():
            removed += sum(1 for p in directory.iterdir() if p.is_file())
            shutil.rmtree(directory, ignore_errors=True)
    return removed


def upload_label(position: int, filename: str) -> str:
    """``files[N]``, with the client's file name when it gave one (shown, never trusted)."""
    shown = "".join(c if c.isprintable() else "?" for c in filename)[:_SHOWN_NAME_CHARS]
    return f"files[{position}] ({shown})" if shown else f"files[{position}]"


def named_by_upload(report: ContributeReport, labels: dict[Path, str]) -> ContributeReport:
    """``report`` with each held file's path, wherever it appears, replaced by its upload's label."""

    def named(text: str) -> str:
        for path, label in labels.items():
            text = text.replace(str(path), label)
        return text

    def refusal(item: Refusal) -> Refusal:
        reason = NOT_MEDIA_UPLOAD if item.reason == NOT_MEDIA else named(item.reason)
        return replace(item, source=named(item.source), reason=reason)

    return replace(
        report,
        refused=tuple(refusal(r) for r in report.refused),
        forced=tuple(refusal(r) for r in report.forced),
        credentials=tuple((named(path), found) for path, found in report.credentials),
        c2pa_note=None if report.c2pa_note is None else named(report.c2pa_note),
    )
