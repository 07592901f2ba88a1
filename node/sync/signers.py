"""Which keys may sign for which pinned origin, for statements made outside the feed itself.

An origin's first key is the key partners pinned (its key id is the origin's identity); after
a rotation entry another key signs for it. Heads and encryption-key statements name the origin
but may be signed by a rotated key, so verifying them needs both maps built here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from node.model import KeyId
from node.store import Store


@dataclass(frozen=True, slots=True)
class Signers:
    """Public keys by key id (first and rotated keys), and the origin of each rotated key."""

    keys: dict[KeyId, bytes]
    origin_of: dict[KeyId, KeyId]

    def current(self, store: Store, origin: KeyId) -> KeyId:
        """The key id that signs ``origin``'s feed now: its latest rotated key, else its own."""
        rotated = [k for k in store.signing_keys().values() if k.origin == origin]
        return max(rotated, key=lambda k: k.from_seq).key_id if rotated else origin


def signers_of(store: Store, pinned: Mapping[KeyId, bytes]) -> Signers:
    """The keys that may sign for the origins in ``pinned`` (which maps an origin to its newest
    key; its own first key comes from the partner record when the two differ)."""
    first = {p.key_id: p.public_key for p in store.partners()}
    keys = {origin: first.get(origin, key) for origin, key in pinned.items()}
    rotated = {k: v for k, v in store.signing_keys().items() if v.origin in pinned}
    keys.update({k: v.public_key for k, v in rotated.items()})
    return Signers(keys=keys, origin_of={k: v.origin for k, v in rotated.items()})
