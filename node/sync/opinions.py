"""Feedback use cases: state, replace or withdraw our opinions of others' indicators, and read
what others think of ours (DESIGN §7).

An opinion travels in our own signed feed. It says which indicator it is about, so it is
addressed no wider than that indicator: the same TLP, and for a restricted one the recipients
of the entry that carried it plus the indicator's origin (who must hear the dispute).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from node.errors import InvalidInput, NotFound
from node.model import Distribution, Indicator, KeyId, Opinion, OpinionValue, Seq, Signal
from node.model.clock import Clock
from node.store import Store
from node.sync.publish import Publisher


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """Another origin's current opinion about one of our indicators."""

    opinion: Opinion
    signal_type: str
    category: str


class OpinionDesk:
    """Publishes this node's opinions and reads the feedback on its own indicators."""

    def __init__(self, *, store: Store, publisher: Publisher, clock: Clock) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock

    @property
    def _self(self) -> KeyId:
        return self._publisher.origin

    def resolve(self, targets: Sequence[str]) -> list[Indicator]:
        """The live indicators of other origins named by id or ``TYPE:VALUE`` (every origin's)."""
        found: dict[str, Indicator] = {}
        for target in targets:
            if target.startswith("indicator--"):
                candidates = list(self._store.indicators_by_id([target]).values())
            else:
                candidates = self._store.indicators_with_signal(Signal.parse(target))
            live = [i for i in candidates if not i.revoked and i.origin != self._self]
            if not live:
                raise NotFound(
                    "no active indicator of another origin matches that target"
                    " (an origin's opinion of its own indicators adds nothing)"
                )
            found.update((i.id, i) for i in live)
        return list(found.values())

    def state(
        self, indicators: Sequence[Indicator], *, value: OpinionValue, explanation: str | None
    ) -> list[Seq]:
        """Publish our opinion of each indicator; it replaces any earlier one of ours."""
        now = self._clock()
        opinions = [self._version(ind, value=value, explanation=explanation, now=now) for ind in indicators]
        return self._publish(list(zip(indicators, opinions, strict=True)))

    def withdraw(self, indicators: Sequence[Indicator]) -> list[Seq]:
        """Publish revoked versions of our current opinions of ``indicators``."""
        now = self._clock()
        pairs: list[tuple[Indicator, Opinion]] = []
        for ind in indicators:
            held = self._store.opinion_of(self._self, ind.id)
            if held is not None and not held.revoked:
                pairs.append((ind, replace(held, revoked=True, modified=_after(held.modified, now))))
        if not pairs:
            raise NotFound("this node holds no current opinion of that indicator to withdraw")
        return self._publish(pairs)

    def feedback(self) -> list[FeedbackItem]:
        """Other origins' current opinions about our own indicators, newest first."""
        return [FeedbackItem(o, kind, category) for o, kind, category in self._store.feedback_on(self._self)]

    def _version(
        self, ind: Indicator, *, value: OpinionValue, explanation: str | None, now: datetime
    ) -> Opinion:
        held = self._store.opinion_of(self._self, ind.id)
        if held is None or held.revoked:  # a revoked STIX object is final: start a new one
            return Opinion(
                id=f"opinion--{uuid.uuid4()}",
                origin=self._self,
                indicator_id=ind.id,
                value=value,
                created=now,
                modified=now,
                explanation=explanation,
            )
        return replace(held, value=value, explanation=explanation, modified=_after(held.modified, now))

    def _publish(self, pairs: Sequence[tuple[Indicator, Opinion]]) -> list[Seq]:
        distributions = self._store.distributions_of(ind.id for ind, _ in pairs)
        by_distribution: dict[Distribution, list[Opinion]] = {}
        for ind, opinion in pairs:
            audience = self._audience(ind, distributions.get(ind.id))
            by_distribution.setdefault(audience, []).append(opinion)
        return [self._publisher.publish_opinions(batch, d) for d, batch in by_distribution.items()]

    def _audience(self, ind: Indicator, carried: Distribution | None) -> Distribution:
        """The opinion's distribution: the indicator's TLP, to its audience and its origin."""
        if carried is None:
            raise InvalidInput(f"{ind.id} has no entry on record; cannot address an opinion of it")
        if not carried.tlp.names_recipients:
            return Distribution(tlp=carried.tlp)
        recipients = (carried.recipients | {ind.origin}) - {self._self}
        return Distribution(tlp=carried.tlp, recipients=frozenset(recipients))


def _after(previous: datetime, now: datetime) -> datetime:
    """A modified time strictly after ``previous`` (STIX versions must move forward)."""
    return now if now > previous else previous + timedelta(milliseconds=1)
