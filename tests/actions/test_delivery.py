"""The deliverer against real loopback receivers: delivered, failing (500), hanging, down,
redirecting and flooding ones; backoff, dead-lettering, replay, status and metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from prometheus_client import generate_latest

from node.app import AccordNode
from node.app.delivering import Deliverer
from node.app.metrics import NodeMetrics
from node.app.shapes import status_json
from node.model.actions import Rule, RuleCondition
from node.model.deliveries import DeliveryState
from node.model.review import ContentRef
from tests.actions.conftest import GREEN, fast_actions, matched, signal_of
from tests.actions.receiver import receiver
from tests.support.processes import free_port


@dataclass
class Clock:
    """A clock the test moves: retries become due when the test says so."""

    now: float

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(time.time() + 5)  # deliveries accepted during the test are due


def deliverer(node: AccordNode, clock: Clock) -> Deliverer:
    return Deliverer(store=node.store, home=node.home.root, settings=lambda: node.config.actions, clock=clock)


def act(node: AccordNode, *hooks: str, content: str = "upload-1") -> None:
    if not any(r.name == "all" for r in node.action_rules()):
        node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=hooks))
    node.act_on(ContentRef(content), matched(node, signal_of(GREEN)), None)


def test_a_delivery_arrives_signed_with_its_key_and_is_marked_delivered(
    node: AccordNode, clock: Clock
) -> None:
    with receiver() as ok:
        node.add_webhook("ok", ok.url)
        act(node, "ok")
        report = deliverer(node, clock).run_round()
        assert report.delivered == 1
        [got] = ok.received
    [delivery] = node.deliveries()
    assert (
        delivery.state is DeliveryState.DELIVERED and delivery.attempts == 1 and delivery.last_status == 200
    )
    assert got.key == delivery.key and got.headers["accord-signature"].startswith("t=")
    assert got.headers["accord-delivery-attempt"] == "1" and got.headers["content-type"] == "application/json"
    assert got.record()["results"][0]["matches"][0]["category"] == "csam"
    assert deliverer(node, clock).run_round().delivered == 0  # nothing sent twice


def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered(
    node: AccordNode, clock: Clock
) -> None:
    fast_actions(node, max_attempts=3, retry_base_seconds=10.0, retry_max_seconds=1000.0)
    with receiver("fail") as failing:
        node.add_webhook("failing", failing.url)
        act(node, "failing")
        sender = deliverer(node, clock)
        waits = []
        for attempt in (1, 2):
            assert sender.run_round().retrying == 1
            [pending] = node.deliveries()
            assert pending.state is DeliveryState.PENDING and pending.attempts == attempt
            assert pending.last_status == 500 and pending.last_error == "HTTP 500"
            assert pending.next_attempt_at is not None
            waits.append(pending.next_attempt_at - clock.now)
            assert sender.run_round().retrying == 0  # not due yet: not sent
            clock.now = pending.next_attempt_at
        assert 5.0 <= waits[0] <= 10.0 and 10.0 <= waits[1] <= 20.0  # exponential, jittered
        assert sender.run_round().dead == 1
        assert len(failing.received) == 3
        assert len({r.key for r in failing.received}) == 1  # one key across retries
    [dead] = node.deliveries(state=DeliveryState.DEAD)
    assert dead.attempts == 3 and dead.next_attempt_at is None
    assert status_json(node)["deliveries"]["dead"] == 1


def test_a_hanging_receiver_times_out_and_holds_back_only_its_own_deliveries(
    node: AccordNode, clock: Clock
) -> None:
    with receiver("hang") as hanging, receiver() as ok:
        node.add_webhook("hanging", hanging.url)
        node.add_webhook("ok", ok.url)
        for n in range(3):
            act(node, "hanging", "ok", content=f"upload-{n}")
        started = time.monotonic()
        report = deliverer(node, clock).run_round()
        elapsed = time.monotonic() - started
        assert report.delivered == 3 and report.retrying == 1 and report.deferred == 2
        assert elapsed < 3.0  # one read timeout (0.5 s), not one per waiting delivery
        assert len(hanging.received) == 1 and len(ok.received) == 3
    waiting = node.deliveries(state=DeliveryState.PENDING)
    assert len(waiting) == 3
    assert sorted(d.attempts for d in waiting) == [0, 0, 1]
    assert next(d for d in waiting if d.attempts).last_error.startswith("timed out")  # type: ignore[union-attr]


def test_a_receiver_that_is_down_is_retried_later(node: AccordNode, clock: Clock) -> None:
    node.add_webhook("down", f"http://127.0.0.1:{free_port()}/hook")
    act(node, "down")
    sender = deliverer(node, clock)
    assert sender.run_round().retrying == 1
    [pending] = node.deliveries()
    assert pending.state is DeliveryState.PENDING and pending.last_status is None
    assert "ConnectError" in (pending.last_error or "")
    assert sender.run_round().retrying == 0  # not before its retry time
    assert pending.next_attempt_at is not None
    clock.now = pending.next_attempt_at
    assert sender.run_round().retrying == 1
    assert node.deliveries()[0].attempts == 2


def test_redirects_are_not_followed(node: AccordNode, clock: Clock) -> None:
    with receiver() as target, receiver() as redirecting:
        redirecting.behaviour = f"redirect:{target.url}"
        node.add_webhook("redirecting", redirecting.url)
        act(node, "redirecting")
        assert deliverer(node, clock).run_round().retrying == 1
        assert target.received == []
    [pending] = node.deliveries()
    assert pending.last_status == 302 and "redirects are not followed" in (pending.last_error or "")


def test_a_huge_answer_is_not_read(node: AccordNode, clock: Clock) -> None:
    with receiver("huge") as huge:
        node.add_webhook("huge", huge.url)
        act(node, "huge")
        started = time.monotonic()
        assert deliverer(node, clock).run_round().delivered == 1
        assert time.monotonic() - started < 5.0  # 100 MB announced; a few KiB read


def test_an_admin_replays_a_dead_delivery_with_the_same_key(node: AccordNode, clock: Clock) -> None:
    fast_actions(node, max_attempts=1)
    with receiver("fail") as flaky:
        node.add_webhook("flaky", flaky.url)
        act(node, "flaky")
        sender = deliverer(node, clock)
        assert sender.run_round().dead == 1
        [dead] = node.deliveries(state=DeliveryState.DEAD)
        flaky.behaviour = "ok"
        again = node.replay_delivery(dead.id, actor="api:admin")
        assert again.state is DeliveryState.PENDING and again.attempts == 0
        assert sender.run_round().delivered == 1
        assert [r.key for r in flaky.received] == [dead.key, dead.key]
        assert flaky.received[0].body == flaky.received[1].body
    last = node.audit.records()[-1]
    assert (last.action, last.actor) == ("delivery-replay", "api:admin")


def test_a_removed_webhook_dead_letters_its_waiting_deliveries(node: AccordNode, clock: Clock) -> None:
    node.add_webhook("gone", f"http://127.0.0.1:{free_port()}/hook")
    node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=("gone",)))
    node.act_on(ContentRef("upload-1"), matched(node, signal_of(GREEN)), None)
    node.remove_rule("all")
    node.remove_webhook("gone")
    fast_actions(node, max_attempts=1)
    assert deliverer(node, clock).run_round().dead == 1
    assert "was removed" in (node.deliveries()[0].last_error or "")


def test_status_and_metrics_show_the_outbox(node: AccordNode, clock: Clock) -> None:
    with receiver() as ok:
        node.add_webhook("ok", ok.url)
        node.add_webhook("down", f"http://127.0.0.1:{free_port()}/hook")
        act(node, "ok", "down")
        deliverer(node, clock).run_round()
    summary = status_json(node)["deliveries"]
    assert (summary["pending"], summary["delivered"], summary["dead"]) == (1, 1, 0)
    assert summary["webhooks"]["down"]["pending"] == 1 and summary["oldest_pending"] is not None
    text = generate_latest(NodeMetrics(node).registry).decode()
    assert 'accord_webhook_deliveries{state="pending",webhook="down"} 1.0' in text
    assert 'accord_webhook_deliveries{state="delivered",webhook="ok"} 1.0' in text
    assert "accord_webhook_oldest_pending_seconds" in text
