"""Directories of media → the files to hash, for bulk contribution and data-set scans.

Walked recursively in a stable (sorted) order, so a scan that resumes after N files skips
exactly the N it already did. Symbolic links are not followed: a link out of the directory
would hash files the operator never pointed at, and a link loop would never end. Hidden files
and directories (``.name``) are left out, as are files that are not regular files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from node.hashing.video import looks_like_video
from node.model import ContentType


def media_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Each path that is a file, and every regular file under each path that is a directory."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            yield from _walk(path)
        else:
            yield path  # hashing names a missing or unreadable file in its own error


def _walk(root: Path) -> Iterator[Path]:
    with os.scandir(root) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path)


def sniff_content_type(path: Path, detected: ContentType) -> ContentType:
    """``detected`` (image when it has a PDQ hash, video when it has vPDQ frames), or video
    when the container says so although no frame could be hashed (it is then shared by its md5
    and sha256 only)."""
    if detected is not ContentType.FILE:
        return detected
    try:
        with open(path, "rb") as stream:
            head = stream.read(64)
    except OSError:
        return detected
    return ContentType.VIDEO if looks_like_video(head) else detected
