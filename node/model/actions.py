"""Action rules (issue 14): when a match looks like this, POST a webhook, enqueue for review, or both.

A rule is a condition over one match (its list kind, category, origin, trust, TLP and distance)
and the caller's decision, and what to do when some match of a piece of content satisfies it.
Empty condition sets mean "any". Evaluating rules is pure: :func:`fired_rules` says which rules
fire and which matches each selected; the app turns that into an :class:`ActionPlan` and writes
the webhook deliveries to the outbox. Suppressed (safelisted) matches never fire a rule.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from node.errors import InvalidInput
from node.model.matches import Match, MatchResult
from node.model.policy import Trust
from node.model.signals import SignalType
from node.model.tlp import Tlp

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
UNDECIDED = "none"  # a rule's decision condition that selects calls made without a decision
MAX_DECISION = 64


def parse_action_name(text: str, *, what: str) -> str:
    """A rule or webhook name: letters, digits, '.', '_' and '-', up to 63 characters."""
    if not _NAME.fullmatch(text):
        raise InvalidInput(f"a {what} name is 1-63 letters, digits, '.', '_' or '-' (no spaces)")
    return text


@dataclass(frozen=True, slots=True)
class RuleCondition:
    """When a rule fires: every non-empty field must hold for one match (AND across fields,
    OR within one). ``list_kinds`` are the match lists (signal types) that answered;
    ``origins`` are local origin names or key ids; ``decisions`` the caller's decision,
    :data:`UNDECIDED` for a call without one; ``max_distance`` the largest distance (bits)."""

    list_kinds: frozenset[SignalType] = frozenset()
    categories: frozenset[str] = frozenset()
    origins: frozenset[str] = frozenset()
    trusts: frozenset[Trust] = frozenset()
    tlps: frozenset[Tlp] = frozenset()
    decisions: frozenset[str] = frozenset()
    max_distance: int | None = None

    def __post_init__(self) -> None:
        if self.max_distance is not None and not 0 <= self.max_distance <= 256:
            raise InvalidInput("a rule's max distance is between 0 and 256 bits")

    def selects(self, match: Match, decision: str | None) -> bool:
        """True when ``match`` (for a call with ``decision``) satisfies every field."""
        return (
            _any_or(self.list_kinds, match.signal_type)
            and _any_or(self.categories, match.category)
            and (not self.origins or bool({match.origin, match.origin_name} & self.origins))
            and _any_or(self.trusts, match.trust)
            and _any_or(self.tlps, match.tlp)
            and _any_or(self.decisions, decision or UNDECIDED)
            and (self.max_distance is None or match.distance <= self.max_distance)
        )


def _any_or(allowed: frozenset[object], value: object) -> bool:
    return not allowed or value in allowed


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule: its condition and its outcomes (webhooks to POST, and/or review)."""

    name: str
    when: RuleCondition
    webhooks: tuple[str, ...] = ()
    review: bool = False

    def __post_init__(self) -> None:
        parse_action_name(self.name, what="rule")
        if not (self.webhooks or self.review):
            raise InvalidInput(f"rule {self.name!r} does nothing: give a webhook, review, or both")
        for hook in self.webhooks:
            parse_action_name(hook, what="webhook")


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where deliveries go: an http(s) URL, a secret file (relative to the home) that keys the
    HMAC, and the most restricted TLP a delivery to it may carry."""

    name: str
    url: str
    secret_file: str
    max_tlp: Tlp
    added_at: str

    def __post_init__(self) -> None:
        parse_action_name(self.name, what="webhook")


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired, with the results restricted to the matches it selected."""

    rule: Rule
    results: tuple[MatchResult, ...]

    @property
    def indicator_ids(self) -> tuple[str, ...]:
        """The selected indicators, sorted (what an idempotency key is made of)."""
        return tuple(sorted({m.indicator_id for r in self.results for m in r.matches}))


def fired_rules(rules: Iterable[Rule], results: Sequence[MatchResult], decision: str | None) -> list[Firing]:
    """The rules some match of ``results`` satisfies, by name, each with the matches it selected."""
    fired = []
    for rule in sorted(rules, key=lambda r: r.name):
        chosen = [_selected(result, rule.when, decision) for result in results]
        kept = tuple(r for r in chosen if r.matches)
        if kept:
            fired.append(Firing(rule=rule, results=kept))
    return fired


def _selected(result: MatchResult, when: RuleCondition, decision: str | None) -> MatchResult:
    matches = tuple(m for m in result.matches if when.selects(m, decision))
    return replace(result, matches=matches, suppressed=())  # suppressed matches are never acted on


def idempotency_key(
    *, content_id: str, rule: str, webhook: str, decision: str | None, ids: Sequence[str]
) -> str:
    """The key a receiver deduplicates on: the same content, rule, webhook, decision and
    indicators always give the same key, so a retry, a replay or a repeated call is one event."""
    material = json.dumps([content_id, rule, webhook, decision, sorted(ids)], separators=(",", ":"))
    return "acc_" + hashlib.sha256(material.encode()).hexdigest()[:40]


def check_decision(decision: str | None) -> None:
    """The caller's own decision label for its content, when given: short printable text.
    (The content reference itself is checked by :class:`~node.model.review.ContentRef`.)"""
    if decision is not None and (not decision or len(decision) > MAX_DECISION or not decision.isprintable()):
        raise InvalidInput(f"a decision is 1-{MAX_DECISION} printable characters")


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """A webhook delivery the plan put in the outbox (``new`` False: it was there already)."""

    delivery_id: int | None
    rule: str
    webhook: str
    key: str
    matches: int
    new: bool


@dataclass(frozen=True, slots=True)
class ActionPlan:
    """What :meth:`act_on` decided for one piece of content.

    ``review`` asks the caller (or the review queue, once wired) to put the content before a
    person; ``review_reasons`` are the rules that asked. ``withheld`` names webhooks that got
    nothing because every selected match was above their maximum TLP.
    """

    content_id: str
    content_url: str | None
    decision: str | None
    fired: tuple[str, ...]
    review: bool
    review_reasons: tuple[str, ...]
    deliveries: tuple[PlannedDelivery, ...]
    withheld: tuple[str, ...] = ()
    dry_run: bool = False
