"""Near queries, provenance and curation over HTTP (GET /v1/indicators/near, GET and POST
/v1/indicators[/{id}[/revoke|/expire|/relabel]]): the CLI's --json shapes, roles, the TLP
ceiling (a RED indicator is answered exactly like one the node does not hold), idempotent
contribution, audit with the account, and hostile input."""

from __future__ import annotations

import socket

import httpx
import pytest

from node.app import AccordNode
from node.app.shapes import provenance_json
from node.model import Tlp
from node.model.accounts import Role
from tests.http.conftest import AMBER_SEED, GREEN_SEED, RED_SEED, Served, signal_of
from tests.http.test_api import assert_problem
from tests.support.feeds import pdq_signal

MISSING_ID = "indicator--00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def more_tokens(published: AccordNode, served: Served) -> dict[str, str]:
    """An admin capped at AMBER, beside the conftest's accounts."""
    served.tokens["amber-admin"] = published.add_api_account(
        "amber-admin", role=Role.ADMIN, max_tlp=Tlp.AMBER
    ).token
    return served.tokens


def assert_400(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["reason"] in {"invalid_input", "invalid_signal"}


def ids_of(served: Served, seed: int, tlp: str) -> list[str]:
    with served.client("red-analyst") as client:
        rows = client.get("/v1/indicators", params={"tlp": tlp, "limit": "1000"}).json()["rows"]
    values = {signal_of(seed, j).value for j in range(3)}
    return sorted(r["id"] for r in rows if r["value"] in values)


# --- near ------------------------------------------------------------------------------------


def test_near_finds_indicators_within_the_distance_nearest_first(served: Served) -> None:
    green = signal_of(GREEN_SEED)
    with served.client("analyst") as client:
        response = client.get("/v1/indicators/near", params={"signal": str(green), "distance": "0"})
        wide = client.get("/v1/indicators/near", params={"signal": str(green), "distance": "64"})
    assert response.status_code == 200
    rows = response.json()["rows"]
    assert [r["value"] for r in rows] == [green.value] and rows[0]["distance"] == 0
    distances = [r["distance"] for r in wide.json()["rows"]]
    assert distances == sorted(distances) and distances[0] == 0
    assert set(response.json()) == {"rows", "truncated"}  # `accord query --near --json`


def test_near_never_shows_red_below_a_red_ceiling(served: Served) -> None:
    red = signal_of(RED_SEED)
    with served.client("analyst") as client:
        capped = client.get("/v1/indicators/near", params={"signal": str(red), "distance": "0"})
    with served.client("red-analyst") as client:
        allowed = client.get("/v1/indicators/near", params={"signal": str(red), "distance": "0"})
    assert capped.json() == {"rows": [], "truncated": False}
    assert [r["tlp"] for r in allowed.json()["rows"]] == ["red"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"signal": "md5:" + "0" * 32},
        {"signal": "pdq:zz"},
        {"signal": str(pdq_signal(1)), "distance": "999"},
        {"signal": str(pdq_signal(1)), "category": "csam"},
        {"signal": str(pdq_signal(1)), "distance": "1; DROP TABLE indicators"},
    ],
)
def test_bad_near_queries_are_400(served: Served, params: dict[str, str]) -> None:
    with served.client("analyst") as client:
        assert_400(client.get("/v1/indicators/near", params=params))


# --- provenance ----------------------------------------------------------------------------


def test_show_is_the_cli_show_json(served: Served) -> None:
    with served.client("analyst") as client:
        (row,) = client.get("/v1/indicators", params={"signal": str(signal_of(GREEN_SEED, 0))}).json()["rows"]
        first = row["id"]
        response = client.get(f"/v1/indicators/{first}")
        by_signal = client.get(f"/v1/indicators/{signal_of(GREEN_SEED, 0)}")
    assert response.status_code == 200
    expected = [provenance_json(p) for p in served.node.show(first, include_red=False)]
    assert response.json() == expected
    assert response.json()[0]["versions"] and response.json()[0]["id"] == first
    assert [item["id"] for item in by_signal.json()] == [first]
    shows = [r for r in served.node.audit.records() if r.action == "show" and r.actor == "api:analyst"]
    assert shows  # audited with the account


