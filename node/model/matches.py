"""Match results with their provenance (DESIGN §9). The node reports; the operator decides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from node.errors import InvalidInput
from node.model.ids import KeyId
from node.model.indicators import ContentType
from node.model.opinions import Consensus, OpinionTally
from node.model.policy import Trust
from node.model.provenance import AttestationMatch, ContentCredentials
from node.model.signals import Signal, SignalType
from node.model.tlp import Tlp


@dataclass(frozen=True, slots=True)
class IndexHit:
    """An index's answer: a stored indicator and its distance from the query (0 for exact)."""

    indicator_id: str
    distance: int


@dataclass(frozen=True, slots=True)
class VideoHit(IndexHit):
    """A listed video that passed the frame-share rule (:class:`VideoThresholds`).

    ``distance`` is the mean distance of the query's matched frames to their nearest listed
    frame, rounded; the percentages say how much of each video the other covers.
    """

    query_match_percent: float
    compared_match_percent: float


@dataclass(frozen=True, slots=True)
class ModelHit(VideoHit):
    """A listed model sharing tensors with the query model (issue 15). ``distance`` is 0; the
    percentages are the share of the query's distinct tensors found in the listed model, and
    of the listed model's tensors found in the query (both 100 for the same weights)."""


@dataclass(frozen=True, slots=True)
class VideoThresholds:
    """When a query video matches a listed one (Meta's vPDQ reference rule and defaults).

    A query frame matches when a listed frame of that video is within ``frame_threshold``
    bits. The video matches when the share of the query's frames that match reaches
    ``query_match_percent`` and the share of the listed video's frames matched by some query
    frame reaches ``compared_match_percent``. Frames below quality 50 never reach a signal.
    """

    frame_threshold: int = 31
    query_match_percent: float = 80.0
    compared_match_percent: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.frame_threshold <= 128:
            raise InvalidInput("the vpdq frame threshold is between 0 and 128 bits")
        for share in (self.query_match_percent, self.compared_match_percent):
            if not 0.0 <= share <= 100.0:
                raise InvalidInput("vpdq match percentages are between 0 and 100")


@dataclass(frozen=True, slots=True)
class Match:
    """One listed indicator that matches a query signal."""

    indicator_id: str
    origin: KeyId
    origin_name: str
    category: str
    signal_type: SignalType
    content_type: ContentType
    distance: int
    tlp: Tlp
    # Video (vpdq) matches only: the share of the query's frames matched, and of the listed
    # video's frames. None for every other signal type.
    query_match_percent: float | None = None
    compared_match_percent: float | None = None
    # Provenance beyond the indicator itself (DESIGN §9): how many other origins agree with or
    # dispute it, how many independent origins published a matching signal for the same query
    # (this one included), and the trust level the operator set for its origin.
    agreed: int = 0
    disputed: int = 0
    corroboration: int = 1
    trust: Trust = Trust.AUTO
    # The C2PA summary the origin recorded with the indicator (issue 15): its reading of the
    # file it hashed, under its trust anchors. Evidence shown beside the match, never a change.
    c2pa: ContentCredentials | None = None

    @property
    def consensus(self) -> Consensus:
        """NONE, AGREED, DISPUTED (disputes only) or CONTESTED (agreements and disputes)."""
        return OpinionTally(agreed=self.agreed, disputed=self.disputed).consensus


@dataclass(frozen=True, slots=True)
class MatchResult:
    """All matches of one query signal, nearest first."""

    query: Signal
    matches: tuple[Match, ...]
    # Harmful matches withheld because the query is safelisted (a local safelist entry or an
    # active ``benign`` indicator within the safelist threshold): reported, never acted on.
    suppressed: tuple[Match, ...] = ()
    safelisted: bool = False
    # Attested originals the query meets (issue 15): provenance, never a block-list match.
    attestations: tuple[AttestationMatch, ...] = ()

    @property
    def corroboration(self) -> int:
        """How many independent origins published a matching signal."""
        return len({m.origin for m in self.matches})


@dataclass(frozen=True, slots=True)
class PdqThresholds:
    """How far a PDQ hit may be, per the operator's policy (DESIGN §9).

    The default applies unless the indicator's origin (by its local partner name) or its
    category has its own threshold; when both do, the stricter one applies, so loosening one
    list for a trusted partner never loosens a category the operator tightened.
    """

    default: int
    by_category: Mapping[str, int] = field(default_factory=dict)
    by_partner: Mapping[str, int] = field(default_factory=dict)

    @property
    def widest(self) -> int:
        """The largest threshold any indicator can have: what the index is asked for."""
        return max([self.default, *self.by_category.values(), *self.by_partner.values()])

    def limit_for(self, *, partner: str, category: str) -> int:
        """The threshold that applies to an indicator of ``partner`` under ``category``."""
        by_partner, by_category = self.by_partner.get(partner), self.by_category.get(category)
        if by_partner is None:
            return self.default if by_category is None else by_category
        return by_partner if by_category is None else min(by_partner, by_category)
