"""Who may receive an entry from this node: TLP 2.0 enforced at egress (DESIGN §5)."""

from __future__ import annotations

from node.model.entries import Distribution
from node.model.ids import KeyId


def may_serve(distribution: Distribution, *, origin: KeyId, server: KeyId, caller: KeyId) -> bool:
    """True when ``server`` may hand an entry of ``origin`` to the authenticated ``caller``.

    CLEAR and GREEN go to any authenticated partner. AMBER goes to the named recipients, and a
    recipient may relay it to another recipient. AMBER+STRICT and RED go to the named
    recipients from the origin itself only: a relay never serves them. Any entry may go back
    to its own origin.
    """
    if not distribution.tlp.names_recipients or caller == origin:
        # An origin may always have its own entries back: it wrote them, and a node restored
        # from a backup learns the rest of its own feed this way instead of forking it.
        return True
    if caller not in distribution.recipients:
        return False
    if distribution.tlp.origin_only:
        return server == origin
    return True


_ORDER = ("clear", "green", "amber", "amber+strict", "red")  # least to most restricted


def widens(new: Distribution, old: Distribution) -> bool:
    """True when ``new`` would reach someone ``old`` did not: a less restricted TLP level, or,
    when ``old`` named recipients, a recipient it did not name (whatever the new level).

    ``accord contribute`` never widens an indicator's audience; ``accord relabel`` does it
    explicitly (and is audited).
    """
    if _ORDER.index(new.tlp.value) < _ORDER.index(old.tlp.value):
        return True
    return old.tlp.names_recipients and not new.recipients <= old.recipients


def shrinks(new: Distribution, old: Distribution) -> bool:
    """True when ``new`` would not reach someone ``old`` reached: from CLEAR or GREEN (every
    partner) to a restricted level, or from named recipients to fewer of them. A partner left
    out would keep the older, wider version live, so such a change must revoke it first
    (``accord relabel --tlp``), never be published as a plain new version."""
    if not old.tlp.names_recipients:
        return new.tlp.names_recipients
    return new.tlp.names_recipients and not old.recipients <= new.recipients
