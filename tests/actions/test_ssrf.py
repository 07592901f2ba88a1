"""The SSRF guard on webhook URLs: when a webhook is added, and again before every POST."""

from __future__ import annotations

import time

import pytest

from node.app import AccordNode
from node.app.delivering import Deliverer
from node.errors import InvalidInput
from node.model.actions import Rule, RuleCondition
from node.model.review import ContentRef
from node.taxii.webhooks import check_webhook_url
from tests.actions.conftest import GREEN, fast_actions, matched, signal_of
from tests.actions.receiver import receiver

REFUSED = {
    "file:///etc/passwd": "http:// or https://",
    "ftp://example.org/x": "http:// or https://",
    "gopher://127.0.0.1:70/": "http:// or https://",
    "http://example.org/hook": "plain http",
    "http://10.0.0.5/hook": "plain http",
    "http://127.example.net/hook": "plain http",  # a name, not a loopback address
    "https://user:pass@example.org/hook": "credentials",
    "https://exa mple.org/": "host name",
    "https://example.org/\n": "printable",
    "not a url": "http:// or https://",
}


@pytest.mark.parametrize("url", sorted(REFUSED))
def test_urls_that_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match=REFUSED[url]):
        check_webhook_url(url, allow_plain_http=False)


@pytest.mark.parametrize(
    "url",
    ["https://example.org/hook", "http://127.0.0.1:8080/hook", "http://[::1]:8080/", "http://localhost/x"],
)
def test_urls_that_are_accepted(url: str) -> None:
    assert check_webhook_url(url, allow_plain_http=False) == url


def test_plain_http_off_loopback_only_when_the_operator_allows_it() -> None:
    assert check_webhook_url("http://example.org/hook", allow_plain_http=True)
    with pytest.raises(InvalidInput):
        check_webhook_url("file:///etc/passwd", allow_plain_http=True)


def test_add_webhook_refuses_and_writes_nothing(node: AccordNode) -> None:
    with pytest.raises(InvalidInput, match="plain http"):
        node.add_webhook("outside", "http://example.org/hook")
    assert node.webhooks() == [] and not (node.home.root / "webhooks" / "outside.secret").exists()


def test_the_guard_is_checked_again_before_each_post(node: AccordNode) -> None:
    fast_actions(node, allow_plain_http=True)
    with receiver() as hook:
        node.add_webhook("hook", hook.url.replace("127.0.0.1", "localhost"))
        node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=("hook",)))
        with node.store.write() as tx:  # a URL the guard refuses, put in the database directly
            tx.execute("UPDATE webhooks SET url = 'file:///etc/passwd'")
        node.act_on(ContentRef("upload-1"), matched(node, signal_of(GREEN)), None)
        sender = Deliverer(store=node.store, home=node.home.root, settings=lambda: node.config.actions)
        time.sleep(0.01)
        assert sender.run_round().retrying == 1
        assert hook.received == []
    assert "http:// or https://" in (node.deliveries()[0].last_error or "")
