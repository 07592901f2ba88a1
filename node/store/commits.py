"""Whether anything was committed to the database since a look, without entering SQLite."""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

WAL_INDEX_HEADER_BYTES = 48
"""The first copy of the WAL-index header at the start of a WAL database's ``-shm`` file
(https://sqlite.org/walformat.html): format version, a counter every write transaction
increments, the last valid frame, the database size, checksums and salts."""


_LAST_FRAME_OFFSET = 16  # mxFrame: the last valid frame of the WAL, in the header
_BACKFILL_OFFSET = 2 * WAL_INDEX_HEADER_BYTES  # nBackfill: the checkpoint-info after the header's two copies


class _SharedDescriptors:
    """One read-only descriptor per ``-shm`` file per process, shared by every
    :class:`CommitWatch` on it and closed when the last of them closes.

    Why not one per watch: POSIX record locks belong to the process, and closing *any*
    descriptor of a file releases all of the process's locks on it. SQLite's connections hold
    such a lock on the ``-shm`` file (the byte that tells other processes the WAL-index is in
    use). A watch that closed its own descriptor while this process's connections stayed open
    (the first-sync checkpoint thread's did, when the load ended) dropped that lock: the next
    process to open the database found nobody using it, truncated and rebuilt the ``-shm``,
    and this process's next commit wrote through its mapping past the end of the file and died
    of SIGBUS (CI of 2026-12-07, a topology test's hub and recipient). SQLite keeps its own
    descriptors the same way (one per file per process, closed last). A file replaced under the
    same name (a restore) is another inode and gets its own descriptor."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[int, int], list[int]] = {}  # (device, inode) -> [fd, users]
        self._spare: list[int] = []  # descriptors never to close (see acquire)

    def acquire(self, path: Path) -> tuple[tuple[int, int], int] | None:
        """A descriptor of ``path`` (shared if this process has one open), or None."""
        with self._lock:
            try:
                found = os.stat(path)
            except OSError:
                return None
            key = (found.st_dev, found.st_ino)
            held = self._open.get(key)
            if held is None:
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    return None
                opened = os.fstat(fd)
                if (opened.st_dev, opened.st_ino) != key:  # replaced between stat and open
                    key = (opened.st_dev, opened.st_ino)
                    held = self._open.get(key)
                    if held is not None:
                        # This process has the new file open already; closing this second
                        # descriptor would release its locks, so it is kept, unused.
                        self._spare.append(fd)
                if held is None:
                    held = self._open[key] = [fd, 0]
            held[1] += 1
            return key, held[0]

    def release(self, key: tuple[int, int]) -> None:
        """One user fewer; the last one closes the descriptor."""
        with self._lock:
            held = self._open.get(key)
            if held is None:
                return
            held[1] -= 1
            if held[1] <= 0:
                del self._open[key]
                os.close(held[0])


_DESCRIPTORS = _SharedDescriptors()


class CommitWatch:
    """Whether anything may have been committed to a WAL database since a given look.

    :meth:`look` returns the WAL-index header SQLite keeps in the ``-shm`` file beside the
    database, read with one ``pread`` (about a microsecond, no SQLite call): every commit, by
    any connection of any process, changes it before the commit returns (SQLite's own
    ``PRAGMA data_version`` compares the same header). Two equal looks mean no commit came
    between them; unequal looks (a commit, a checkpoint, a read torn by a concurrent writer)
    only mean "read the store again". Without a readable ``-shm`` file (not WAL mode, not yet
    created) :meth:`look` returns None, meaning "maybe changed", every time.

    Every watch of this process on one file reads through one shared descriptor
    (:class:`_SharedDescriptors`): closing a watch never releases SQLite's locks on the file.
    """

    def __init__(self, database: Path) -> None:
        self._path = Path(f"{database}-shm")
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._key: tuple[int, int] | None = None
        self._closed = False

    def look(self) -> bytes | None:
        """The header now, or None when it cannot be read (treat as changed)."""
        fd = self._fd if self._fd is not None else self._open()
        if fd is None:
            return None
        try:
            header = os.pread(fd, WAL_INDEX_HEADER_BYTES, 0)
        except OSError:
            return None
        # A header SQLite has not initialised yet (isInit, byte 12, is 0) proves nothing.
        if len(header) < WAL_INDEX_HEADER_BYTES or not header[12]:
            return None
        return header

    def backlog(self) -> int | None:
        """Frames committed to the WAL and not yet copied into the database file by a
        checkpoint (the header's ``mxFrame`` less the checkpoint's ``nBackfill``, both in the
        host's byte order); None when the file cannot be read."""
        header = self.look()
        fd = self._fd
        if header is None or fd is None:
            return None
        try:
            info = os.pread(fd, 4, _BACKFILL_OFFSET)
        except OSError:
            return None
        if len(info) < 4:
            return None
        last_frame: int = struct.unpack_from("=I", header, _LAST_FRAME_OFFSET)[0]
        backfilled: int = struct.unpack("=I", info)[0]
        return max(0, last_frame - backfilled)

    def close(self) -> None:
        """Stop watching (later looks return None); the shared descriptor closes with the last
        watch of this process on the file."""
        with self._lock:
            self._closed = True
            key, self._key, self._fd = self._key, None, None
        if key is not None:
            _DESCRIPTORS.release(key)

    def _open(self) -> int | None:
        with self._lock:
            if self._fd is None and not self._closed:
                shared = _DESCRIPTORS.acquire(self._path)
                if shared is not None:
                    self._key, self._fd = shared
            return self._fd


K = TypeVar("K")
V = TypeVar("V")


class UntilCommit(Generic[K, V]):
    """Answers read from the database, remembered until anyone commits anything to it.

    Each :meth:`get` looks at the commit watch first: a different look forgets every answer,
    so what is returned is never older than the last commit (the read happens after the look,
    and a commit after the read changes the next look). Without a readable look nothing is
    remembered. At most ``max_entries`` answers are kept.
    """

    def __init__(self, watch: CommitWatch, *, max_entries: int = 1024) -> None:
        self._watch = watch
        self._max = max_entries
        self._lock = threading.Lock()
        self._look: bytes | None = None
        self._answers: dict[K, V] = {}

    def get(self, key: K, read: Callable[[], V]) -> V:
        """The answer for ``key``: remembered if nobody committed since it was read, else
        ``read()`` (remembered unless it is None)."""
        look = self._watch.look()
        if look is None:
            return read()
        with self._lock:
            if look != self._look:
                self._answers, self._look = {}, look
            elif key in self._answers:
                return self._answers[key]
        answer = read()
        with self._lock:
            if answer is not None and self._look == look and len(self._answers) < self._max:
                self._answers[key] = answer
        return answer
