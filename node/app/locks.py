"""Cross-process locks in the home directory.

``accord serve``'s scheduled pull and an ``accord sync`` typed by an operator may target the
same partner at once. Ingest would stay correct (one transaction per entry, duplicates
refused), but the second pull would fetch everything again and count it as replayed. A
per-partner ``flock`` makes the second one step aside and say so; the kernel releases it if
the holder dies, so a crash never leaves a stale lock. ``accord serve`` holds a lock on its
home the same way, so ``accord restore`` can tell that a node is running on it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def partner_lock(root: Path, partner: str) -> Iterator[bool]:
    """Hold the pull lock of ``partner``; yields False (without waiting) when another holds it."""
    with _held(root, f"pull-{partner}.lock") as held:
        yield held


@contextmanager
def serve_lock(root: Path) -> Iterator[bool]:
    """Held by ``accord serve`` for its lifetime and by ``accord restore`` while it replaces the
    database; yields False (without waiting) when another process holds it."""
    with _held(root, "serve.lock") as held:
        yield held


@contextmanager
def _held(root: Path, name: str) -> Iterator[bool]:
    directory = root / "locks"
    directory.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(directory / name, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
