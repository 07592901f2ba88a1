"""Review queue, decisions and appeals: the use cases a person's decision goes through (issue 14).

One use-case family of :class:`node.app.node.AccordNode`. A caller (the HTTP or gRPC match
path, a rule) hands :meth:`ReviewingMixin.submit_for_review` its content reference and match
results; the matches policy says a person must decide become one queue item per piece of
content. A reviewer's decision publishes this node's opinion through the existing
:class:`~node.sync.opinions.OpinionDesk` (confirm: ``agree``; false positive: ``disagree`` with
the reason), is audited with the reviewer's account, and can be undone within
``review.undo_seconds``. Every item and decision is a row in SQLite, so the queue survives
restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from node.app.audit import local_actor
from node.app.flood import FloodGuard
from node.app.parts import NodeParts
from node.errors import AlreadyExists, InvalidInput, NotFound
from node.match import MatchLists
from node.model import Indicator, MatchResult, OpinionValue, Signal, Tlp
from node.model.clock import utc_now
from node.model.review import (
    MAX_REASON,
    MAX_STATEMENT,
    Appeal,
    AppealOutcome,
    ContentRef,
    Decision,
    FloodHold,
    ItemStatus,
    QueueMetrics,
    ReviewDecision,
    ReviewItem,
    ReviewMatch,
    checked_text,
    queue_order,
    review_reasons,
    rule_reason,
)
from node.store import review as rows
from node.sync.tape import Taped

log = logging.getLogger(__name__)

MAX_QUEUE_PAGE = 1000  # items one listing returns at most


class ReviewingMixin(NodeParts):
    """The review queue, decisions, appeals and flood holds."""

    flood: FloodGuard
    safelist: MatchLists  # the local safelist the Matcher consults (operator's file + reviewers')

    # --- the match path ----------------------------------------------------------------------

    def _fold_matches(self, taped: Sequence[Taped]) -> None:
        """The match tape's matches, into the counters: the match log and flood protection
        (both written in batches, never one commit per match), and sightings (others' only)."""
        for call in taped:
            self.match_log.record(call.indicator_ids, at=call.at)
            self.flood.buffer(call.indicator_ids, at=call.at)
            if call.others:
                self.counter.record(call.others, at=call.at)

    def note_matches(self, results: Sequence[MatchResult]) -> list[FloodHold]:
        """Count matches made outside this node's Matcher for flood protection (the node's own
        Matcher counts every match it makes already); returns the indicators newly held."""
        return self.flood.note([m.indicator_id for r in results for m in r.matches])

    def is_held(self, indicator_id: str) -> bool:
        """True while flood protection holds the indicator (its matches go to review)."""
        return bool(self.flood.held_among([indicator_id]))

    def review_reasons(self, result: MatchResult) -> dict[str, tuple[str, ...]]:
        """Per indicator of ``result``, why its match needs a person (absent: it does not)."""
        ids = [m.indicator_id for m in (*result.matches, *result.suppressed)]
        held = self.flood.held_among(ids)
        return review_reasons(
            result, min_corroboration=self.config.review.min_corroboration, held=held.__contains__
        )

    def submit_for_review(
        self, content: ContentRef, results: Sequence[MatchResult], reasons: Sequence[str] = ()
    ) -> ReviewItem | None:
        """Queue the matches of ``content`` that need a person: those policy gives a reason,
        and every match when the caller's ``reasons`` (rule names) say so. One item per piece
        of content: a later submission adds to the item still waiting. None: nothing to review."""
        extra = tuple(rule_reason(r) for r in reasons)
        chosen: list[tuple[ReviewMatch, Signal]] = []
        for result in results:
            policy = self.review_reasons(result)
            candidates = (*result.matches, *(result.suppressed if result.safelisted else ()))
            for m in candidates:
                why = (*policy.get(m.indicator_id, ()), *extra)
                if why:
                    review = ReviewMatch(
                        m.indicator_id, m.origin, m.origin_name, m.category, m.tlp,
                        m.signal_type.value, m.distance, m.trust, tuple(dict.fromkeys(why)),
                    )  # fmt: skip
                    chosen.append((review, result.query))
        if not chosen:
            return None
        now = utc_now()
        with self.store.write() as tx:
            item_id = rows.waiting_item_of(tx, content.id)
            if item_id is None:
                item_id = rows.insert_item(tx, content, at=now)
            rows.add_item_matches(tx, item_id, chosen)
        log.info("review: content item %d holds %d match(es) needing a person", item_id, len(chosen))
        return self._item(item_id)

    # --- reading the queue -------------------------------------------------------------------

    def review_queue(self, *, max_tlp: Tlp = Tlp.RED, limit: int = 100) -> list[ReviewItem]:
        """The waiting items a reviewer cleared up to ``max_tlp`` may see, in queue order."""
        if not 1 <= limit <= MAX_QUEUE_PAGE:
            raise InvalidInput(f"a queue page holds 1 to {MAX_QUEUE_PAGE} items")
        waiting = rows.items_by_id(self.store, rows.waiting_ids(self.store))
        visible = [i for i in waiting if i.visible_to(max_tlp)]
        return queue_order(visible, self.config.review.category_priority)[:limit]

    def review_item(self, item_id: int, *, max_tlp: Tlp = Tlp.RED) -> ReviewItem:
        """One item, if it exists and every indicator in it is within ``max_tlp``; an item the
        reviewer may not see is NotFound, the same as one that does not exist."""
        found = rows.item(self.store, item_id)
        if found is None or not found.visible_to(max_tlp):
            raise NotFound(f"no review item {item_id} (see 'accord review list')")
        return found

    def _item(self, item_id: int) -> ReviewItem:
        return self.review_item(item_id)

    # --- decisions ---------------------------------------------------------------------------

    def decide_review(
        self,
        item_id: int,
        decision: Decision,
        *,
        reason: str | None = None,
        safelist: bool = False,
        actor: str | None = None,
        max_tlp: Tlp = Tlp.RED,
    ) -> ReviewItem:
        """Decide a waiting item: confirm (publish ``agree``, count a sighting), false positive
        (publish ``disagree`` with the reason; ``safelist`` puts the content on the local
        safelist) or escalate. Confirm and false positive release the item's flood holds."""
        who = actor or local_actor()
        reason = checked_text(reason, what="a decision's reason", limit=MAX_REASON)
        found = self.review_item(item_id, max_tlp=max_tlp)
        if found.status is ItemStatus.DECIDED:
            raise AlreadyExists(
                f"review item {item_id} is decided already (undo it first: accord review undo)"
            )
        if found.status is ItemStatus.APPEALED:
            raise InvalidInput(
                f"review item {item_id} is under appeal: decide the appeal (accord appeal decide)"
            )
        if safelist and decision is not Decision.FALSE_POSITIVE:
            raise InvalidInput("only a false-positive decision puts the content on the safelist")
        ids = [m.indicator_id for m in found.matches]
        status = ItemStatus.ESCALATED if decision is Decision.ESCALATE else ItemStatus.DECIDED
        opinions: list[str] = []
        seqs: list[int] = []
        with self._claimed(item_id, found.status, status):
            if decision is not Decision.ESCALATE:
                value = OpinionValue.AGREE if decision is Decision.CONFIRM else OpinionValue.DISAGREE
                opinions, seqs = self._state_opinions(ids, value=value, reason=reason)
        if decision is Decision.CONFIRM:
            self.counter.record(ids)  # a confirmed match is a sighting (sent to partners that opted in)
        record = ReviewDecision(0, item_id, decision, reason, who, utc_now(), tuple(opinions), safelist)
        self._record_decision(record, status=status, release=decision is not Decision.ESCALATE, ids=ids)
        details = {"item": item_id, "decision": decision.value, "indicator_ids": ids, "entries": seqs}
        self.audit.record("review-decision", details | {"safelisted": safelist}, actor=who)
        return self._item(item_id)

    @contextmanager
    def _claimed(self, item_id: int, current: ItemStatus, to: ItemStatus) -> Iterator[None]:
        """Take the item out of ``current`` before publishing anything, so two reviewers cannot
        both publish for it; if publishing fails, the item goes back to ``current``."""
        with self.store.write() as tx:
            if not rows.claim_item(tx, item_id, expected=current, to=to, at=utc_now()):
                raise AlreadyExists(f"review item {item_id} was decided meanwhile by another reviewer")
        try:
            yield
        except BaseException:
            with self.store.write() as tx:
                rows.claim_item(tx, item_id, expected=to, to=current, at=utc_now())
            raise

    def _record_decision(
        self, record: ReviewDecision, *, status: ItemStatus, release: bool, ids: Sequence[str]
    ) -> int:
        """Store the decision, the item's new status, safelist entries and released holds."""
        added: list[Signal] = []
        with self.store.write() as tx:
            decision_id = rows.insert_decision(tx, record)
            rows.set_item_status(tx, record.item_id, status, at=record.decided_at)
            if record.safelisted:
                added = rows.query_signals(tx, record.item_id)
                rows.add_safelist(tx, added, decision_id=decision_id, at=record.decided_at)
            if release:
                self.flood.release(tx, ids, by=record.reviewer)
        self._follow_safelist(added)
        return decision_id

    def _state_opinions(
        self, indicator_ids: Sequence[str], *, value: OpinionValue, reason: str | None
    ) -> tuple[list[str], list[int]]:
        """Publish our opinion of the others' live indicators among ``indicator_ids`` (an
        origin's opinion of its own indicators adds nothing); returns their ids and the seqs."""
        targets = self._opinable(indicator_ids)
        if not targets:
            return [], []
        seqs = self.opinions.state(targets, value=value, explanation=reason)
        return [i.id for i in targets], [int(s) for s in seqs]

    def _opinable(self, indicator_ids: Sequence[str]) -> list[Indicator]:
        found = self.store.indicators_by_id(indicator_ids)
        return [i for i in found.values() if not i.revoked and i.origin != self.origin]

    def undo_review(self, item_id: int, *, actor: str | None = None, max_tlp: Tlp = Tlp.RED) -> ReviewItem:
        """Undo the item's current decision within ``review.undo_seconds``: withdraw the opinion
        it published, take its safelist entries off, and put the item back in the queue.
        (Flood holds it released stay released; a sighting already sent stays sent.)"""
        who = actor or local_actor()
        found = self.review_item(item_id, max_tlp=max_tlp)
        current = found.current_decision
        if current is None:
            raise NotFound(f"review item {item_id} has no decision to undo")
        if current.appeal_id is not None:
            raise InvalidInput("an appeal's decision is final; the user may appeal again")
        window = timedelta(seconds=self.config.review.undo_seconds)
        now = utc_now()
        if now - current.decided_at > window:
            raise InvalidInput(
                f"the undo window has passed (review.undo_seconds = {self.config.review.undo_seconds:g})"
            )
        seqs: list[int] = []
        targets = self._opinable(current.opinion_ids)
        if targets:
            try:
                seqs = [int(s) for s in self.opinions.withdraw(targets)]
            except NotFound:  # withdrawn another way meanwhile (accord withdraw): nothing to undo there
                seqs = []
        with self.store.write() as tx:
            rows.mark_undone(tx, current.id, by=who, at=now)
            rows.set_item_status(tx, item_id, ItemStatus.OPEN, at=now)
            removed = rows.remove_safelist(tx, current.id)
        self._follow_safelist(removed)
        details = {"item": item_id, "decision": current.decision.value, "entries": seqs}
        self.audit.record("review-undo", details, actor=who)
        return self._item(item_id)

    def _follow_safelist(self, changed: Sequence[Signal]) -> None:
        """A decision of ours changed the reviewers' safelist: apply it before returning."""
        if changed and self.review_safelist.follow():
            self.matcher.safelist_changed()

    # --- appeals -----------------------------------------------------------------------------

    def add_appeal(self, content_id: str, statement: str, *, actor: str | None = None) -> Appeal:
        """A user's appeal against the action on ``content_id``: the content's confirmed item
        re-enters the queue (status ``appealed``) with its original decision shown."""
        who = actor or local_actor()
        checked = checked_text(statement, what="an appeal's statement", limit=MAX_STATEMENT)
        if checked is None:
            raise InvalidInput("an appeal needs the user's statement")
        ContentRef(id=content_id)  # the same rules as a submitted content id
        item_id = rows.latest_decided_item(self.store, content_id)
        found = None if item_id is None else rows.item(self.store, item_id)
        current = None if found is None else found.current_decision
        if found is not None and found.status is ItemStatus.APPEALED:
            raise AlreadyExists(f"an appeal of that content is open already (item {found.id})")
        if found is None or current is None or current.decision is not Decision.CONFIRM:
            raise NotFound(
                "no confirmed review decision on that content to appeal (an appeal contests"
                " an action a reviewer confirmed; submit other content for review first)"
            )
        now = utc_now()
        with self.store.write() as tx:
            appeal_id = rows.insert_appeal(tx, Appeal(0, content_id, found.id, checked, who, now))
            rows.set_item_status(tx, found.id, ItemStatus.APPEALED, at=now)
        self.audit.record("appeal-add", {"appeal": appeal_id, "item": found.id}, actor=who)
        return self._appeal(appeal_id)

    def appeals(self, *, open_only: bool = False, max_tlp: Tlp = Tlp.RED) -> list[Appeal]:
        """Appeals (newest first) whose item a reviewer cleared up to ``max_tlp`` may see."""
        found = rows.appeals(self.store, open_only=open_only)
        items = {i.id: i for i in rows.items_by_id(self.store, sorted({a.item_id for a in found}))}
        return [a for a in found if a.item_id in items and items[a.item_id].visible_to(max_tlp)]

    def decide_appeal(
        self,
        appeal_id: int,
        outcome: AppealOutcome,
        *,
        reason: str | None = None,
        safelist: bool = False,
        actor: str | None = None,
        max_tlp: Tlp = Tlp.RED,
    ) -> Appeal:
        """Uphold the original decision, or reverse it: a reversal disputes the indicators as a
        false positive would (our ``agree`` becomes ``disagree`` with the reason)."""
        who = actor or local_actor()
        reason = checked_text(reason, what="a decision's reason", limit=MAX_REASON)
        appeal = self._appeal(appeal_id)
        found = self.review_item(appeal.item_id, max_tlp=max_tlp)
        if appeal.outcome is not AppealOutcome.OPEN:
            raise AlreadyExists(f"appeal {appeal_id} was decided already ({appeal.outcome.value})")
        if outcome is AppealOutcome.OPEN:
            raise InvalidInput("an appeal is decided with uphold or reverse")
        if safelist and outcome is not AppealOutcome.REVERSED:
            raise InvalidInput("only a reversal puts the content on the safelist")
        ids = [m.indicator_id for m in found.matches]
        seqs: list[int] = []
        now = utc_now()
        opinions: list[str] = []
        with self._claimed(found.id, ItemStatus.APPEALED, ItemStatus.DECIDED):
            if outcome is AppealOutcome.REVERSED:
                opinions, seqs = self._state_opinions(ids, value=OpinionValue.DISAGREE, reason=reason)
        if outcome is AppealOutcome.REVERSED:
            record = ReviewDecision(
                0, found.id, Decision.FALSE_POSITIVE, reason, who, now, tuple(opinions), safelist, appeal_id
            )
            self._record_decision(record, status=ItemStatus.DECIDED, release=True, ids=ids)
        with self.store.write() as tx:
            rows.settle_appeal(tx, appeal_id, outcome, by=who, at=now, reason=reason)
            rows.set_item_status(tx, found.id, ItemStatus.DECIDED, at=now)
        details = {"appeal": appeal_id, "item": found.id, "outcome": outcome.value, "entries": seqs}
        self.audit.record("appeal-decision", details, actor=who)
        return self._appeal(appeal_id)

    def _appeal(self, appeal_id: int) -> Appeal:
        found = rows.appeal(self.store, appeal_id)
        if found is None:
            raise NotFound(f"no appeal {appeal_id} (see 'accord appeal list')")
        return found

    # --- metrics -----------------------------------------------------------------------------

    def review_metrics(self) -> QueueMetrics:
        """Depth, age of the oldest waiting item, decisions in the last hour (per reviewer)."""
        now = utc_now()
        waiting = rows.items_by_id(self.store, rows.waiting_ids(self.store))
        by_status: dict[str, int] = {}
        for item in waiting:
            by_status[item.status.value] = by_status.get(item.status.value, 0) + 1
        oldest = min((i.created_at for i in waiting), default=None)
        recent = rows.decisions_since(self.store, now - timedelta(hours=1))
        per_reviewer: dict[str, int] = {}
        for reviewer, _ in recent:
            per_reviewer[reviewer] = per_reviewer.get(reviewer, 0) + 1
        return QueueMetrics(
            depth=len(waiting),
            by_status=by_status,
            oldest_age_seconds=None if oldest is None else (now - oldest).total_seconds(),
            decisions_last_hour=len(recent),
            decisions_by_reviewer=per_reviewer,
            appeals_open=len(rows.appeals(self.store, open_only=True)),
            held=len(self.flood.held()),
        )
