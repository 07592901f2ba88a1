"""Actions (issue 14): webhooks, rules, ``act_on`` and the outbox an admin looks at and replays.

One use-case family of :class:`node.app.node.AccordNode`. ``act_on`` evaluates the rules
against one piece of content's match results and, in ONE transaction, records the call and
accepts every webhook delivery into the outbox: once it returns, the deliveries survive a
SIGKILL, and the deliverer (:mod:`node.app.delivering`, inside ``accord serve``) sends them at
least once. The "review" outcome is returned in the plan for the review queue to take.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from node.app.parts import NodeParts
from node.errors import AlreadyExists, InvalidInput, NotFound
from node.feed.private_files import write_private_file
from node.model import MatchResult, Tlp
from node.model.action_shapes import condition_json
from node.model.actions import (
    ActionPlan,
    Firing,
    PlannedDelivery,
    Rule,
    Webhook,
    check_decision,
    fired_rules,
    idempotency_key,
    parse_action_name,
)
from node.model.clock import format_timestamp, utc_now
from node.model.deliveries import Delivery, DeliveryState
from node.model.match_filters import MatchFilter
from node.model.review import ContentRef
from node.model.shapes import match_result_json
from node.store import outbox
from node.taxii.webhooks import check_webhook_url

log = logging.getLogger(__name__)

SECRETS_DIR = "webhooks"  # under the home: one <name>.secret per webhook, mode 0600
SECRET_BYTES = 32  # 256-bit HMAC key
MAX_LISTED = 1000  # deliveries one listing returns at most


@dataclass(frozen=True, slots=True)
class NewWebhook:
    """A webhook just added, and where its secret is (hand it to the receiver)."""

    webhook: Webhook
    secret_path: str


@dataclass(frozen=True, slots=True)
class _Call:
    """One act_on call's content reference and time."""

    content_id: str
    content_url: str | None
    decision: str | None
    created: str


@dataclass(frozen=True, slots=True)
class _Body:
    """One delivery about to be accepted."""

    rule: str
    webhook: str
    key: str
    matches: int
    body: bytes


