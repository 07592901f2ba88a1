"""The transparency report for a period: what this node contributed, received, matched, revoked,
and how each partner's sync went. Numbers only (no hash values); rendering is the app's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from node.errors import InvalidInput
from node.model import KeyId
from node.store import Store
from node.store.analyst import period_counts
from node.store.review import outcome_counts


@dataclass(frozen=True, slots=True)
class PartnerHealth:
    """One partner's sync over the period and its last known state."""

    partner: str
    entries_received: int
    refused: dict[str, int]
    last_attempt: str | None
    last_success: str | None
    last_result: str | None


@dataclass(frozen=True, slots=True)
class DisputeCount:
    """Disputes one author stated in the period about one origin's indicators of one category."""

    author: str
    about: str  # the disputed indicators' origin ("-" when the indicator is not held here)
    category: str  # "-" when the indicator is not held here
    count: int


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """Reviewers' decisions in the period on one origin's matches of one category (issue 14)."""

    origin: str
    category: str
    confirmed: int
    false_positive: int
    escalated: int

    @property
    def false_positive_rate(self) -> float | None:
        """False positives among confirmed + false positive (None when neither)."""
        decided = self.confirmed + self.false_positive
        return None if decided == 0 else self.false_positive / decided


@dataclass(frozen=True, slots=True)
class TransparencyReport:
    """Counts for ``[since, until)``."""

    node: str
    since: datetime
    until: datetime
    contributed: dict[str, int]  # category → indicators this node published
    received: dict[str, dict[str, int]]  # origin name → category → indicators
    restricted_received: int  # of those, TLP:RED (counted, never listed)
    matches: dict[str, int]  # category → local matches
    matched_indicators: dict[str, int]  # category → distinct indicators that matched
    revocations: dict[str, dict[str, int]]  # origin name → category → revoked versions
    disputes: tuple[DisputeCount, ...]  # current disputes stated in the period (opinions table)
    partners: tuple[PartnerHealth, ...]
    actions: dict[str, int] = field(default_factory=dict)  # audit log: action → count
    review: tuple[ReviewOutcome, ...] = ()  # review decisions per origin and category

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON values."""
        return {
            "node": self.node,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "contributed": self.contributed,
            "received": self.received,
            "restricted_received": self.restricted_received,
            "matches": self.matches,
            "matched_indicators": self.matched_indicators,
            "revocations": self.revocations,
            "disputes": [
                {"author": d.author, "about": d.about, "category": d.category, "count": d.count}
                for d in self.disputes
            ],
            "partners": [
                {
                    "partner": p.partner,
                    "entries_received": p.entries_received,
                    "refused": p.refused,
                    "last_attempt": p.last_attempt,
                    "last_success": p.last_success,
                    "last_result": p.last_result,
                }
                for p in self.partners
            ],
            "actions": self.actions,
            "review": [
                {
                    "origin": r.origin,
                    "category": r.category,
                    "confirmed": r.confirmed,
                    "false_positive": r.false_positive,
                    "escalated": r.escalated,
                    "false_positive_rate": r.false_positive_rate,
                }
                for r in self.review
            ],
        }


def build_report(
    store: Store, *, node: str, names: Mapping[KeyId, str], since: datetime, until: datetime
) -> TransparencyReport:
    """Count everything the report states, straight from the database."""
    if until <= since:
        raise InvalidInput("the report period is empty: --until must be later than --since")

    def name(origin: str) -> str:
        return names.get(KeyId(origin), origin[:12])

    contributed: dict[str, int] = {}
    received: dict[str, dict[str, int]] = {}
    restricted = 0
    for local, origin, category, red, count in period_counts(store, "published", since, until):
        if local:
            contributed[category] = contributed.get(category, 0) + count
            continue
        by_category = received.setdefault(name(origin), {})
        by_category[category] = by_category.get(category, 0) + count
        restricted += count if red else 0
    revocations: dict[str, dict[str, int]] = {}
    for origin, category, count in period_counts(store, "revoked", since, until):
        revocations.setdefault(name(origin), {})[category] = count
    matches = {c: int(n) for c, n, _ in period_counts(store, "matches", since, until)}
    matched = {c: int(d) for c, _, d in period_counts(store, "matches", since, until)}
    return TransparencyReport(
        node=node,
        since=since,
        until=until,
        contributed=contributed,
        received=received,
        restricted_received=restricted,
        matches=matches,
        matched_indicators=matched,
        revocations=revocations,
        disputes=_disputes(store, name, since, until),
        partners=_health(store, since, until),
        actions={a: int(n) for a, n in period_counts(store, "audit", since, until)},
        review=_review(store, name, since, until),
    )


def _review(
    store: Store, name: Callable[[str], str], since: datetime, until: datetime
) -> tuple[ReviewOutcome, ...]:
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for origin, category, decision, n in outcome_counts(store, since, until):
        counts.setdefault((name(origin), category), {})[decision] = n
    return tuple(
        ReviewOutcome(o, c, d.get("confirm", 0), d.get("false-positive", 0), d.get("escalate", 0))
        for (o, c), d in sorted(counts.items())
    )


def _disputes(
    store: Store, name: Callable[[str], str], since: datetime, until: datetime
) -> tuple[DisputeCount, ...]:
    rows = period_counts(store, "disputes", since, until)
    counts = [
        DisputeCount(author=name(a), about=name(o) if o else "-", category=c or "-", count=int(n))
        for a, o, c, n in rows
    ]
    return tuple(sorted(counts, key=lambda d: (d.author, d.about, d.category)))


def _health(store: Store, since: datetime, until: datetime) -> tuple[PartnerHealth, ...]:
    entries = {via: int(n) for via, n, _ in period_counts(store, "entries", since, until)}
    refused: dict[str, dict[str, int]] = {}
    for partner, reason, count in period_counts(store, "refused", since, until):
        refused.setdefault(partner, {})[reason] = int(count)
    records = store.sync_records()
    partners = sorted({p.name for p in store.partners()} | set(entries) | set(refused) - {"-"})
    return tuple(
        PartnerHealth(
            partner=p,
            entries_received=entries.get(p, 0),
            refused=refused.get(p, {}),
            last_attempt=records[p].last_attempt if p in records else None,
            last_success=records[p].last_success if p in records else None,
            last_result=records[p].last_result if p in records else None,
        )
        for p in partners
    )
