"""The review queue and appeals over the real HTTP API on loopback: roles, TLP, audit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from node.app.http_api import http_server
from node.http.server import HttpServer
from node.model import KeyId, Tlp
from node.model.accounts import Role
from tests.review.conftest import Pair, configure

ACCOUNTS = {
    "admin": (Role.ADMIN, Tlp.RED),
    "reviewer": (Role.REVIEWER, Tlp.AMBER),
    "green-reviewer": (Role.REVIEWER, Tlp.GREEN),
    "analyst": (Role.ANALYST, Tlp.RED),
    "matcher": (Role.MATCHER, Tlp.AMBER),
}
ROUTES = [
    ("GET", "/v1/review"),
    ("GET", "/v1/review/metrics"),
    ("GET", "/v1/review/1"),
    ("POST", "/v1/review/1/decision"),
    ("POST", "/v1/review/1/undo"),
    ("POST", "/v1/appeals"),
    ("GET", "/v1/appeals"),
    ("POST", "/v1/appeals/1/decision"),
]


@dataclass(slots=True)
class Served:
    pair: Pair
    server: HttpServer
    tokens: dict[str, str]
    items: dict[str, int]  # tlp -> item id
    red_indicator: str

    def client(self, account: str | None = None) -> httpx.Client:
        headers = {} if account is None else {"Authorization": f"Bearer {self.tokens[account]}"}
        return httpx.Client(base_url=f"http://127.0.0.1:{self.server.port}", headers=headers, timeout=30)


@pytest.fixture
def served(pair: Pair) -> Iterator[Served]:
    node = pair.platform.node
    pair.ngo.publish(3, n=1, tlp=Tlp.RED, to=frozenset({KeyId(node.key_id)}))
    pair.sync()
    items = {}
    for tlp, seed in (("green", 1), ("amber", 2), ("red", 3)):
        item = pair.submit(f"upload-{tlp}", seed)
        assert item is not None and item.matches[0].tlp.value == tlp
        items[tlp] = item.id
    red = node.review_item(items["red"]).matches[0].indicator_id
    tokens = {name: node.add_api_account(name, role=r, max_tlp=t).token for name, (r, t) in ACCOUNTS.items()}
    configure(pair.platform, "http", rate_burst=10_000, rate_per_second=10_000.0)
    server = http_server(node, "127.0.0.1:0")
    server.start()
    yield Served(pair, server, tokens, items, red)
    server.stop()


def _call(client: httpx.Client, method: str, path: str, body: object | None = None) -> httpx.Response:
    return client.request(method, path, json=body if body is not None else ({} if method == "POST" else None))


def test_every_review_route_needs_a_token_and_the_right_role(served: Served) -> None:
    with served.client() as anonymous:
        for method, path in ROUTES:
            assert _call(anonymous, method, path).status_code == 401, (method, path)
    with served.client("analyst") as analyst:
        for method, path in ROUTES:
            response = _call(analyst, method, path)
            assert response.status_code == 403, (method, path)
            assert response.headers["content-type"] == "application/problem+json"
    with served.client("matcher") as matcher:
        for method, path in ROUTES:
            if (method, path) != ("POST", "/v1/appeals"):
                assert _call(matcher, method, path).status_code == 403, (method, path)
    with served.client("reviewer") as reviewer:
        assert (
            _call(reviewer, "POST", "/v1/appeals", {"content_id": "x", "statement": "y"}).status_code == 403
        )


def test_a_reviewer_sees_only_items_within_their_tlp_and_nothing_about_red_leaks(served: Served) -> None:
    def listed(account: str) -> list[int]:
        with served.client(account) as client:
            return [i["id"] for i in client.get("/v1/review").json()["items"]]

    items = served.items
    assert listed("admin") == [items["green"], items["amber"], items["red"]]
    assert listed("reviewer") == [items["green"], items["amber"]]
    assert listed("green-reviewer") == [items["green"]]
    with served.client("reviewer") as reviewer:
        for method, path, body in (
            ("GET", f"/v1/review/{items['red']}", None),
            ("POST", f"/v1/review/{items['red']}/decision", {"decision": "confirm"}),
            ("POST", f"/v1/review/{items['red']}/undo", None),
            ("GET", "/v1/review/999", None),
        ):
            response = _call(reviewer, method, path, body)
            assert response.status_code == 404, path  # the same answer as an item that does not exist
            assert served.red_indicator not in response.text and "red" not in response.text.lower()
        everything = reviewer.get("/v1/review").text + reviewer.get("/v1/appeals").text
        assert served.red_indicator not in everything
    assert served.pair.platform.node.review_item(items["red"]).current_decision is None  # nothing decided


def test_decisions_and_undo_over_http_are_audited_with_the_account(served: Served) -> None:
    item_id = served.items["amber"]
    with served.client("reviewer") as reviewer:
        bad = [
            ({"decision": "maybe"}, "unknown decision"),
            ({"decision": "confirm", "extra": 1}, "unknown field"),
            ({"decision": "confirm", "safelist": "yes"}, "true or false"),
            ([], "JSON object"),
        ]
        for body, message in bad:
            response = reviewer.post(f"/v1/review/{item_id}/decision", json=body)
            assert response.status_code == 400 and message in response.json()["detail"]
        assert reviewer.post("/v1/review/abc/decision", json={"decision": "confirm"}).status_code == 400

        decided = reviewer.post(
            f"/v1/review/{item_id}/decision", json={"decision": "false-positive", "reason": "benign"}
        )
        assert decided.status_code == 200, decided.text
        shown = decided.json()
        assert shown["status"] == "decided" and shown["decision"]["reviewer"] == "api:reviewer"
        assert (
            reviewer.post(f"/v1/review/{item_id}/decision", json={"decision": "confirm"}).status_code == 409
        )
        undone = reviewer.post(f"/v1/review/{item_id}/undo")
        assert undone.status_code == 200 and undone.json()["status"] == "open"
        metrics = reviewer.get("/v1/review/metrics").json()
        assert metrics["depth"] == 3 and metrics["decisions_by_reviewer"] == {}  # the undone one is gone

    actions = [(r.action, r.actor) for r in served.pair.platform.node.audit.records()]
    assert ("review-decision", "api:reviewer") in actions and ("review-undo", "api:reviewer") in actions


def test_a_platform_appeals_on_its_users_behalf_and_a_reviewer_reverses(served: Served) -> None:
    item_id = served.items["green"]
    with served.client("reviewer") as reviewer:
        assert (
            reviewer.post(f"/v1/review/{item_id}/decision", json={"decision": "confirm"}).status_code == 200
        )
    with served.client("matcher") as matcher:
        refused = matcher.post("/v1/appeals", json={"content_id": "upload-amber", "statement": "mine"})
        assert refused.status_code == 404  # nothing confirmed on that content
        created = matcher.post(
            "/v1/appeals", json={"content_id": "upload-green", "statement": "my own photo"}
        )
        assert created.status_code == 201, created.text
        appeal = created.json()
        assert appeal["submitted_by"] == "api:matcher" and appeal["item_id"] == item_id
    with served.client("reviewer") as reviewer:
        [listed] = reviewer.get("/v1/appeals", params={"open": "true"}).json()["appeals"]
        assert listed["id"] == appeal["id"]
        shown = reviewer.get(f"/v1/review/{item_id}").json()
        assert shown["status"] == "appealed" and shown["decision"]["decision"] == "confirm"
        decided = reviewer.post(
            f"/v1/appeals/{appeal['id']}/decision", json={"outcome": "reverse", "reason": "benign"}
        )
        assert decided.status_code == 200 and decided.json()["outcome"] == "reversed"
    with served.client("admin") as admin:
        status = admin.get("/v1/status").json()
        assert status["review"]["depth"] == 2 and status["review"]["appeals_open"] == 0


def test_oversized_and_malformed_appeals_are_refused_before_anything_is_stored(served: Served) -> None:
    with served.client("matcher") as matcher:
        huge = matcher.post("/v1/appeals", json={"content_id": "upload-green", "statement": "x" * 100_000})
        assert huge.status_code == 413
        long = matcher.post("/v1/appeals", json={"content_id": "upload-green", "statement": "x" * 5000})
        assert long.status_code == 400  # over the statement limit, but within the body limit
        assert (
            matcher.post(
                "/v1/appeals", content=b"{not json", headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
        assert matcher.post("/v1/appeals", json={"content_id": 5, "statement": "s"}).status_code == 400
    assert served.pair.platform.node.appeals() == []
