"""The operator's trust decisions about partners: acceptance policy and key compromise (DESIGN §3).

Both are local settings, applied by the Matcher on every query (so a change takes effect on
the next match, with no rebuild) and, for a compromise, by ingest, which refuses every entry
the key signs from the marked position on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from node.errors import InvalidInput, NotFound
from node.model import Compromise, KeyId, Partner, PartnerPolicy, Seq, SignalType, Trust, parse_category
from node.model.clock import Clock
from node.store import Store

log = logging.getLogger(__name__)


def _pinned(store: Store, name: str) -> Partner:
    partner = store.partner(name)
    if partner is None:
        raise NotFound(f"no partner named {name!r} (see 'accord partner list')")
    return partner


def set_policy(
    store: Store,
    name: str,
    *,
    categories: Sequence[str] | None = None,
    signal_types: Sequence[str] | None = None,
    trust: str | None = None,
    share_sightings: bool | None = None,
) -> PartnerPolicy:
    """Change the given parts of ``name``'s policy (``"all"`` accepts every category / type)."""
    partner = _pinned(store, name)
    policy = store.partner_policies().get(partner.key_id, PartnerPolicy())
    if categories is not None:
        policy = replace(policy, categories=_categories(categories))
    if signal_types is not None:
        policy = replace(policy, signal_types=_signal_types(signal_types))
    if trust is not None:
        policy = replace(policy, trust=Trust.parse(trust))
    if share_sightings is not None:
        policy = replace(policy, share_sightings=share_sightings)
    with store.write() as tx:
        tx.set_partner_policy(partner.key_id, policy)
    log.info("policy of partner %s set: trust=%s", name, policy.trust.value)
    return policy


def policy_of(store: Store, name: str) -> PartnerPolicy:
    """``name``'s policy (the default accepts everything, trust auto)."""
    return store.partner_policies().get(_pinned(store, name).key_id, PartnerPolicy())


def _items(texts: Sequence[str]) -> list[str] | None:
    items = [item.strip() for text in texts for item in text.split(",") if item.strip()]
    if not items:
        raise InvalidInput("name at least one item, or 'all'")
    return None if items == ["all"] else items


def _categories(texts: Sequence[str]) -> frozenset[str] | None:
    items = _items(texts)
    return None if items is None else frozenset(parse_category(c) for c in items)


def _signal_types(texts: Sequence[str]) -> frozenset[SignalType] | None:
    items = _items(texts)
    return None if items is None else frozenset(SignalType.parse(t) for t in items)


def mark_compromised(store: Store, name: str, *, from_seq: int, clock: Clock) -> Compromise:
    """Mark ``name``'s key compromised from ``from_seq``: later entries are refused and the
    signals of entries at or after it stop matching. Only :func:`clear_compromise` undoes it."""
    partner = _pinned(store, name)
    compromise = Compromise(key_id=partner.key_id, from_seq=Seq(from_seq), marked_at=clock())
    with store.write() as tx:
        tx.mark_compromised(compromise)
    log.warning("partner %s key %s marked compromised from seq %d", name, partner.key_id[:12], from_seq)
    return compromise


def clear_compromise(store: Store, name: str) -> None:
    """Lift the compromise mark on ``name``'s key (an explicit operator decision)."""
    partner = _pinned(store, name)
    with store.write() as tx:
        cleared = tx.clear_compromise(partner.key_id)
    if not cleared:
        raise NotFound(f"partner {name!r} is not marked compromised")
    log.warning("compromise mark on partner %s key %s cleared by the operator", name, partner.key_id[:12])


def compromised_partners(store: Store) -> dict[str, Compromise]:
    """Compromise marks by partner name (keys no longer pinned are shown by key id prefix)."""
    names: dict[KeyId, str] = {p.key_id: p.name for p in store.partners()}
    return {names.get(k, k[:12]): c for k, c in store.compromises().items()}
