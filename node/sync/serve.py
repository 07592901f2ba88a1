"""Serve: the held entries a partner receives (DESIGN §5), in feed order.

Every authenticated, pinned partner receives every header we hold, so it can verify each
origin's whole chain: a restricted entry never ends what we serve of a feed. TLP is enforced by
what a body is: CLEAR and GREEN bodies travel in the clear, restricted bodies only ever as the
ciphertext the origin sealed to its recipients (we store nothing else to serve), so a
non-recipient learns that the entry exists, its TLP, time and size class, and nothing more.
A quarantined origin's entries are served to no one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from node.model import KeyId, Seq
from node.store import Store, StoredEntry

_READ_BATCH = 256  # entries read per query while streaming one origin
MAX_BODIES_PER_CALL = 4096  # (origin, seq) pairs one Bodies call may name


def entries_for(store: Store, *, cursors: Mapping[KeyId, Seq]) -> Iterator[StoredEntry]:
    """Entries after each cursor, with their bodies as held, in seq order per origin."""
    quarantined = store.quarantined_origins()
    for origin, after in cursors.items():
        if origin in quarantined:
            continue
        cursor = after
        while batch := store.entries_after(origin, cursor, limit=_READ_BATCH):
            yield from batch
            cursor = batch[-1].seq


def bodies_for(store: Store, wanted: Sequence[tuple[KeyId, Seq]]) -> Iterator[StoredEntry]:
    """The entries of ``wanted`` whose body we hold (sealed ones as ciphertext)."""
    quarantined = store.quarantined_origins()
    for origin, seq in wanted:
        if origin in quarantined:
            continue
        entry = store.entry_at(origin, seq)
        if entry is not None and entry.body is not None:
            yield entry