def test_a_red_indicator_is_answered_like_one_not_held(served: Served) -> None:
    (red_id, *_) = ids_of(served, RED_SEED, "red")
    with served.client("analyst") as client:
        red = client.get(f"/v1/indicators/{red_id}")
        missing = client.get(f"/v1/indicators/{MISSING_ID}")
        red_signal = client.get(f"/v1/indicators/{signal_of(RED_SEED)}")
    with served.client("red-analyst") as client:
        allowed = client.get(f"/v1/indicators/{red_id}")
    red_body = assert_problem(red, 404, "not_found")
    missing_body = assert_problem(missing, 404, "not_found")
    assert str(red_body["detail"]).replace(red_id, "ID") == str(missing_body["detail"]).replace(
        MISSING_ID, "ID"
    )
    assert_problem(red_signal, 404, "not_found")
    assert signal_of(RED_SEED).value not in red_signal.text
    assert allowed.status_code == 200 and allowed.json()[0]["tlp"] == "red"


@pytest.mark.parametrize(
    "target",
    ["indicator--x' OR '1'='1", "pdq:' OR 1=1 --", "nonsense", "indicator--" + "a" * 200],
)
def test_injection_in_the_path_is_400_and_harmless(served: Served, target: str) -> None:
    with served.client("analyst") as client:
        response = client.get(f"/v1/indicators/{target}")
        rows = client.get("/v1/indicators", params={"limit": "1000"}).json()["rows"]
    assert_400(response)
    assert len(rows) >= 6  # nothing was dropped


# --- contribute ------------------------------------------------------------------------------


def test_contribute_is_the_cli_json_and_idempotent(served: Served, more_tokens: dict[str, str]) -> None:
    new = str(pdq_signal(777_001))
    body = {"signals": [new], "category": "csam", "tlp": "green"}
    with served.client("admin") as client:
        first = client.post("/v1/indicators", json=body)
        again = client.post("/v1/indicators", json=body)
        rows = client.get("/v1/indicators", params={"signal": new}).json()["rows"]
    assert first.status_code == 200, first.text
    assert set(first.json()) == {
        "published",
        "entries",
        "added",
        "relabelled",
        "duplicates",
        "refused",
        "forced",
        "c2pa",
        "c2pa_note",
    }
    assert first.json()["published"] is True and first.json()["added"] == 1
    assert again.json()["published"] is False and again.json()["added"] == 0
    assert again.json()["duplicates"] == 1 and again.json()["entries"] == []
    assert len(rows) == 1  # no duplicate entry
    records = [r for r in served.node.audit.records() if r.action == "contribute"]
    assert records[-1].actor == "api:admin" and new.split(":")[1] not in records[-1].details


def test_a_bad_signal_or_body_refuses_the_whole_contribution(served: Served) -> None:
    with served.client("admin") as client:
        mixed = client.post(
            "/v1/indicators", json={"signals": [str(pdq_signal(777_002)), "pdq:nothex"], "category": "csam"}
        )
        bad = [
            client.post("/v1/indicators", content=b"{not json", headers={"Content-Type": "application/json"}),
            client.post("/v1/indicators", json={"signals": [], "category": "csam"}),
            client.post("/v1/indicators", json={"signals": ["md5:" + "1" * 32]}),
            client.post("/v1/indicators", json={"signals": ["md5:" + "1" * 32], "category": "csam", "x": 1}),
            client.post(
                "/v1/indicators", json={"signals": ["md5:" + "1" * 32], "category": "csam", "tlp": "pink"}
            ),
            client.post(
                "/v1/indicators", json={"signals": ["md5:" + "1" * 32], "category": "csam", "force": "yes"}
            ),
            client.post(
                "/v1/indicators",
                json={"signals": ["md5:" + "1" * 32], "category": "csam'; DROP TABLE indicators; --"},
            ),
        ]
        rows = client.get("/v1/indicators", params={"limit": "1000"}).json()["rows"]
    assert_400(mixed)  # like `accord contribute --signal`: nothing is half-published
    assert "nothex" not in mixed.text
    for response in bad:
        assert_400(response)
    assert len(rows) >= 6
    with served.client("admin") as client:
        assert client.get("/v1/indicators", params={"signal": str(pdq_signal(777_002))}).json()["rows"] == []


