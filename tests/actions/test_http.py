"""GET /v1/deliveries and POST /v1/deliveries/{id}/replay on the real HTTP API (admin only)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from node.app import AccordNode
from node.app.delivering import Deliverer
from node.app.http_api import http_server
from node.http.server import HttpServer
from node.model import Tlp
from node.model.accounts import Role
from node.model.actions import Rule, RuleCondition
from node.model.review import ContentRef
from tests.actions.conftest import GREEN, fast_actions, matched, signal_of
from tests.actions.receiver import receiver


@dataclass
class Api:
    server: HttpServer
    tokens: dict[str, str]

    def client(self, account: str | None) -> httpx.Client:
        headers = {} if account is None else {"Authorization": f"Bearer {self.tokens[account]}"}
        return httpx.Client(base_url=f"http://127.0.0.1:{self.server.port}", headers=headers, timeout=30)


@pytest.fixture
def api(node: AccordNode) -> Iterator[Api]:
    tokens = {
        role.value: node.add_api_account(role.value, role=role, max_tlp=Tlp.RED).token
        for role in (Role.ADMIN, Role.ANALYST, Role.MATCHER, Role.REVIEWER)
    }
    server = http_server(node, "127.0.0.1:0")
    server.start()
    yield Api(server, tokens)
    server.stop()


def test_an_admin_lists_and_replays_deliveries(node: AccordNode, api: Api) -> None:
    fast_actions(node, max_attempts=1)
    with receiver("fail") as hook:
        node.add_webhook("hook", hook.url)
        node.add_rule(Rule(name="all", when=RuleCondition(), webhooks=("hook",)))
        node.act_on(ContentRef("upload-1"), matched(node, signal_of(GREEN)), None)
        sender = Deliverer(store=node.store, home=node.home.root, settings=lambda: node.config.actions)
        assert sender.run_round().dead == 1
        with api.client("admin") as admin:
            listed = admin.get("/v1/deliveries", params={"state": "dead"})
            assert listed.status_code == 200
            [row] = listed.json()["deliveries"]
            assert row["state"] == "dead" and row["last_status"] == 500 and row["content_id"] == "upload-1"
            assert admin.get("/v1/deliveries", params={"state": "pending"}).json() == {"deliveries": []}
            hook.behaviour = "ok"
            replayed = admin.post(f"/v1/deliveries/{row['id']}/replay")
            assert replayed.status_code == 200 and replayed.json()["state"] == "pending"
        assert sender.run_round().delivered == 1
        assert [r.key for r in hook.received] == [row["idempotency_key"]] * 2
    # the replay itself, then the HTTP API's generic line for the state-changing call
    assert [(r.action, r.actor) for r in node.audit.records()[-2:]] == [
        ("delivery-replay", "api:admin"),
        ("http-call", "api:admin"),
    ]


@pytest.mark.parametrize("account", ["analyst", "matcher", "reviewer"])
def test_other_roles_are_forbidden(api: Api, account: str) -> None:
    with api.client(account) as client:
        assert client.get("/v1/deliveries").status_code == 403
        assert client.post("/v1/deliveries/1/replay").status_code == 403


def test_no_token_is_401_and_bad_input_is_400_or_404(api: Api) -> None:
    with api.client(None) as anonymous:
        assert anonymous.get("/v1/deliveries").status_code == 401
        assert anonymous.post("/v1/deliveries/1/replay").status_code == 401
    with api.client("admin") as admin:
        assert admin.get("/v1/deliveries", params={"state": "lost"}).status_code == 400
        assert admin.get("/v1/deliveries", params={"limit": "0"}).status_code == 400
        assert admin.get("/v1/deliveries", params={"limit": "1' OR 1=1"}).status_code == 400
        assert admin.post("/v1/deliveries/1%20OR%201=1/replay").status_code == 400
        assert admin.post("/v1/deliveries/99/replay").status_code == 404
        assert admin.get("/v1/deliveries/1/replay").status_code == 405
