"""The succession rule for one origin's feed, as a pure function (DESIGN §4).

Given the origin's current head and what we already hold at a seq, decide what an incoming,
validly signed entry is. No I/O: the ingest use case runs this inside its write transaction.
"""

from __future__ import annotations

import enum

from node.model.entries import Head
from node.model.ids import Digest, Seq


class Succession(enum.Enum):
    """What an incoming entry is, relative to the feed as we hold it."""

    NEXT = "next"  # seq == head+1 and prev == digest(head): accept
    DUPLICATE = "duplicate"  # we hold this exact entry already: no-op
    EQUIVOCATION = "equivocation"  # we hold a different entry at this seq: evidence
    GAP = "gap"  # seq > head+1: wait for the missing entries
    BROKEN_CHAIN = "broken_chain"  # seq == head+1 but prev names another entry


def classify(
    head: Head | None, *, seq: Seq, prev: Digest | None, digest: Digest, held_digest: Digest | None
) -> Succession:
    """Classify an entry at ``seq``. ``held_digest`` is the digest we hold at ``seq``, if any."""
    if held_digest is not None:
        return Succession.DUPLICATE if held_digest == digest else Succession.EQUIVOCATION
    head_seq = head.seq if head is not None else 0
    if seq > head_seq + 1:
        return Succession.GAP
    expected_prev = head.digest if head is not None else None
    if seq == head_seq + 1 and prev == expected_prev:
        return Succession.NEXT
    # seq == head+1 with the wrong prev; or seq <= head with nothing held there, which cannot
    # happen in a gapless store and is treated as a chain defect rather than trusted.
    return Succession.BROKEN_CHAIN
