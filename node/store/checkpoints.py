"""Checkpoints off the writing thread while a first sync loads.

A WAL database copies what its log holds into the database file at a checkpoint; by default
the connection whose commit crosses ``wal_autocheckpoint`` does it, inside that commit. A
first sync of 1M indicators writes ~1.3 GB (bodies and rows), the database file grows by as
much, and each of the five checkpoints of 256 MiB it met took 0.5-1.1 s of the pulling
thread's commit: ~4 s of a ~20 s pull, during which nothing else was committed and the
helper preparing the next entry soon waited too. While a first sync defers the indexes
(node/store/bulk.py), :class:`Checkpointer` does that work on its own thread and connection
instead: SQLite lets a checkpoint run beside a writer (``PASSIVE`` copies the frames already
committed and never waits for the writer or a reader), and the copying and the file's growth
are I/O and C code that hold no GIL. Durability is unchanged: every commit still syncs the WAL
(``synchronous = FULL``) before it returns; a checkpoint only moves committed pages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Final

from node.store.commits import CommitWatch

log = logging.getLogger(__name__)

BULK_CHECKPOINT_PAGES: Final = 16_384
"""Frames (pages) waiting in the WAL that start a checkpoint during a first sync: 64 MiB with
4 KiB pages. Only the rows' append-only B-tree and the bodies are written then (the indexes are
deferred), so a page is seldom written twice and copying often costs nothing extra; a WAL that
stays small is rewritten in place once a checkpoint caught up (SQLite restarts it), which is
faster on ext4 than appending to a growing file."""
POLL_SECONDS: Final = 0.1


class Checkpointer:
    """A thread that checkpoints ``database`` whenever :data:`BULK_CHECKPOINT_PAGES` committed
    frames are waiting in its WAL, until :meth:`stop`. The writer's own automatic checkpoints
    are the caller's to turn off while this runs (and back on after)."""

    def __init__(
        self, database: Path, *, watch: CommitWatch | None = None, pages: int = BULK_CHECKPOINT_PAGES
    ) -> None:
        """``watch``: the store's commit watch, read and left open (a watch of its own is
        opened, and closed at :meth:`stop`, only without one)."""
        self._database = database
        self._pages = pages
        self._own_watch = watch is None
        self._watch = watch if watch is not None else CommitWatch(database)
        self._stopping = threading.Event()
        self.checkpoints = 0  # how many ran (each copied at least one frame)
        self._thread = threading.Thread(target=self._run, name="accord-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint under way, if any; the WAL may still hold frames."""
        self._stopping.set()
        self._thread.join()
        if self._own_watch:
            self._watch.close()

    def _run(self) -> None:
        conn = sqlite3.connect(str(self._database), check_same_thread=False)
        try:
            conn.execute("PRAGMA synchronous = FULL")  # the WAL is synced before the file is written
            while not self._stopping.wait(POLL_SECONDS):
                backlog = self._watch.backlog()
                if backlog is None or backlog < self._pages:
                    continue
                try:
                    busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # a checkpoint under way elsewhere, a full disk: look again
                    log.debug("background checkpoint failed: %s", exc)
                    continue
                if copied > 0:
                    self.checkpoints += 1
                log.debug("checkpoint: %d of %d frames copied (busy=%d)", copied, logged, busy)
        except Exception:
            log.exception("the background checkpoint thread failed; later checkpoints copy the WAL")
        finally:
            conn.close()
