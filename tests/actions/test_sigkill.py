"""SIGKILL during delivery loses no accepted delivery (issue 14).

A real ``accord serve`` subprocess empties the outbox to real loopback receivers: a steady one
(answers after 0.3 s), one that fails (500) and one that hangs, until the last run, when both
recover. The node is SIGKILLed while a POST to the steady receiver is in flight, several times,
and more deliveries are accepted (``accord action run``) while it serves. In the end every
accepted delivery arrived at least once (receivers deduplicate by idempotency key), none is
lost, and each kill in flight shows as a duplicate that the key makes harmless.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from node.app import AccordNode, init_home
from node.model import ContentType, Distribution, Tlp
from node.model.actions import Rule, RuleCondition
from node.model.review import ContentRef
from node.sync.publish import Contribution
from tests.actions.conftest import GREEN, signal_of
from tests.actions.receiver import Receiver, receiver
from tests.support.processes import ServeProcess, accord, free_port, wait_for

CONTENTS = 15  # pieces of content acted on before the first start; 3 webhooks each
KILLS = 3  # each lands while the steady receiver holds an unanswered POST
ENV = {
    "ACCORD_ACTIONS_POLL_SECONDS": "0.1",
    "ACCORD_ACTIONS_RETRY_BASE_SECONDS": "0.2",
    "ACCORD_ACTIONS_RETRY_MAX_SECONDS": "1",
    "ACCORD_ACTIONS_READ_TIMEOUT_SECONDS": "1",
    "ACCORD_ACTIONS_MAX_ATTEMPTS": "1000",
}


def prepare(home: Path, receivers: dict[str, Receiver]) -> set[str]:
    """A node with indicators, three webhooks and a rule; CONTENTS acted on. Returns the keys."""
    init_home(home, name="Platform")
    node = AccordNode.open(home)
    try:
        items = [Contribution(signal_of(GREEN), ContentType.IMAGE, 100)]
        node.publisher.contribute(items, category="csam", distribution=Distribution(tlp=Tlp.GREEN))
        node.load_lists()
        for name, server in receivers.items():
            node.add_webhook(name, server.url)
        node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=tuple(receivers)))
        results = node.matcher.match([signal_of(GREEN)])
        plans = [node.act_on(ContentRef(f"upload-{n}"), results, None) for n in range(CONTENTS)]
    finally:
        node.close()
    return {d.key for plan in plans for d in plan.deliveries}


def outbox_states(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "accord.db") as conn:
        return dict(conn.execute("SELECT key, state FROM outbox").fetchall())


def serve(home: Path, log: Path) -> ServeProcess:
    return ServeProcess(home, listen=free_port(), local=free_port(), log=log, env=ENV, ready_timeout=120)


def test_sigkill_during_delivery_loses_no_accepted_delivery(tmp_path: Path) -> None:
    home = tmp_path / "node"
    with receiver(delay=0.3) as steady, receiver("fail") as failing, receiver("hang") as hanging:
        receivers = {"steady": steady, "failing": failing, "hanging": hanging}
        accepted = prepare(home, receivers)
        assert len(accepted) == 3 * CONTENTS
        for run in range(KILLS):
            node = serve(home, tmp_path / f"serve-{run}.log")
            target = len(steady.received) + 2  # a fresh POST, not the re-sent one

            def in_flight(target: int = target) -> bool:
                return len(steady.received) >= target and steady.in_flight > 0

            wait_for(in_flight, timeout=120, interval=0.01)
            node.process.send_signal(signal.SIGKILL)  # the steady receiver holds an unanswered POST
            node.process.wait()
            node.stop()
        assert "pending" in set(outbox_states(home).values())  # work was left when killed
        failing.behaviour = hanging.behaviour = "ok"  # both receivers recover
        hanging.release.set()
        node = serve(home, tmp_path / "serve-final.log")
        try:  # accepted while serving, through the CLI and the running node's lists
            made = accord(
                "action",
                "run",
                "--home",
                home,
                "--signal",
                str(signal_of(GREEN)),
                "--content-id",
                "live-1",
                env=ENV,
            )
            assert made.returncode == 0, made.stderr
            accepted |= set(outbox_states(home)) - accepted
            assert len(accepted) == 3 * (CONTENTS + 1)
            wait_for(lambda: set(outbox_states(home).values()) == {"delivered"}, timeout=180)
        finally:
            assert node.stop() == 0
        states = outbox_states(home)
        received = [r.key for server in receivers.values() for r in server.received]
    assert set(states) == accepted  # nothing accepted went missing from the outbox
    assert accepted <= set(received)  # every accepted delivery arrived at least once
    for name, server in receivers.items():
        assert server.keys == {k for k in accepted if k in server.keys}, name  # nothing unexpected
    duplicates = len(steady.received) - len(steady.keys)
    assert duplicates >= KILLS  # each kill in flight re-sent its delivery: at least once, deduplicated by key