def test_contribute_needs_an_admin_whose_ceiling_is_red(served: Served, more_tokens: dict[str, str]) -> None:
    body = {"signals": [str(pdq_signal(777_003))], "category": "csam", "tlp": "red", "to": ["partner"]}
    with served.client("admin") as client:
        red = client.post("/v1/indicators", json=body)
    with served.client("amber-admin") as client:
        above = client.post("/v1/indicators", json=body)
        amber = client.post(
            "/v1/indicators", json={**body, "signals": [str(pdq_signal(777_004))], "tlp": "amber"}
        )
        # the RED signal again, at AMBER: a refusal would name TLP:RED, so no answer at all
        widen = client.post("/v1/indicators", json={**body, "tlp": "amber"})
    for account in ("analyst", "reviewer", "matcher", "red-matcher"):
        with served.client(account) as client:
            assert_problem(client.post("/v1/indicators", json=body), 403, "forbidden")
    with httpx.Client(base_url=served.url) as client:
        assert_problem(client.post("/v1/indicators", json=body), 401, "unauthenticated")
    assert red.status_code == 200 and red.json()["added"] == 1
    for response in (above, amber, widen):
        detail = str(assert_problem(response, 403, "forbidden")["detail"])
        assert "maximum TLP is red" in detail and "RED" not in detail
    with served.client("admin") as client:
        assert client.get("/v1/indicators", params={"signal": str(pdq_signal(777_004))}).json()["rows"] == []


def test_an_oversized_contribution_is_413(served: Served) -> None:
    signals = [str(pdq_signal(900_000 + i)) for i in range(1000)]  # ~70 KB of JSON > 64 KiB
    with served.client("admin") as client:
        response = client.post("/v1/indicators", json={"signals": signals, "category": "csam"})
    assert_problem(response, 413, "too_large")


# --- revoke, expire, relabel ------------------------------------------------------------------


def _contributed(served: Served, seed: int, tlp: str = "green", to: tuple[str, ...] = ()) -> str:
    signal = str(pdq_signal(seed))
    with served.client("admin") as client:
        response = client.post(
            "/v1/indicators", json={"signals": [signal], "category": "csam", "tlp": tlp, "to": list(to)}
        )
        assert response.status_code == 200 and response.json()["added"] == 1, response.text
        (row,) = client.get("/v1/indicators", params={"signal": signal, "tlp": tlp}).json()["rows"]
    return str(row["id"])


def test_revoke_expire_relabel_answer_the_cli_json(served: Served) -> None:
    revoked, expiring, relabelled = (_contributed(served, s) for s in (777_010, 777_011, 777_012))
    with served.client("admin") as client:
        revoke = client.post(f"/v1/indicators/{revoked}/revoke")
        again = client.post(f"/v1/indicators/{revoked}/revoke", json={})
        expire = client.post(f"/v1/indicators/{expiring}/expire", json={"at": "2099-01-31T00:00:00Z"})
        relabel = client.post(f"/v1/indicators/{relabelled}/relabel", json={"category": "ncii"})
        shown = client.get(f"/v1/indicators/{relabelled}").json()[0]
        status = client.get(f"/v1/indicators/{revoked}").json()[0]["status"]
    assert revoke.status_code == 200, revoke.text
    assert revoke.json() == {
        "action": "revoke",
        "updated": 1,
        "unchanged": 0,
        "entries": revoke.json()["entries"],
        "refused": [],
    }
    assert revoke.json()["entries"] and status == "revoked"
    assert again.json()["updated"] == 0  # idempotent: nothing left to revoke
    assert expire.json()["action"] == "expire" and expire.json()["updated"] == 1
    assert relabel.json()["action"] == "relabel" and relabel.json()["updated"] == 1
    assert shown["category"] == "ncii"
    actors = {r.actor for r in served.node.audit.records() if r.action in {"revoke", "expire", "relabel"}}
    assert actors == {"api:admin"}


