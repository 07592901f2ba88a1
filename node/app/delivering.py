"""The deliverer: empties the outbox at least once, with retries, backoff and dead-lettering.

Inside ``accord serve`` it runs as a background thread (``accord delivery run`` runs one round
in the foreground). A round reads the due deliveries, POSTs each (signed, with its idempotency
key) and records the outcome, one short transaction per attempt AFTER the POST: a SIGKILL
between the POST and the record leaves the delivery pending, so it is sent again after the
restart (at-least-once; receivers deduplicate by key). Never the other way round: nothing is
marked delivered that was not answered 2xx.

A receiver that fails, hangs or is down costs one attempt per round: its other due deliveries
wait for the next round instead of each paying the timeout again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.config import ActionsSection
from node.errors import AccordError
from node.feed.private_files import read_private_file
from node.model.actions import Webhook
from node.model.clock import format_timestamp, utc_now
from node.model.deliveries import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    AttemptOutcome,
    Delivery,
    retry_delay,
    signature_header,
)
from node.store import Store, outbox
from node.taxii.webhooks import PostLimits, WebhookSender, check_webhook_url

log = logging.getLogger(__name__)

ROUND_SIZE = 100  # deliveries one round reads; the rest wait for the next round


@dataclass(frozen=True, slots=True)
class RoundReport:
    """What one round did."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0  # skipped because their webhook already failed in this round


@dataclass(slots=True)
class _Tally:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0

    def report(self) -> RoundReport:
        return RoundReport(self.delivered, self.retrying, self.dead, self.deferred)


class Deliverer:
    """Sends due deliveries of one node's outbox."""

    def __init__(
        self,
        *,
        store: Store,
        home: Path,
        settings: Callable[[], ActionsSection],
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._home = home
        self._settings = settings
        self._clock = clock
        self._rand = rand
        # A webhook whose last attempt failed gets nothing before its retry time: a receiver
        # that hangs or is down costs one attempt per backoff step, not one per waiting delivery.
        self._blocked: dict[str, float] = {}

    def run_round(self) -> RoundReport:
        """Try every due delivery once (see the module doc)."""
        due = outbox.due_deliveries(self._store, now=self._clock(), limit=ROUND_SIZE)
        tally = _Tally()
        if not due:
            return tally.report()
        hooks = outbox.webhooks(self._store)
        settings = self._settings()
        limits = PostLimits(
            connect_seconds=settings.connect_timeout_seconds, read_seconds=settings.read_timeout_seconds
        )
        failed: set[str] = set()  # webhooks that failed in this round
        with WebhookSender(limits) as sender:
            for delivery, body in due:
                if delivery.webhook in failed or self._blocked.get(delivery.webhook, 0.0) > self._clock():
                    tally.deferred += 1
                    continue
                outcome = self._attempt(sender, hooks.get(delivery.webhook), delivery, body)
                retry_at = self._record(delivery, outcome, tally)
                self._blocked.pop(delivery.webhook, None)
                if not outcome.delivered:
                    failed.add(delivery.webhook)
                if retry_at is not None:
                    self._blocked[delivery.webhook] = retry_at
        return tally.report()

    def _attempt(
        self, sender: WebhookSender, hook: Webhook | None, delivery: Delivery, body: bytes
    ) -> AttemptOutcome:
        settings = self._settings()
        if hook is None:
            return AttemptOutcome(status=None, error=f"webhook {delivery.webhook!r} was removed")
        try:
            check_webhook_url(hook.url, allow_plain_http=settings.allow_plain_http)
            secret = read_private_file(self._home / hook.secret_file, what="webhook secret").strip()
        except (AccordError, ValueError) as exc:  # a refused URL, an unreadable secret
            return AttemptOutcome(status=None, error=str(exc))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "accord-webhook/1",
            SIGNATURE_HEADER: signature_header(secret, int(self._clock()), body),
            IDEMPOTENCY_HEADER: delivery.key,
            "Accord-Delivery-Attempt": str(delivery.attempts + 1),
        }
        return sender.post(hook.url, body, headers=headers)

    def _record(self, delivery: Delivery, outcome: AttemptOutcome, tally: _Tally) -> float | None:
        """Record one attempt; returns when the delivery is tried next (None: delivered or dead)."""
        settings = self._settings()
        at = format_timestamp(utc_now())
        attempts = delivery.attempts + 1
        with self._store.write() as tx:
            if outcome.delivered and outcome.status is not None:
                outbox.record_delivered(tx, delivery.id, status=outcome.status, at=at)
                tally.delivered += 1
                return None
            retry_at = None
            if attempts < settings.max_attempts:
                delay = retry_delay(
                    attempts,
                    base=settings.retry_base_seconds,
                    cap=settings.retry_max_seconds,
                    rand=self._rand,
                )
                retry_at = self._clock() + delay
            error = outcome.error or "failed"
            outbox.record_failed(
                tx, delivery.id, status=outcome.status, error=error, at=at, retry_at=retry_at
            )
        if retry_at is None:
            tally.dead += 1
            log.warning(
                "webhook %s: delivery %d dead-lettered after %d attempt(s): %s (accord delivery replay %d)",
                delivery.webhook,
                delivery.id,
                attempts,
                error,
                delivery.id,
            )
        else:
            tally.retrying += 1
            log.info(
                "webhook %s: delivery %d attempt %d failed: %s",
                delivery.webhook,
                delivery.id,
                attempts,
                error,
            )
        return retry_at

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Rounds until ``stop``: every ``actions.poll_seconds``, or at once when ``wake`` is set."""
        while not stop.is_set():
            wake.clear()
            try:
                report = self.run_round()
            except Exception:  # a broken round must not end deliveries for good: log, try again
                log.exception("webhook delivery round failed; retrying at the next poll")
                report = RoundReport()
            if report.delivered or report.retrying or report.dead:
                continue  # more may be due at once
            wake.wait(self._settings().poll_seconds)


def start_deliverer(deliverer: Deliverer, stop: threading.Event, wake: threading.Event) -> threading.Thread:
    """The deliverer as a daemon thread (it stops when ``stop`` and ``wake`` are set)."""
    thread = threading.Thread(target=deliverer.run, args=(stop, wake), name="webhook-deliverer", daemon=True)
    thread.start()
    return thread
