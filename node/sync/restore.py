"""Restore never forks: when a node restored from a backup may publish again (DESIGN §4).

A restored node may be behind its own feed: entries it published after the backup live on at
partners. Publishing from the restored head would sign a different entry at a seq a partner
already holds: equivocation, after which that partner quarantines the node and none of its
indicators match there any more. So a restored node publishes again only when both hold:

- a quorum of its partners with an endpoint (``sync.restore_quorum``, a majority by default)
  have shown it their heads since the restore. Each pull of a restored node asks for its own
  entries after its local head, and the Heads call before it shows, signed with the node's
  own key, how far that partner holds its feed;
- no head of its own feed shown by any partner is beyond what it holds. Such a head is signed
  with its own key: proof of entries it published and lost. They must come back first (every
  pull asks for them; a partner that holds them returns them), however many partners answered.

A partner that is behind may count toward the quorum, but cannot hide what another one shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.errors import RestoredFeed
from node.model import KeyId
from node.store import Store, WriteTx
from node.store.restore import RestoreState, ShownHead, restore_state

MAJORITY = "majority"
ALL = "all"
FORCE_RISK = (
    "if a partner holds entries of this node's feed that this database lacks (published after"
    " the backup), the next entry forks the feed: that partner and every node it relays to"
    " quarantine this node, and none of its indicators match there any more"
)


def quorum_size(rule: str, partners: int) -> int:
    """How many of ``partners`` (those with an endpoint) must show their heads; at least one,
    so a node with no partner to ask stays restored until one is pinned (or it is overridden)."""
    if rule == MAJORITY:
        wanted = partners // 2 + 1
    elif rule == ALL:
        wanted = partners
    else:
        wanted = min(int(rule), partners)
    return max(wanted, 1)


@dataclass(frozen=True, slots=True)
class RestoreVerdict:
    """A restored node's state judged against the quorum (``None``: not known to the caller)."""

    state: RestoreState
    quorum: int | None = None

    @property
    def ahead(self) -> tuple[ShownHead, ...]:
        """Heads of our feed, signed with our key, beyond what we hold: entries we lost."""
        return tuple(h for h in self.state.heads if h.seq > self.state.own_seq)

    @property
    def confirmed(self) -> tuple[str, ...]:
        """Partners (still pinned with an endpoint) that showed their heads since the restore."""
        return tuple(p for p in self.state.partners if p in self.state.confirmed)

    @property
    def waiting(self) -> tuple[str, ...]:
        """Partners with an endpoint that have not shown their heads yet."""
        return tuple(p for p in self.state.partners if p not in self.state.confirmed)

    @property
    def quorum_met(self) -> bool:
        """Enough partners showed their heads (never when the quorum is unknown)."""
        return self.quorum is not None and len(self.confirmed) >= self.quorum

    @property
    def may_publish(self) -> bool:
        """The quorum showed its heads and nobody showed one beyond ours."""
        return self.quorum_met and not self.ahead

    def explain(self) -> str:
        """Why this node may not publish yet, and what to do, in one paragraph."""
        state = self.state
        opening = f"this node was restored from a backup at {state.restored_at}"
        if self.ahead:
            top = self.ahead[0]
            shown = ", ".join(f"{h.peer} (seq {h.seq})" for h in self.ahead)
            return (
                f"{opening} and holds its own feed up to seq {state.own_seq}, but {shown} showed"
                f" a head of it signed with this node's own key: entries {state.own_seq + 1}..{top.seq}"
                " were published after the backup. Publishing now would sign a different seq"
                f" {state.own_seq + 1} and fork the feed (partners holding the original would"
                " quarantine this node). Run 'accord sync' to fetch them back: any partner that"
                " holds them returns them"
            )
        need = "a quorum" if self.quorum is None else f"{self.quorum} of {len(state.partners)}"
        return (
            f"{opening} and has not yet learned its own feed's head from enough partners: shown"
            f" by {', '.join(self.confirmed) or 'none'}, not yet by {', '.join(self.waiting) or 'none'}"
            f" ({need} must show theirs: sync.restore_quorum); publishing now could fork the feed."
            " Run 'accord sync' (or 'accord serve') and publish again; 'accord restore confirm"
            " --force' overrides (audited)"
        )


def ensure_may_publish(tx: WriteTx, own: KeyId) -> None:
    """The publishing gate: raise :class:`RestoredFeed` while the database's restore is unsettled.

    Pulls and ``accord restore confirm`` settle it (they know the quorum); here, in the
    transaction that would append, any unsettled restore refuses, and says why.
    """
    state = restore_state(tx, own)
    if state is not None:
        raise RestoredFeed(RestoreVerdict(state).explain())


def judge_restore(source: Store | WriteTx, own: KeyId, *, rule: str) -> RestoreVerdict | None:
    """The restore state judged against the quorum ``rule``, or None when not restored."""
    state = restore_state(source, own)
    if state is None:
        return None
    return RestoreVerdict(state, quorum_size(rule, len(state.partners)))


def settle_after_heads(tx: WriteTx, own: KeyId, *, partner: str, rule: str) -> RestoreVerdict | None:
    """``partner`` showed its heads in a pull that also asked for our own entries: count it,
    and settle the restore when that makes the quorum and no shown head is beyond ours."""
    tx.confirm_restore(partner)
    verdict = judge_restore(tx, own, rule=rule)
    if verdict is not None and verdict.may_publish:
        tx.settle_restore()
    return verdict
