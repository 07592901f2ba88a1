"""Status: what an operator needs at a glance — identity, partners and their last pull, counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from node.match import Warninglists
from node.model import KeyId, Partner
from node.model.clock import utc_now
from node.store import CountRow, Store, SyncRecord
from node.store.analyst import active_exact_signals
from node.sync.heads import stale_origins

_MISSING_SCAN = 100_000  # missing bodies counted for status (a bound, not a real number)


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
    stale: dict[KeyId, str] = field(default_factory=dict)  # origin -> when its newest head was signed
    bodies_missing: int = 0  # headers held without their body (fetched from any peer that has it)
    bodies_missing_long: int = 0  # of those, missing for the alert number of rounds or more
    # Held indicators a MISP warninglist names as known benign (stored, never matched): list → count.
    warninglisted: dict[str, int] = field(default_factory=dict)


def node_status(
    store: Store,
    *,
    name: str,
    key_id: KeyId,
    now: datetime | None = None,
    max_head_age: timedelta = timedelta(hours=3),
    alert_rounds: int = 3,
    warninglists: Callable[[], Warninglists] | None = None,
) -> NodeStatus:
    """Read the status from the store (works whether or not ``accord serve`` is running)."""
    missing = store.missing_bodies(limit=_MISSING_SCAN)
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
        stale=stale_origins(store, now=now or utc_now(), max_age=max_head_age),
        bodies_missing=len(missing),
        bodies_missing_long=sum(1 for *_, rounds in missing if rounds >= alert_rounds),
        warninglisted={} if warninglists is None else warninglisted_counts(store, warninglists),
    )


def warninglisted_counts(store: Store, warninglists: Callable[[], Warninglists]) -> dict[str, int]:
    """How many active indicators each warninglist names (they are held but never matched).

    Reads every active exact value once (the lists are read only when there is one).
    """
    counts: Counter[str] = Counter()
    by_type: dict[str, dict[str, str]] | None = None
    for _id, signal_type, value in active_exact_signals(store):
        if by_type is None:
            by_type = {t.value: values for t, values in warninglists().by_type.items()}
        name = by_type.get(signal_type, {}).get(value)
        if name is not None:
            counts[name] += 1
    return dict(sorted(counts.items()))
