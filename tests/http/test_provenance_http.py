"""The HTTP API carries attestations and labels (issue 15): /v1/match reports an attested
original under the account's TLP ceiling, /v1/indicators filters by label."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from node.app import init_home
from node.hashing import hash_file
from node.model import Tlp
from node.model.accounts import Role
from tests.http.conftest import Served, start_server
from tests.support.media import make_image
from tests.support.nodes import LiveNode


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, tuple[Path, Path]]]:
    init_home(tmp_path / "partner", name="Partner")
    partner = LiveNode.open(tmp_path / "partner", serve=False)
    init_home(tmp_path / "authority", name="Authority")
    node = LiveNode.open(tmp_path / "authority", serve=False)
    node.pin(partner, "partner")
    partner.node.close()
    original = make_image(tmp_path / "poster.png", seed=41)
    when = datetime(2026, 10, 1, tzinfo=UTC)
    common = {"publisher": "Election Authority", "published_at": when, "where": "https://vote.example"}
    node.node.attest(original, labels=["election:us-2026"], **common)  # type: ignore[arg-type]
    other = make_image(tmp_path / "leaflet.png", seed=42)
    node.node.attest(other, tlp=Tlp.AMBER, recipients=["partner"], **common)  # type: ignore[arg-type]
    node.node.load_lists()
    tokens = {
        "matcher": node.node.add_api_account("m", role=Role.MATCHER, max_tlp=Tlp.GREEN).token,
        "analyst": node.node.add_api_account("a", role=Role.ANALYST, max_tlp=Tlp.RED).token,
    }
    server = start_server(node.node, rate_burst=1000, rate_per_second=1000.0)
    yield Served(node=node.node, server=server, tokens=tokens), (original, other)
    server.stop()
    node.node.close()


def _match(served: Served, account: str, path: Path) -> list[dict]:  # type: ignore[type-arg]
    sha = str(hash_file(path).sha256)
    with served.client(account) as client:
        response = client.post("/v1/match", json={"signals": [sha]})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["matches"] == []
    return list(result["attestations"])


def test_match_reports_attestations_within_the_tlp_ceiling(served: tuple[Served, tuple[Path, Path]]) -> None:
    api, (original, amber) = served
    [seen] = _match(api, "matcher", original)
    assert seen["verdict"] == "authentic" and seen["record"]["publisher"] == "Election Authority"
    assert seen["labels"] == ["election:us-2026"]
    assert _match(api, "matcher", amber) == []  # AMBER, above a GREEN account's ceiling
    assert [a["verdict"] for a in _match(api, "analyst", amber)] == ["authentic"]


def test_indicators_filter_by_label(served: tuple[Served, tuple[Path, Path]]) -> None:
    api, _ = served
    with api.client("analyst") as client:
        labelled = client.get("/v1/indicators", params={"label": "election:us-2026"})
        refused = client.get("/v1/indicators", params={"label": "Not A Label"})
    assert labelled.status_code == 200, labelled.text
    rows = labelled.json()["rows"]
    assert len(rows) == 3 and all(r["labels"] == ["election:us-2026"] for r in rows)
    assert {r["attestation"]["where"] for r in rows} == {"https://vote.example"}
    assert refused.status_code == 400