class ActingMixin(NodeParts):
    """Webhooks, rules, act_on, and the outbox."""

    outbox_wake: threading.Event  # set when this process accepted deliveries: the deliverer goes at once

    # --- webhooks --------------------------------------------------------------------------

    def add_webhook(self, name: str, url: str, *, max_tlp: Tlp = Tlp.AMBER_STRICT) -> NewWebhook:
        """Add a webhook and generate its secret file (mode 0600). Audited."""
        parse_action_name(name, what="webhook")
        check_webhook_url(url, allow_plain_http=self.config.actions.allow_plain_http)
        if name in outbox.webhooks(self.store):
            raise AlreadyExists(f"a webhook named {name!r} exists already")
        relative = f"{SECRETS_DIR}/{name}.secret"
        path = self.home.root / relative
        path.parent.mkdir(mode=0o700, exist_ok=True)
        write_private_file(path, (secrets.token_urlsafe(SECRET_BYTES) + "\n").encode(), replace=True)
        hook = Webhook(
            name=name, url=url, secret_file=relative, max_tlp=max_tlp, added_at=format_timestamp(utc_now())
        )
        try:
            with self.store.write() as tx:
                outbox.insert_webhook(tx, hook)
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"a webhook named {name!r} exists already") from exc
        self.audit.record("webhook-add", {"webhook": name, "url": url, "max_tlp": max_tlp.value})
        log.info("added webhook %s (%s)", name, url)
        return NewWebhook(webhook=hook, secret_path=str(path))

    def webhooks(self) -> list[Webhook]:
        """Every webhook, by name (never a secret)."""
        return list(outbox.webhooks(self.store).values())

    def remove_webhook(self, name: str) -> None:
        """Remove a webhook and its secret; refused while a rule POSTs to it. Its pending
        deliveries are dead-lettered by the deliverer (visible, replayable once re-added)."""
        users = outbox.rules_naming(self.store, name)
        if users:
            raise InvalidInput(f"rule(s) {', '.join(users)} POST to webhook {name!r}: remove them first")
        hook = outbox.webhooks(self.store).get(name)
        with self.store.write() as tx:
            if hook is None or not outbox.delete_webhook(tx, name):
                raise NotFound(f"no webhook named {name!r} (see 'accord webhook list')")
        (self.home.root / hook.secret_file).unlink(missing_ok=True)
        self.audit.record("webhook-remove", {"webhook": name})

    # --- rules -----------------------------------------------------------------------------

    def add_rule(self, rule: Rule) -> None:
        """Add a rule (its webhooks must exist). Audited."""
        known = outbox.webhooks(self.store)
        missing = [h for h in rule.webhooks if h not in known]
        if missing:
            raise NotFound(f"no webhook named {', '.join(missing)} (add it with 'accord webhook add')")
        try:
            with self.store.write() as tx:
                outbox.insert_rule(tx, rule, added_at=format_timestamp(utc_now()))
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"a rule named {rule.name!r} exists already") from exc
        details = {"rule": rule.name, "when": condition_json(rule.when)}
        self.audit.record("rule-add", details | {"webhooks": list(rule.webhooks), "review": rule.review})

    def action_rules(self) -> list[Rule]:
        """Every rule, by name."""
        return outbox.rules(self.store)

    def remove_rule(self, name: str) -> None:
        """Remove a rule. Audited."""
        with self.store.write() as tx:
            if not outbox.delete_rule(tx, name):
                raise NotFound(f"no rule named {name!r} (see 'accord action rule list')")
        self.audit.record("rule-remove", {"rule": name})

    # --- acting ----------------------------------------------------------------------------

    def act_on(
        self,
        content: ContentRef,
        results: Sequence[MatchResult],
        decision: str | None,
        *,
        dry_run: bool = False,
    ) -> ActionPlan:
        """Evaluate the rules against ``results`` (one piece of the caller's content) and accept
        the webhook deliveries they call for into the outbox, in one transaction with the record
        of this call. ``dry_run``: the same plan, nothing written."""
        check_decision(decision)
        call = _Call(content.id, content.url, decision, format_timestamp(utc_now()))
        firings = fired_rules(self.action_rules(), results, decision)
        bodies, withheld = self._bodies(call, firings, outbox.webhooks(self.store))
        reviewers = tuple(f.rule.name for f in firings if f.rule.review)
        if bodies and not dry_run:
            planned = self._enqueue(call, bodies, firings, review=bool(reviewers))
            self.outbox_wake.set()
        else:
            planned = [PlannedDelivery(None, b.rule, b.webhook, b.key, b.matches, new=False) for b in bodies]
        return ActionPlan(
            content_id=content.id,
            content_url=content.url,
            decision=decision,
            fired=tuple(f.rule.name for f in firings),
            review=bool(reviewers),
            review_reasons=reviewers,
            deliveries=tuple(planned),
            withheld=tuple(withheld),
            dry_run=dry_run,
        )

    def _bodies(
        self, call: _Call, firings: Sequence[Firing], hooks: dict[str, Webhook]
    ) -> tuple[list[_Body], list[str]]:
        """One body per (fired rule, webhook); the webhooks withheld for their TLP ceiling."""
        bodies: list[_Body] = []
        withheld: list[str] = []
        for firing in firings:
            for name in firing.rule.webhooks:
                hook = hooks.get(name)
                if hook is None:  # removed after the rule was read: nothing to send to
                    continue
                visible = [MatchFilter(max_tlp=hook.max_tlp).apply(r) for r in firing.results]
                visible = [r for r in visible if r.matches]
                if not visible:
                    withheld.append(name)
                    continue
                bodies.append(self._body(call, firing.rule.name, name, visible))
        return bodies, withheld

    def _body(self, call: _Call, rule: str, webhook: str, visible: Sequence[MatchResult]) -> _Body:
        """The delivery's JSON, fixed now: every retry sends these bytes."""
        ids = sorted({m.indicator_id for r in visible for m in r.matches})
        key = idempotency_key(
            content_id=call.content_id, rule=rule, webhook=webhook, decision=call.decision, ids=ids
        )
        record = {
            "type": "accord.match",
            "version": 1,
            "idempotency_key": key,
            "rule": rule,
            "webhook": webhook,
            "content": {"id": call.content_id, "url": call.content_url},
            "decision": call.decision,
            "node": {"name": self.config.node.name, "key_id": self.key_id},
            "created": call.created,
            "results": [match_result_json(str(r.query), r) for r in visible],
        }
        body = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
        return _Body(rule, webhook, key, sum(len(r.matches) for r in visible), body)

    def _enqueue(
        self, call: _Call, bodies: Sequence[_Body], firings: Sequence[Firing], *, review: bool
    ) -> list[PlannedDelivery]:
        planned = []
        with self.store.write() as tx:  # the run and its deliveries commit together
            run = outbox.insert_run(
                tx,
                content_id=call.content_id,
                content_url=call.content_url,
                decision=call.decision,
                fired=[f.rule.name for f in firings],
                review=review,
                created=call.created,
            )
            for b in bodies:
                delivery_id, new = outbox.enqueue(
                    tx,
                    key=b.key,
                    run_id=run,
                    webhook=b.webhook,
                    rule=b.rule,
                    content_id=call.content_id,
                    body=b.body,
                    created=call.created,
                    due_at=time.time(),
                )
                planned.append(PlannedDelivery(delivery_id, b.rule, b.webhook, b.key, b.matches, new=new))
        log.info("content acted on: %d delivery(ies) accepted", sum(p.new for p in planned))
        return planned

    # --- the outbox ------------------------------------------------------------------------

    def deliveries(self, *, state: DeliveryState | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries, newest first."""
        if not 1 <= limit <= MAX_LISTED:
            raise InvalidInput(f"a delivery listing holds 1-{MAX_LISTED} rows")
        return outbox.deliveries(self.store, state=state, limit=limit)

    def replay_delivery(self, delivery_id: int, *, actor: str | None = None) -> Delivery:
        """Send a delivery again (same key and body, fresh attempt count, due now). Audited."""
        with self.store.write() as tx:
            if not outbox.replay(tx, delivery_id, now=time.time()):
                raise NotFound(f"no delivery {delivery_id} (see 'accord delivery list')")
        self.audit.record("delivery-replay", {"delivery": delivery_id}, actor=actor)
        self.outbox_wake.set()
        found = outbox.delivery(self.store, delivery_id)
        if found is None:  # replayed a moment ago; rows are never deleted
            raise NotFound(f"no delivery {delivery_id}")
        return found

    def delivery_summary(self) -> dict[str, Any]:
        """Counts per state (and per webhook) and the oldest pending delivery: for status."""
        counts = outbox.delivery_counts(self.store)
        totals = {s.value: 0 for s in DeliveryState}
        per_hook: dict[str, dict[str, int]] = {}
        for (hook, state), n in counts.items():
            totals[state.value] += n
            per_hook.setdefault(hook, {s.value: 0 for s in DeliveryState})[state.value] = n
        return totals | {"oldest_pending": outbox.oldest_pending(self.store), "webhooks": per_hook}
