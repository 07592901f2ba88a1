"""Per-request filters on match results, and the caller's TLP ceiling (issue 14).

A caller sees only matches at or below its maximum TLP: the others are left out as if they did
not exist, and corroboration is counted among the matches it may see, so nothing in an answer
betrays a match above the ceiling. Category and origin filters then choose which of those
matches to return; ``min_corroboration`` drops a result's matches when fewer independent
origins (among the visible ones) published a matching signal. ``min_trust`` keeps matches
whose origin the operator trusts at least that much (own > auto > review; ``observe`` origins
never match at all), and ``list_kinds`` chooses between the two lists a node matches against:
the block list (harmful indicators: ``matches``) and the safelist (known-benign media: the
``safelisted`` flag and the harmful matches it ``suppressed``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from node.errors import InvalidInput
from node.model.ids import KeyId
from node.model.matches import Match, MatchResult
from node.model.policy import Trust
from node.model.tlp import Tlp
from node.model.viewers import tlp_at_most

MAX_MIN_CORROBORATION = 1000  # more independent origins than any federation has: a typo

TRUST_RANK = {Trust.OBSERVE: 0, Trust.REVIEW: 1, Trust.AUTO: 2, Trust.OWN: 3}


class ListKind(enum.Enum):
    """The lists a query is matched against: harmful indicators, or known-benign media."""

    BLOCK = "block"
    SAFELIST = "safelist"

    @classmethod
    def parse(cls, text: str) -> ListKind:
        """The list kind named ``text``."""
        for member in cls:
            if member.value == text.strip().lower():
                return member
        raise InvalidInput(f"unknown list kind {text[:20]!r} (block, safelist)")


@dataclass(frozen=True, slots=True)
class MatchFilter:
    """What one request asks to see. Empty collections mean "any"."""

    max_tlp: Tlp = Tlp.RED
    categories: frozenset[str] = frozenset()
    origins: frozenset[KeyId] = frozenset()
    min_corroboration: int = 1
    min_trust: Trust = Trust.OBSERVE  # the lowest level: every match
    list_kinds: frozenset[ListKind] = frozenset()  # empty: both

    def __post_init__(self) -> None:
        if not 1 <= self.min_corroboration <= MAX_MIN_CORROBORATION:
            raise InvalidInput(f"min_corroboration is between 1 and {MAX_MIN_CORROBORATION}")

    def apply(self, result: MatchResult) -> MatchResult:
        """``result`` as this filter's caller may see it."""
        visible = [m for m in result.matches if tlp_at_most(m.tlp, self.max_tlp)]
        corroboration = len({m.origin for m in visible})
        chosen = self._chosen(visible) if corroboration >= self.min_corroboration else []
        hidden = [m for m in result.suppressed if tlp_at_most(m.tlp, self.max_tlp)]
        suppressed = _counted(self._chosen(hidden), len({m.origin for m in hidden}))
        if not self._wants(ListKind.BLOCK):
            chosen = []
        if not self._wants(ListKind.SAFELIST):
            suppressed = ()
        return MatchResult(
            query=result.query,
            matches=_counted(chosen, corroboration),
            suppressed=suppressed,
            safelisted=result.safelisted,
            # Attested originals (issue 15) follow the same TLP ceiling and origin filter.
            attestations=tuple(
                a
                for a in result.attestations
                if tlp_at_most(a.tlp, self.max_tlp) and (not self.origins or a.origin in self.origins)
            ),
        )

    def _wants(self, kind: ListKind) -> bool:
        return not self.list_kinds or kind in self.list_kinds

    def _chosen(self, matches: Iterable[Match]) -> list[Match]:
        floor = TRUST_RANK[self.min_trust]
        return [
            m
            for m in matches
            if (not self.categories or m.category in self.categories)
            and (not self.origins or m.origin in self.origins)
            and TRUST_RANK[m.trust] >= floor
        ]


def _counted(matches: Iterable[Match], corroboration: int) -> tuple[Match, ...]:
    return tuple(replace(m, corroboration=corroboration) for m in matches)
