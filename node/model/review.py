"""The review queue, appeals and flood holds as pure values (issue 14).

A match enters review when policy says a person must decide (:func:`review_reasons`). One
item per piece of the caller's content groups every indicator it matched; the item keeps the
caller's content reference (an opaque id and an optional URL), never the media. Decisions and
appeals are values here; the use cases that publish opinions live in ``node.app.reviewing``.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from node.errors import InvalidInput
from node.model.ids import KeyId
from node.model.matches import Match, MatchResult
from node.model.policy import Trust
from node.model.tlp import Tlp
from node.model.viewers import tlp_at_most

MAX_CONTENT_ID = 256  # the caller's own id for its content: a key, not a document
MAX_CONTENT_URL = 2048
MAX_STATEMENT = 4000  # a user's appeal statement, as the platform forwards it
MAX_REASON = 1000  # a reviewer's reason (it may become an opinion's explanation, same cap)
_RULE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class Reason(enum.Enum):
    """Why a match needs a person (the policy reasons; a caller's rules add ``rule:NAME``)."""

    TRUST_REVIEW = "trust-review"  # the operator trusts the origin at ``review``
    LOW_CORROBORATION = "low-corroboration"  # fewer independent origins than review.min_corroboration
    DISPUTED = "disputed"  # another origin disputes the indicator
    NEAR_SAFELIST = "near-safelist"  # the content is within reach of a safelisted hash
    FLOOD_HOLD = "flood-hold"  # flood protection holds the indicator


def rule_reason(name: str) -> str:
    """The reason a caller's rule gives: ``rule:NAME`` (lowercase letters, digits, ``._-``)."""
    bare = name.removeprefix("rule:")
    if not isinstance(bare, str) or not _RULE.fullmatch(bare):
        raise InvalidInput("a rule reason is a short lowercase name (letters, digits, '.', '_', '-')")
    return f"rule:{bare}"


class Decision(enum.Enum):
    """What a reviewer decides about an item."""

    CONFIRM = "confirm"
    FALSE_POSITIVE = "false-positive"
    ESCALATE = "escalate"

    @classmethod
    def parse(cls, text: str) -> Decision:
        """The decision named ``text`` (``false_positive`` is accepted for ``false-positive``)."""
        for member in cls:
            if member.value == text.strip().lower().replace("_", "-"):
                return member
        raise InvalidInput(f"unknown decision {text[:20]!r} (confirm, false-positive, escalate)")


class ItemStatus(enum.Enum):
    """Where an item is: waiting (open, escalated, appealed) or decided."""

    OPEN = "open"
    ESCALATED = "escalated"
    APPEALED = "appealed"
    DECIDED = "decided"

    @property
    def waiting(self) -> bool:
        """True while the item is in the queue."""
        return self is not ItemStatus.DECIDED


class AppealOutcome(enum.Enum):
    """An appeal's state: open until a reviewer upholds or reverses the original decision."""

    OPEN = "open"
    UPHELD = "upheld"
    REVERSED = "reversed"

    @classmethod
    def parse(cls, text: str) -> AppealOutcome:
        """``uphold``/``upheld`` or ``reverse``/``reversed``."""
        name = {"uphold": "upheld", "reverse": "reversed"}.get(text.strip().lower(), text.strip().lower())
        if name in ("upheld", "reversed"):
            return cls(name)
        raise InvalidInput(f"an appeal is decided with uphold or reverse, not {text[:20]!r}")


@dataclass(frozen=True, slots=True)
class ContentRef:
    """The caller's reference to its content: an opaque id and, optionally, a URL."""

    id: str
    url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip() or len(self.id) > MAX_CONTENT_ID:
            raise InvalidInput(f"a content id is a non-blank string of at most {MAX_CONTENT_ID} characters")
        if not self.id.isprintable():
            raise InvalidInput("a content id holds printable characters only")
        if self.url is not None:
            if not isinstance(self.url, str) or len(self.url) > MAX_CONTENT_URL:
                raise InvalidInput(f"a content URL is a string of at most {MAX_CONTENT_URL} characters")
            if not self.url.startswith(("https://", "http://")) or not self.url.isprintable():
                raise InvalidInput("a content URL starts with https:// or http://")


def checked_text(text: str | None, *, what: str, limit: int) -> str | None:
    """A reviewer's or user's free text: None, or non-blank and at most ``limit`` characters."""
    if text is None:
        return None
    if not isinstance(text, str) or not text.strip() or len(text) > limit:
        raise InvalidInput(f"{what}, when given, is non-blank text of at most {limit} characters")
    return text


@dataclass(frozen=True, slots=True)
class ReviewMatch:
    """One indicator an item's content matched, with why it needs a person."""

    indicator_id: str
    origin: KeyId
    origin_name: str
    category: str
    tlp: Tlp
    signal_type: str
    distance: int
    trust: Trust
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    """One decision on an item (or on an appeal of it), and its undo if any."""

    id: int
    item_id: int
    decision: Decision
    reason: str | None
    reviewer: str
    decided_at: datetime
    opinion_ids: tuple[str, ...]  # indicators we published an opinion about
    safelisted: bool
    appeal_id: int | None = None
    undone_at: datetime | None = None
    undone_by: str | None = None


@dataclass(frozen=True, slots=True)
class Appeal:
    """A user's appeal against the action on their content, as the platform submitted it."""

    id: int
    content_id: str
    item_id: int
    statement: str
    submitted_by: str
    submitted_at: datetime
    outcome: AppealOutcome = AppealOutcome.OPEN
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One piece of the caller's content and every indicator it matched."""

    id: int
    content: ContentRef
    status: ItemStatus
    created_at: datetime
    updated_at: datetime
    matches: tuple[ReviewMatch, ...]
    decisions: tuple[ReviewDecision, ...] = ()
    appeals: tuple[Appeal, ...] = ()

    @property
    def categories(self) -> frozenset[str]:
        """The categories of the indicators it matched."""
        return frozenset(m.category for m in self.matches)

    def visible_to(self, max_tlp: Tlp) -> bool:
        """True when a reviewer cleared up to ``max_tlp`` may see every indicator in it.

        An item is shown whole or not at all: a partly filtered item would still tell the
        reviewer that something more restricted matched this content.
        """
        return all(tlp_at_most(m.tlp, max_tlp) for m in self.matches)

    @property
    def current_decision(self) -> ReviewDecision | None:
        """The latest decision not undone, if any."""
        live = [d for d in self.decisions if d.undone_at is None]
        return live[-1] if live else None

    def priority(self, priorities: Mapping[str, int]) -> int:
        """The highest operator priority among its categories (unlisted categories: 0)."""
        return max((priorities.get(c, 0) for c in self.categories), default=0)


def queue_order(items: Sequence[ReviewItem], priorities: Mapping[str, int]) -> list[ReviewItem]:
    """The queue as reviewers work it: highest category priority first, then oldest first."""
    return sorted(items, key=lambda i: (-i.priority(priorities), i.created_at, i.id))


def review_reasons(
    result: MatchResult, *, min_corroboration: int = 0, held: Callable[[str], bool] = lambda _: False
) -> dict[str, tuple[str, ...]]:
    """Per indicator of ``result``, why a person must decide its match (absent: no reason).

    Suppressed matches (the content is on or near the safelist) always need a person: the
    node withholds them from automatic action, and only a reviewer can say which list is wrong.
    """
    reasons: dict[str, tuple[str, ...]] = {}
    for match in result.matches:
        found = _reasons_of(match, min_corroboration=min_corroboration, held=held)
        if found:
            reasons[match.indicator_id] = found
    if result.safelisted:
        for match in result.suppressed:
            found = _reasons_of(match, min_corroboration=min_corroboration, held=held)
            reasons[match.indicator_id] = (Reason.NEAR_SAFELIST.value, *found)
    return reasons


def _reasons_of(match: Match, *, min_corroboration: int, held: Callable[[str], bool]) -> tuple[str, ...]:
    checks = (
        (match.trust is Trust.REVIEW, Reason.TRUST_REVIEW),
        (min_corroboration > 0 and match.corroboration < min_corroboration, Reason.LOW_CORROBORATION),
        (match.disputed > 0, Reason.DISPUTED),
        (held(match.indicator_id), Reason.FLOOD_HOLD),
    )
    return tuple(reason.value for hit, reason in checks if hit)


@dataclass(frozen=True, slots=True)
class FloodRule:
    """When an indicator's matches spike: at least ``min_matches`` in the last ``window_seconds``
    and at least ``ratio`` times what its trailing rate over ``baseline_seconds`` (the time
    before the window) predicts for a window. An indicator with no history has a trailing rate
    of zero, so ``min_matches`` alone decides: a new shared hash that suddenly matches at scale
    is exactly the case to hold."""

    min_matches: int = 50
    window_seconds: float = 600.0
    ratio: float = 20.0
    baseline_seconds: float = 7 * 24 * 3600.0

    def __post_init__(self) -> None:
        if self.min_matches < 1 or not math.isfinite(self.ratio) or self.ratio < 1:
            raise InvalidInput("flood.min_matches must be at least 1 and flood.ratio at least 1")
        if not 0 < self.window_seconds < self.baseline_seconds < math.inf:
            raise InvalidInput("flood.window_seconds must be positive and below flood.baseline_seconds")

    def spikes(self, *, in_window: int, in_baseline: int) -> bool:
        """True when ``in_window`` matches (against ``in_baseline`` before it) is a spike."""
        expected = in_baseline * self.window_seconds / (self.baseline_seconds - self.window_seconds)
        return in_window >= self.min_matches and in_window >= self.ratio * expected


@dataclass(frozen=True, slots=True)
class FloodHold:
    """An indicator held by flood protection: its matches go to review until a reviewer decides."""

    indicator_id: str
    origin: KeyId
    category: str
    held_at: datetime
    in_window: int
    in_baseline: int


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """How the queue is doing: what waits, for how long, and how fast reviewers decide."""

    depth: int
    by_status: dict[str, int]
    oldest_age_seconds: float | None
    decisions_last_hour: int
    decisions_by_reviewer: dict[str, int]  # decisions in the last hour, per reviewer
    appeals_open: int
    held: int
