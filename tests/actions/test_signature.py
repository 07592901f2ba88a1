"""The README's receiver example, run verbatim against real deliveries (and tampered ones)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from node.app import AccordNode
from node.app.delivering import Deliverer
from node.model.actions import Rule, RuleCondition
from node.model.review import ContentRef
from tests.actions.conftest import GREEN, matched, signal_of
from tests.actions.receiver import Received, receiver

README = Path(__file__).resolve().parents[2] / "README.md"

Verify = Callable[[bytes, str, bytes], bool]


def readme_verify() -> Verify:
    """The ```python block of the README's "Actions and webhooks" section, executed as is."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Actions and webhooks") :]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 10  # the promised size
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # our own README's example, verbatim
    return namespace["verify"]  # type: ignore[return-value]


def deliver(node: AccordNode, url: str, *, clock: Callable[[], float] = time.time) -> None:
    node.add_webhook("hook", url)
    node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=("hook",)))
    node.act_on(ContentRef("upload-1"), matched(node, signal_of(GREEN)), None)
    with node.store.write() as tx:  # due whatever the deliverer's clock says
        tx.execute("UPDATE outbox SET next_attempt_at = 0")
    settings = node.config.actions
    Deliverer(store=node.store, home=node.home.root, settings=lambda: settings, clock=clock).run_round()


def secret_of(node: AccordNode) -> bytes:
    return (node.home.root / "webhooks" / "hook.secret").read_bytes().strip()


def test_the_readme_example_accepts_a_real_delivery(node: AccordNode) -> None:
    verify = readme_verify()
    with receiver() as hook:
        verdicts: list[bool] = []

        def check(got: Received) -> bool:
            verdicts.append(verify(secret_of(node), got.headers["accord-signature"], got.body))
            return verdicts[-1]

        hook.check = check
        deliver(node, hook.url)
    assert verdicts == [True]
    assert node.deliveries()[0].last_status == 200  # the receiver acknowledged after verifying


def test_the_readme_example_refuses_tampering_a_wrong_secret_and_old_timestamps(node: AccordNode) -> None:
    verify = readme_verify()
    with receiver() as hook:
        deliver(node, hook.url)
        [got] = hook.received
    secret, header, body = secret_of(node), got.headers["accord-signature"], got.body
    assert verify(secret, header, body)
    assert not verify(secret, header, body.replace(b"upload-1", b"upload-2"))  # body changed
    assert not verify(b"not-the-secret", header, body)
    timestamp = re.search(r"t=(\d+)", header).group(1)  # type: ignore[union-attr]
    assert not verify(secret, header.replace(timestamp, str(int(timestamp) - 1)), body)  # re-dated
    assert not verify(secret, "v1=" + header.split("v1=")[1], body)  # no timestamp at all


@pytest.mark.parametrize("skew", [-600.0, 600.0])
def test_a_delivery_signed_ten_minutes_off_is_refused_by_the_receiver(node: AccordNode, skew: float) -> None:
    verify = readme_verify()
    with receiver() as hook:
        hook.check = lambda got: verify(secret_of(node), got.headers["accord-signature"], got.body)
        deliver(node, hook.url, clock=lambda: time.time() + skew)
        assert len(hook.received) == 1
    [delivery] = node.deliveries()
    assert delivery.last_status == 401 and delivery.state.value == "pending"  # refused, retried later