def test_curation_respects_roles_and_the_tlp_ceiling(served: Served, more_tokens: dict[str, str]) -> None:
    (red_id, *_) = ids_of(served, RED_SEED, "red")
    (amber_id, *_) = ids_of(served, AMBER_SEED, "amber")
    with served.client("amber-admin") as client:
        red_revoke = client.post(f"/v1/indicators/{red_id}/revoke")
        missing = client.post(f"/v1/indicators/{MISSING_ID}/revoke")
        red_expire = client.post(f"/v1/indicators/{red_id}/expire", json={"at": "2099-01-01"})
        to_red = client.post(f"/v1/indicators/{amber_id}/relabel", json={"tlp": "red", "to": ["partner"]})
    red_body = assert_problem(red_revoke, 404, "not_found")
    missing_body = assert_problem(missing, 404, "not_found")
    assert str(red_body["detail"]).replace(red_id, "ID") == str(missing_body["detail"]).replace(
        MISSING_ID, "ID"
    )
    assert_problem(red_expire, 404, "not_found")
    assert_problem(to_red, 403, "forbidden")
    for account in ("analyst", "reviewer", "matcher"):
        with served.client(account) as client:
            for action in ("revoke", "expire", "relabel"):
                assert_problem(client.post(f"/v1/indicators/{amber_id}/{action}", json={}), 403, "forbidden")
    with httpx.Client(base_url=served.url) as client:
        assert_problem(client.post(f"/v1/indicators/{amber_id}/revoke"), 401, "unauthenticated")
    with served.client("red-analyst") as client:
        still = client.get(f"/v1/indicators/{red_id}").json()[0]["status"]
    assert still == "active"


def test_bad_curation_bodies_are_400(served: Served) -> None:
    target = _contributed(served, 777_020)
    with served.client("admin") as client:
        answers = [
            client.post(f"/v1/indicators/{target}/expire", json={}),
            client.post(f"/v1/indicators/{target}/expire", json={"at": "tomorrow"}),
            client.post(f"/v1/indicators/{target}/expire", json={"at": "2000-01-01T00:00:00Z"}),
            client.post(f"/v1/indicators/{target}/relabel", json={}),
            client.post(f"/v1/indicators/{target}/relabel", json={"to": ["partner"]}),
            client.post(f"/v1/indicators/{target}/relabel", json={"category": 5}),
            client.post(f"/v1/indicators/{target}/revoke", json={"reason": "x"}),
        ]
    for response in answers:
        assert_400(response)


def test_header_injection_attempts_are_harmless(served: Served) -> None:
    token = served.tokens["analyst"]
    request = (
        f"GET /v1/indicators/{MISSING_ID} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nX-Account: admin\r\nX-Role: admin\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=30) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 404")  # the claimed role changed nothing
    with served.client("analyst") as client:
        forged = client.post(
            f"/v1/indicators/{MISSING_ID}/revoke", headers={"X-Role": "admin", "X-Forwarded-User": "admin"}
        )
    assert_problem(forged, 403, "forbidden")


NEW_ENDPOINTS = [
    ("GET", "/v1/indicators/near"),
    ("GET", f"/v1/indicators/{MISSING_ID}"),
    ("POST", "/v1/indicators"),
    ("POST", f"/v1/indicators/{MISSING_ID}/revoke"),
    ("POST", f"/v1/indicators/{MISSING_ID}/expire"),
    ("POST", f"/v1/indicators/{MISSING_ID}/relabel"),
]


@pytest.mark.parametrize(("method", "path"), NEW_ENDPOINTS)
def test_every_new_endpoint_without_a_valid_token_is_401(served: Served, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer accord_api_forged"}, {"Authorization": "Basic YTpi"}):
        with httpx.Client(base_url=served.url, headers=headers) as client:
            response = client.request(method, path, json={})
        assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize(("method", "path"), NEW_ENDPOINTS)
def test_a_matcher_token_is_403_on_every_indicator_endpoint(served: Served, method: str, path: str) -> None:
    for account in ("matcher", "red-matcher"):
        with served.client(account) as client:
            assert_problem(client.request(method, path, json={}), 403, "forbidden")
