"""``accord review`` / ``accord appeal`` with --json, queue metrics in status and Prometheus."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from prometheus_client import generate_latest

from node.app.metrics import NodeMetrics
from node.app.shapes import status_json
from node.cli.main import cli
from node.model.review import Decision
from tests.review.conftest import Pair, configure, signal_of


def run(pair: Pair, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, [*args, "--home", str(pair.platform.node.home.root)], prog_name="accord")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result.output


def test_the_cli_submits_lists_decides_undoes_and_appeals(pair: Pair) -> None:
    item = run(
        pair,
        "review",
        "submit",
        "upload-1",
        "--signal",
        str(signal_of(1)),
        "--url",
        "https://x.example/1",
        "--json",
    )
    assert item["content_url"] == "https://x.example/1" and item["matches"][0]["reasons"] == ["trust-review"]
    assert str(signal_of(1).value) not in json.dumps(item)  # the content's hash is never shown
    [listed] = run(pair, "review", "list", "--json")
    assert listed["id"] == item["id"]
    assert run(pair, "review", "show", str(item["id"]), "--json")["status"] == "open"

    decided = run(
        pair,
        "review",
        "decide",
        str(item["id"]),
        "false-positive",
        "--reason",
        "benign",
        "--safelist",
        "--json",
    )
    assert decided["decision"]["safelisted"] is True and decided["decision"]["reviewer"].startswith("user:")
    assert run(pair, "review", "undo", str(item["id"]), "--json")["status"] == "open"
    run(pair, "review", "decide", str(item["id"]), "confirm", "--json")
    assert run(pair, "review", "decide", str(item["id"]), "confirm", code=3)  # decided already

    appeal = run(pair, "appeal", "add", "upload-1", "--statement", "my photo", "--json")
    assert run(pair, "appeal", "list", "--open", "--json")[0]["id"] == appeal["id"]
    reversed_ = run(pair, "appeal", "decide", str(appeal["id"]), "reverse", "--reason", "benign", "--json")
    assert reversed_["outcome"] == "reversed"
    assert "nothing to review" in run(pair, "review", "submit", "other", "--signal", str(signal_of(99)))
    assert run(pair, "review", "held", "--json") == []
    assert "empty" in run(pair, "review", "list")


def test_queue_metrics_reach_status_json_and_prometheus(pair: Pair) -> None:
    node = pair.platform.node
    configure(pair.platform, "flood", min_matches=5)
    first, second = pair.submit("upload-1", 1, 0), pair.submit("upload-2", 1, 1)
    assert first is not None and second is not None
    node.decide_review(first.id, Decision.CONFIRM, actor="api:alice")
    node.matcher.match([signal_of(1, 2)] * 5)  # flood: held

    review = status_json(node)["review"]
    assert review["depth"] == 1 and review["decisions_by_reviewer"] == {"api:alice": 1}
    assert review["oldest_age_seconds"] >= 0 and review["flood_held"] == 1
    text = generate_latest(NodeMetrics(node).registry).decode()
    assert 'accord_review_queue_depth{status="open"} 1.0' in text
    assert 'accord_review_decisions_last_hour{reviewer="api:alice"} 1.0' in text
    assert "accord_flood_held_indicators 1.0" in text and "accord_review_oldest_age_seconds" in text
    assert signal_of(1, 2).value not in text
