"""Saved match indexes: how ``accord serve`` restarts in seconds instead of rebuilding.

The server writes its PDQ and video indexes under ``<home>/index`` with the store change
cursor they reflect, periodically and on a clean shutdown. On start it loads them, checks they
are its own and not ahead of its database, and applies only the changes committed after the
cursor (revocations made while it was down included). Anything unusable (missing, torn,
corrupt, another node's, a database restored from backup) means a rebuild from the store,
with a warning. Only files this node wrote are read, as numpy data and JSON (never pickle).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from node.errors import ConfigError
from node.match import PdqIndex, VideoIndex, persist
from node.match.lists import MatchLists
from node.store import Store
from node.sync.refresh import ListRefresher

log = logging.getLogger(__name__)

INDEX_DIR = "index"
_PDQ, _VIDEO = "pdq", "video"


@dataclass(frozen=True, slots=True)
class SavedCursor:
    """Where saved indexes stand in the change stream, and whose they are."""

    cursor: int
    key_id: str
    exact_listed: bool

    def meta(self) -> dict[str, str | int]:
        """As written into both manifests."""
        return {"cursor": self.cursor, "key_id": self.key_id, "exact_listed": int(self.exact_listed)}

    @classmethod
    def from_meta(cls, meta: dict[str, str | int]) -> SavedCursor:
        """Read back ``meta``; ConfigError when a field is missing or of the wrong type."""
        cursor, key_id, exact = meta.get("cursor"), meta.get("key_id"), meta.get("exact_listed")
        if type(cursor) is not int or cursor < 0 or not isinstance(key_id, str) or exact not in (0, 1):
            raise ConfigError("the saved index's manifest has no valid cursor")
        return cls(cursor=cursor, key_id=key_id, exact_listed=exact == 1)


def save_indexes(
    root: Path, *, lists: MatchLists, refresher: ListRefresher, key_id: str, unless_at: int | None = None
) -> int | None:
    """Save both indexes as of one cursor; returns the cursor, or None when it is ``unless_at``
    (nothing changed since that save). The copy is taken with no refresh running, so it
    reflects exactly that cursor; the files are written after, without blocking refreshes."""

    def take(cursor: int) -> tuple[SavedCursor, persist.Snapshot, persist.Snapshot] | None:
        if cursor == unless_at:
            return None
        exact = any(n for kind, n in lists.sizes().items() if kind not in (_PDQ, "vpdq"))
        saved = SavedCursor(cursor=cursor, key_id=key_id, exact_listed=exact)
        return saved, lists.pdq.snapshot(meta=saved.meta()), lists.video.snapshot(meta=saved.meta())

    taken = refresher.at_cursor(take)
    if taken is None:
        return None
    saved, pdq, video = taken
    directory = root / INDEX_DIR
    persist.save(directory / _VIDEO, video)
    persist.save(directory / _PDQ, pdq)
    log.info(
        "match indexes saved at change %d (%d pdq, %d video)", saved.cursor, len(lists.pdq), len(lists.video)
    )
    return saved.cursor


def resume_from_saved(
    root: Path, *, lists: MatchLists, refresher: ListRefresher, store: Store, key_id: str
) -> int | None:
    """Adopt the saved indexes and catch up from their cursor; returns that cursor. None
    (lists untouched) when there are none or they cannot be used: the caller rebuilds."""
    directory = root / INDEX_DIR
    if not (directory / _PDQ / persist.MANIFEST).exists():
        log.info("no saved match index in %s: building from the store", directory)
        return None
    try:
        pdq, video, saved = _load(directory, store=store, key_id=key_id)
    except ConfigError as exc:
        log.warning("saved match index unusable, rebuilding from the store: %s", exc)
        return None
    lists.adopt(pdq=pdq, video=video)
    applied = refresher.resume(cursor=saved.cursor, exact_listed=saved.exact_listed)
    log.info("match indexes loaded at change %d; %d later changes applied", saved.cursor, applied)
    return saved.cursor


def _load(directory: Path, *, store: Store, key_id: str) -> tuple[PdqIndex, VideoIndex, SavedCursor]:
    try:
        pdq = PdqIndex.load(directory / _PDQ)
        video, video_meta = VideoIndex.load(directory / _VIDEO)
    except (OSError, ValueError) as exc:  # numpy's own errors on a damaged file
        raise ConfigError(f"cannot read the saved index: {exc}") from exc
    saved = SavedCursor.from_meta(pdq.loaded_meta)
    if SavedCursor.from_meta(video_meta) != saved:
        raise ConfigError("the saved PDQ and video indexes are from different saves")
    if saved.key_id != key_id:
        raise ConfigError("the saved index belongs to another node identity")
    last = store.last_change_id()
    if saved.cursor > last:
        raise ConfigError(f"the saved index is ahead of the database (change {saved.cursor} > {last})")
    return pdq, video, saved
