"""Status: what an operator needs at a glance — identity, partners and their last pull, counts."""

from __future__ import annotations

from dataclasses import dataclass

from node.model import KeyId, Partner
from node.store import CountRow, Store, SyncRecord


@dataclass(frozen=True, slots=True)
class PartnerStatus:
    """A pinned partner with its feed head as we hold it and its last pull."""

    partner: Partner
    head_seq: int
    sync: SyncRecord | None


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """Everything ``accord status`` shows."""

    name: str
    key_id: KeyId
    own_head_seq: int
    partners: tuple[PartnerStatus, ...]
    counts: tuple[CountRow, ...]
    rejections: dict[str, int]
    evidence: int
    quarantined: tuple[KeyId, ...] = ()


def node_status(store: Store, *, name: str, key_id: KeyId) -> NodeStatus:
    """Read the status from the store (works whether or not ``accord serve`` is running)."""
    heads = store.heads()
    syncs = store.sync_records()
    partners = tuple(
        PartnerStatus(
            partner=p, head_seq=heads[p.key_id].seq if p.key_id in heads else 0, sync=syncs.get(p.name)
        )
        for p in store.partners()
    )
    return NodeStatus(
        name=name,
        key_id=key_id,
        own_head_seq=heads[key_id].seq if key_id in heads else 0,
        partners=partners,
        counts=tuple(store.counts()),
        rejections=store.rejection_counts(),
        evidence=store.evidence_count(),
        quarantined=tuple(sorted(store.quarantined_origins())),
    )
