"""Serve: which held entries a partner may receive (DESIGN §5), in feed order.

TLP is enforced here, at egress, for our own entries and for those we relay. A caller asking
for what it may not see gets the same answer as for something we do not hold: nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from node.model import Distribution, KeyId, Seq
from node.model.access import may_serve
from node.store import Store, StoredEntry

_READ_BATCH = 256  # entries read per query while streaming one origin


def entries_for(
    store: Store, *, caller: KeyId, server: KeyId, cursors: Mapping[KeyId, Seq]
) -> Iterator[StoredEntry]:
    """Entries after each cursor that ``caller`` may receive from ``server``, in seq order.

    A withheld entry ends that origin's stream: serving later entries would hand the caller a
    gap it can never fill from us, so it stops and may fetch the rest from another peer.
    A quarantined origin (it equivocated) is served to no one: we vouch for none of it.
    """
    quarantined = store.quarantined_origins()
    for origin, after in cursors.items():
        if origin in quarantined:
            continue
        yield from _origin_entries(store, caller=caller, server=server, origin=origin, after=after)


def _origin_entries(
    store: Store, *, caller: KeyId, server: KeyId, origin: KeyId, after: Seq
) -> Iterator[StoredEntry]:
    cursor = after
    while batch := store.entries_after(origin, cursor, limit=_READ_BATCH):
        for entry in batch:
            distribution = Distribution(tlp=entry.tlp, recipients=entry.recipients)
            if not may_serve(distribution, origin=origin, server=server, caller=caller):
                return
            yield entry
        cursor = batch[-1].seq
