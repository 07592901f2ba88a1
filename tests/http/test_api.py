"""The HTTP API over a real node: happy paths, authentication, roles, TLP ceiling, limits."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from node.app import AccordNode
from node.app.shapes import status_json
from node.model import Tlp
from node.model.accounts import Role
from tests.http.conftest import AMBER_SEED, GREEN_SEED, RED_SEED, Served, signal_of, start_server
from tests.support.processes import accord

ENDPOINTS = [("GET", "/v1/status"), ("POST", "/v1/match"), ("GET", "/v1/indicators")]
PROBLEM = "application/problem+json"


def match(client: httpx.Client, *signals: object, **filters: object) -> httpx.Response:
    return client.post("/v1/match", json={"signals": list(signals), **filters})


def assert_problem(response: httpx.Response, status: int, reason: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["reason"] == reason
    assert body["type"] == f"urn:accord:problem:{reason}" and body["title"] and body["detail"]
    return body


# --- happy paths ------------------------------------------------------------------------------


def test_health_answers_without_a_token_once_the_lists_are_loaded(served: Served) -> None:
    with served.client() as client:
        response = client.get("/v1/health")
    assert response.status_code == 200 and response.json() == {"status": "serving"}


def test_a_matcher_matches_a_batch_with_the_cli_shape(served: Served) -> None:
    green = signal_of(GREEN_SEED)
    with served.client("matcher") as client:
        response = match(client, str(green), str(signal_of(99)))
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["query"] == str(green) and first["signal_type"] == "pdq"
    assert [m["tlp"] for m in first["matches"]] == ["green"]
    assert first["matches"][0]["origin_name"] == "Example NGO" and first["matches"][0]["distance"] == 0
    assert set(first) == {
        "query",
        "signal",
        "signal_type",
        "corroboration",
        "matches",
        "safelisted",
        "suppressed",
        "attestations",  # attested originals met (issue 15): none here
    }
    assert first["attestations"] == []
    assert second["matches"] == [] and second["corroboration"] == 0


def test_status_for_admin_and_analyst_is_the_cli_status(served: Served) -> None:
    for account in ("admin", "analyst"):
        with served.client(account) as client:
            response = client.get("/v1/status")
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "Example NGO" and body["own_head_seq"] == 3
        assert body == status_json(served.node)  # the object `accord status --json` prints
        assert {p["name"] for p in body["partners"]} == {"partner"}


def test_an_analyst_queries_indicators_by_signal_and_category(served: Served) -> None:
    green = signal_of(GREEN_SEED, 1)
    with served.client("analyst") as client:
        by_signal = client.get("/v1/indicators", params={"signal": str(green)})
        by_category = client.get("/v1/indicators", params={"category": "csam", "limit": "100"})
    rows = by_signal.json()["rows"]
    assert by_signal.status_code == 200 and len(rows) == 1 and rows[0]["value"] == green.value
    assert rows[0]["status"] == "active" and rows[0]["tlp"] == "green"
    assert {r["tlp"] for r in by_category.json()["rows"]} == {"green", "amber"}
    assert by_category.json()["truncated"] is False


def test_match_filters_by_category_origin_and_corroboration(served: Served) -> None:
    green = str(signal_of(GREEN_SEED, 2))
    with served.client("matcher") as client:
        csam = match(client, green, categories=["csam"]).json()["results"][0]
        ncii = match(client, green, categories=["ncii"]).json()["results"][0]
        ours = match(client, green, origins=["Example NGO"]).json()["results"][0]
        theirs = match(client, green, origins=["partner"]).json()["results"][0]
        two = match(client, green, min_corroboration=2).json()["results"][0]
        unknown = match(client, green, origins=["nobody"])
    assert len(csam["matches"]) == 1 and ncii["matches"] == []
    assert len(ours["matches"]) == 1 and theirs["matches"] == []
    assert two["matches"] == []  # one origin published it
    assert_problem(unknown, 400, "invalid_input")


# --- authentication and roles ---------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_without_a_valid_token_is_401(served: Served, method: str, path: str) -> None:
    attempts = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer accord_api_not-a-real-token"},
        {"Authorization": f"Basic {served.tokens['admin']}"},  # a token, but not as a bearer token
    ]
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for headers in attempts:
            response = client.request(method, path, headers=headers, json={"signals": ["md5:" + "0" * 32]})
            assert_problem(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("account", "method", "path"),
    [
        ("matcher", "GET", "/v1/status"),
        ("reviewer", "GET", "/v1/status"),
        ("matcher", "GET", "/v1/indicators"),
        ("red-matcher", "GET", "/v1/indicators"),
    ],
)
def test_a_role_below_the_endpoint_is_403(served: Served, account: str, method: str, path: str) -> None:
    with served.client(account) as client:
        body = assert_problem(client.request(method, path), 403, "forbidden")
    assert "may not call" in str(body["detail"])


def test_a_removed_account_is_refused_at_once(published: AccordNode, served: Served) -> None:
    token = published.add_api_account("leaver", role=Role.MATCHER).token
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {token}"}) as client:
        assert match(client, str(signal_of(GREEN_SEED))).status_code == 200
        published.remove_api_account("leaver")
        assert_problem(match(client, str(signal_of(GREEN_SEED))), 401, "unauthenticated")


def test_an_account_removed_by_another_process_is_refused_at_its_next_request(
    published: AccordNode, served: Served
) -> None:
    # The node remembers a token's account until anyone commits: here `accord account remove`
    # runs in its own process while the API keeps serving, after the token was remembered.
    token = published.add_api_account("remote-leaver", role=Role.MATCHER).token
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(3):  # remembered after the first request
            assert match(client, str(signal_of(GREEN_SEED))).status_code == 200
        removed = accord("account", "remove", "--home", published.home.root, "remote-leaver")
        assert removed.returncode == 0, removed.stderr
        assert_problem(match(client, str(signal_of(GREEN_SEED))), 401, "unauthenticated")


# --- the TLP ceiling --------------------------------------------------------------------------


def test_an_amber_analyst_never_sees_a_red_row_nor_anything_about_it(served: Served) -> None:
    red = signal_of(RED_SEED)
    red_ids = {r["id"] for r in _red_rows(served)}
    assert len(red_ids) == 3
    with served.client("analyst") as client:
        answers = [
            client.get("/v1/indicators", params={"limit": "1000"}),
            client.get("/v1/indicators", params={"signal": str(red)}),
            client.get("/v1/indicators", params={"tlp": "red"}),
            client.get("/v1/indicators", params=[("tlp", "red"), ("tlp", "amber+strict")]),
            client.get("/v1/indicators", params={"near": str(red), "distance": "0"}),
        ]
    assert {r["tlp"] for r in answers[0].json()["rows"]} == {"green", "amber"}
    for answer in answers[1:]:
        assert answer.status_code == 200 and answer.json() == {"rows": [], "truncated": False}
    for answer in answers:
        assert red.value not in answer.text and not any(i in answer.text for i in red_ids)


def _red_rows(served: Served) -> list[dict[str, object]]:
    with served.client("red-analyst") as client:
        response = client.get("/v1/indicators", params={"tlp": "red"})
    assert response.status_code == 200
    rows: list[dict[str, object]] = response.json()["rows"]
    assert rows and {r["tlp"] for r in rows} == {"red"}
    return rows


def test_a_red_query_is_audited_with_its_account(served: Served) -> None:
    _red_rows(served)
    records = [r for r in served.node.audit.records() if r.action == "query-red"]
    assert records and records[-1].actor == "api:red-analyst"
    assert signal_of(RED_SEED).value not in records[-1].details


def test_a_matcher_capped_at_amber_gets_no_red_match_and_no_trace_of_it(served: Served) -> None:
    red, amber = signal_of(RED_SEED), signal_of(AMBER_SEED)
    red_ids = {r["id"] for r in _red_rows(served)}
    with served.client("matcher") as client:
        capped = match(client, str(red), str(amber)).json()["results"]
    with served.client("red-matcher") as client:
        allowed = match(client, str(red)).json()["results"][0]
    assert capped[0]["matches"] == [] and capped[0]["corroboration"] == 0
    assert not any(i in json.dumps(capped) for i in red_ids)
    assert [m["tlp"] for m in capped[1]["matches"]] == ["amber"]
    assert [m["tlp"] for m in allowed["matches"]] == ["red"] and allowed["matches"][0][
        "indicator_id"
    ] in red_ids


# --- bad input and limits ---------------------------------------------------------------------


def test_a_bad_signal_in_a_batch_gets_its_own_error_and_the_rest_match(served: Served) -> None:
    green = str(signal_of(GREEN_SEED))
    secret_looking = "pdq:" + "ab" * 31  # 62 hex: almost a hash, and never echoed
    with served.client("matcher") as client:
        response = match(client, green, secret_looking, 42, "nope:1234", green)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["query"] for r in results] == [green, "signals[1]", "signals[2]", "signals[3]", green]
    assert [len(r["matches"]) for r in results] == [1, 0, 0, 0, 1]
    assert all(r["error"] for r in results[1:4]) and "error" not in results[0]
    assert "ab" * 31 not in response.text


def test_malformed_json_is_a_400_problem(served: Served) -> None:
    with served.client("matcher") as client:
        broken = client.post(
            "/v1/match", content=b'{"signals": ["md5:', headers={"content-type": "application/json"}
        )
        not_an_object = client.post("/v1/match", json=["md5:" + "0" * 32])
        no_signals = client.post("/v1/match", json={"signals": []})
        unknown_field = client.post("/v1/match", json={"signals": ["md5:" + "0" * 32], "tlp": "red"})
    for response in (broken, not_an_object, no_signals, unknown_field):
        assert_problem(response, 400, "invalid_input")


def test_a_batch_above_the_limit_is_refused(served: Served) -> None:
    limit = served.node.config.limits.max_batch_signals
    with served.client("matcher") as client:
        body = assert_problem(
            client.post("/v1/match", json={"signals": ["x"] * (limit + 1)}), 400, "invalid_input"
        )
    assert "max_batch_signals" in str(body["detail"])


def test_an_oversized_body_is_413_before_it_is_read(served: Served) -> None:
    limit = served.node.config.http.max_body_bytes
    big = json.dumps({"signals": ["md5:" + "0" * 32] * (limit // 30)}).encode()
    assert len(big) > limit

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while read, cut at the limit
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    with served.client("matcher") as client:
        declared = client.post("/v1/match", content=big, headers={"content-type": "application/json"})
        streamed = client.post("/v1/match", content=chunked(), headers={"content-type": "application/json"})
    assert_problem(declared, 413, "too_large")
    assert_problem(streamed, 413, "too_large")


def test_bad_query_parameters_are_400(served: Served) -> None:
    with served.client("analyst") as client:
        for params in ({"colour": "red"}, {"limit": "many"}, {"sort": "sideways"}, {"limit": "0"}):
            assert_problem(client.get("/v1/indicators", params=params), 400, "invalid_input")
        assert_problem(client.get("/v1/indicators", params={"signal": "pdq:12"}), 400, "invalid_signal")


def test_unknown_paths_and_methods_are_problems_too(served: Served) -> None:
    with served.client("admin") as client:
        assert_problem(client.get("/v1/nothing"), 404, "not_found")
        response = assert_problem(client.get("/v1/match"), 405, "method_not_allowed")
    assert response["status"] == 405


def test_an_account_over_its_rate_is_429_with_retry_after(
    published: AccordNode, tokens: dict[str, str]
) -> None:
    server = start_server(published, rate_per_second=0.5, rate_burst=3)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {tokens['admin']}"}
        ) as client:
            statuses = [client.get("/v1/status").status_code for _ in range(3)]
            refused = client.get("/v1/status")
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as other:
            unaffected = other.get("/v1/status", headers={"Authorization": f"Bearer {tokens['analyst']}"})
    finally:
        server.stop()
    assert statuses == [200, 200, 200]
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1
    assert unaffected.status_code == 200  # buckets are per account


@contextmanager
def _capturing(caplog: pytest.LogCaptureFixture, *names: str) -> Iterator[None]:
    """Capture these loggers at DEBUG even when the CLI set them not to propagate (as it does)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)


