"""The contributor role: a case-management system's token contributes and curates this node's
own indicators (signals and media files), and can do nothing else an admin can."""

from __future__ import annotations

import io

import httpx
import pytest

from node.hashing.media import hash_bytes
from node.model import Tlp
from node.model.accounts import Role
from tests.http.conftest import Served
from tests.http.test_api import assert_problem
from tests.support.cli import run
from tests.support.feeds import pdq_signal
from tests.support.media import render_image


@pytest.fixture(scope="module")
def cms(served: Served) -> Served:
    """A contributor whose ceiling is red, and one capped at amber."""
    for name, ceiling in (("cms", Tlp.RED), ("amber-cms", Tlp.AMBER)):
        token = served.node.add_api_account(name, role=Role.CONTRIBUTOR, max_tlp=ceiling).token
        assert token is not None
        served.tokens[name] = token
    return served


def rows_for(client: httpx.Client, signal: object) -> list[dict[str, object]]:
    response = client.get("/v1/indicators", params={"signal": str(signal), "limit": "100"})
    return list(response.json()["rows"])


def test_a_contributor_contributes_and_curates_by_signal(cms: Served) -> None:
    first, second = str(pdq_signal(880_001)), str(pdq_signal(880_002))
    photo = io.BytesIO()
    render_image(seed=880, size=(320, 240)).save(photo, "JPEG", quality=90)
    with cms.client("cms") as client:
        added = client.post("/v1/indicators", json={"signals": [first, second], "category": "csam"})
        media = client.post(
            "/v1/indicators",
            files=[("file", ("case.jpg", photo.getvalue(), "image/jpeg"))],
            data={"options": '{"category": "ncii"}'},
        )
        revoked = client.post(f"/v1/indicators/{first}/revoke")
        expired = client.post(f"/v1/indicators/{second}/expire", json={"at": "2099-01-01T00:00:00Z"})
        relabelled = client.post(f"/v1/indicators/{second}/relabel", json={"category": "ncii"})
        matched = client.post("/v1/match", json={"signals": [second]})
    assert added.status_code == 200 and added.json()["added"] == 2, added.text
    assert media.status_code == 200 and media.json()["added"] == 3, media.text
    for response in (revoked, expired, relabelled):
        assert response.status_code == 200 and response.json()["updated"] == 1, response.text
    assert [m["category"] for m in matched.json()["results"][0]["matches"]] == ["ncii"]
    with cms.client("admin") as client:
        assert [r["status"] for r in rows_for(client, first)] == ["revoked"]
        assert [r["category"] for r in rows_for(client, hash_bytes(photo.getvalue()).pdq)] == ["ncii"]
    records = [r for r in cms.node.audit.records() if r.actor == "api:cms"]
    assert {"contribute", "revoke", "expire", "relabel"} <= {r.action for r in records}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/status"),
        ("GET", "/v1/indicators"),
        ("GET", "/v1/indicators/near?signal=" + str(pdq_signal(1))),
        ("GET", "/v1/deliveries"),
        ("POST", "/v1/deliveries/1/replay"),
        ("GET", "/v1/review"),
        ("GET", "/v1/review/metrics"),
    ],
)
def test_a_contributor_has_nothing_else_of_an_admin(cms: Served, method: str, path: str) -> None:
    with cms.client("cms") as client:
        assert_problem(client.request(method, path), 403, "forbidden")


def test_a_contributor_below_red_may_not_contribute(cms: Served) -> None:
    signal = str(pdq_signal(880_003))
    with cms.client("amber-cms") as client:
        response = client.post(
            "/v1/indicators", json={"signals": [signal], "category": "csam", "tlp": "amber"}
        )
    detail = str(assert_problem(response, 403, "forbidden")["detail"])
    assert "admin or contributor account whose maximum TLP is red" in detail
    with cms.client("admin") as client:
        assert rows_for(client, signal) == []


def test_the_cli_creates_a_contributor(tmp_path: object) -> None:
    home = f"{tmp_path}/home"
    assert run("init", "--home", home, "--name", "Case NGO").exit_code == 0
    made = run("account", "add", "--home", home, "cms", "--role", "contributor", "--max-tlp", "red", "--json")
    assert made.exit_code == 0, made.output
    assert '"role": "contributor"' in made.stdout and "accord_api_" in made.stdout
    wrong = run("account", "add", "--home", home, "x", "--role", "superuser")
    assert wrong.exit_code == 2 and "contributor" in wrong.output
