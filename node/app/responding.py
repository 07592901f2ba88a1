"""From match to decision to action (issue 14): one use case for a piece of the caller's content.

A platform's upload pipeline matches a piece of its content and names it (``ContentRef``).
:meth:`RespondingMixin.respond` then decides, per match, who acts:

- a match that policy puts before a person (the origin's trust is ``review``, too little
  corroboration, a dispute, the safelist, a flood hold: :meth:`review_reasons`) goes to the
  review queue and is *not* auto-actioned;
- the other matches go through the action rules (:meth:`act_on`): signed webhook deliveries
  into the outbox, and the rules that ask for review add the content to the queue too.

Every transport (HTTP ``POST /v1/match`` with ``content``, ``accord action run``) calls this one
method, so a flooded indicator is held and a ``review`` partner's match is queued the same way
whichever door the content came through.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from node.app.acting import ActingMixin
from node.app.reviewing import ReviewingMixin
from node.model import MatchResult
from node.model.actions import ActionPlan
from node.model.review import ContentRef, ReviewItem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Response:
    """What :meth:`RespondingMixin.respond` did for one piece of content."""

    content: ContentRef
    plan: ActionPlan  # the rules over the matches left to auto-action
    item: ReviewItem | None  # the review item the content is in (None: nothing needs a person)
    for_review: tuple[str, ...]  # indicators put before a person instead of auto-action


class RespondingMixin(ActingMixin, ReviewingMixin):
    """Act on the matches of one piece of the caller's content, or queue them for a person."""

    def respond(
        self,
        content: ContentRef,
        results: Sequence[MatchResult],
        decision: str | None = None,
        *,
        dry_run: bool = False,
    ) -> Response:
        """Split ``results`` into what a person must decide and what the rules act on; queue
        the first, act on the second (``dry_run``: plan only, nothing written or queued)."""
        held_back: list[str] = []
        automatic: list[MatchResult] = []
        for result in results:
            needs_person = self.review_reasons(result)
            held_back += [m.indicator_id for m in result.matches if m.indicator_id in needs_person]
            kept = tuple(m for m in result.matches if m.indicator_id not in needs_person)
            automatic.append(dataclasses.replace(result, matches=kept))
        plan = self.act_on(content, automatic, decision, dry_run=dry_run)
        item = None
        if not dry_run and (held_back or plan.review):
            # the policy reasons are found again per match; the rules' reasons name every match
            item = self.submit_for_review(content, results, plan.review_reasons)
        if held_back:
            log.info(
                "content %s: %d match(es) held for a person instead of auto-action",
                item.id if item is not None else "-",
                len(held_back),
            )
        return Response(content=content, plan=plan, item=item, for_review=tuple(dict.fromkeys(held_back)))