def test_neither_tokens_nor_hash_values_reach_the_log(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    red = signal_of(RED_SEED)
    with caplog.at_level(logging.DEBUG), _capturing(caplog, "node", "uvicorn"):
        with served.client("red-matcher") as client:
            match(client, str(red), "pdq:" + "cd" * 31)
        with served.client("red-analyst") as client:
            client.get("/v1/indicators", params={"signal": str(red)})
        with httpx.Client(base_url=served.url) as client:
            client.get("/v1/status", headers={"Authorization": "Bearer accord_api_wrong-and-secret"})
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("node", "uvicorn")]  # not the test's client
    text = "\n".join(r.getMessage() for r in ours)
    assert "HTTP POST /v1/match -> 200 (account red-matcher)" in text
    for token in [*served.tokens.values(), "accord_api_wrong-and-secret"]:
        assert token not in text
    above_debug = "\n".join(r.getMessage() for r in ours if r.levelno > logging.DEBUG)
    assert red.value not in above_debug and "cd" * 31 not in above_debug


def test_match_and_health_wait_for_the_lists(fresh_home: Path) -> None:
    node = AccordNode.open(fresh_home)
    token = node.add_api_account("early", role=Role.MATCHER, max_tlp=Tlp.GREEN).token
    server = start_server(node)
    url = f"http://127.0.0.1:{server.port}"
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            loading = client.get("/v1/health")
            refused = match(client, "md5:" + "0" * 32)
            node.load_lists()
            serving = client.get("/v1/health")
            answered = match(client, "md5:" + "0" * 32)
    finally:
        server.stop()
        node.close()
    assert loading.status_code == 503 and loading.json() == {"status": "loading"}
    assert_problem(refused, 503, "not_ready")
    assert serving.status_code == 200 and answered.status_code == 200
