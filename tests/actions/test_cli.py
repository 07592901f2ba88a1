"""The CLI: accord webhook, accord action rule/run, accord delivery list/replay/run, status."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner, Result

from node.app import AccordNode
from node.cli.main import cli
from tests.actions.conftest import AMBER, GREEN, make_node, signal_of
from tests.actions.receiver import receiver


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def json_of(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def home_with_lists(tmp_path: Path) -> Path:
    node: AccordNode = make_node(tmp_path / "home")
    node.close()
    return tmp_path / "home"


def test_webhook_add_generates_a_private_secret_and_list_never_shows_it(tmp_path: Path) -> None:
    home = home_with_lists(tmp_path)
    added = json_of(run(home, "webhook", "add", "hook", "https://trust.example/hook", "--json"))
    assert isinstance(added, dict)
    secret = Path(added["secret_path"])
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text().strip()) >= 40
    listed = run(home, "webhook", "list", "--json")
    assert secret.read_text().strip() not in listed.stdout
    assert json_of(listed) == [{k: added[k] for k in ("name", "url", "secret_file", "max_tlp", "added_at")}]
    refused = run(home, "webhook", "add", "other", "http://example.org/hook")
    assert refused.exit_code == 2 and "plain http" in refused.output
    assert run(home, "webhook", "add", "hook", "https://x.example/").exit_code == 3


def test_rules_are_added_listed_and_removed(tmp_path: Path) -> None:
    home = home_with_lists(tmp_path)
    run(home, "webhook", "add", "hook", "https://trust.example/hook")
    args = ["action", "rule", "add", "auto-csam", "--category", "csam", "--trust", "auto", "--tlp", "green"]
    added = json_of(run(home, *args, "--max-distance", "16", "--webhook", "hook", "--review", "--json"))
    assert isinstance(added, dict) and added["when"]["max_distance"] == 16 and added["review"] is True
    assert json_of(run(home, "action", "rule", "list", "--json")) == [added]
    text = run(home, "action", "rule", "list").output
    assert "categories=csam" in text and "POST hook, review" in text
    assert run(home, "action", "rule", "add", "idle").exit_code == 2  # does nothing
    assert run(home, "action", "rule", "add", "x", "--webhook", "nope").exit_code == 3
    assert run(home, "webhook", "remove", "hook").exit_code == 2  # a rule still uses it
    assert run(home, "action", "rule", "remove", "auto-csam").exit_code == 0
    assert run(home, "action", "rule", "remove", "auto-csam").exit_code == 3


def test_action_run_dry_run_then_act_and_deliver_to_a_real_receiver(tmp_path: Path) -> None:
    home = home_with_lists(tmp_path)
    with receiver() as hook:
        run(home, "webhook", "add", "hook", hook.url)
        run(home, "action", "rule", "add", "all", "--webhook", "hook", "--tlp", "green")
        run(home, "action", "rule", "add", "amber-review", "--tlp", "amber", "--review")
        content = [
            "--signal",
            str(signal_of(GREEN)),
            "--signal",
            str(signal_of(AMBER)),
            "--content-id",
            "u-1",
        ]
        dry = json_of(run(home, "action", "run", *content, "--dry-run", "--offline", "--json"))
        assert isinstance(dry, dict) and dry["dry_run"] and dry["deliveries"][0]["id"] is None
        assert json_of(run(home, "delivery", "list", "--json")) == []
        plan = json_of(
            run(home, "action", "run", *content, "--content-url", "https://cdn/u-1", "--offline", "--json")
        )
        assert isinstance(plan, dict)
        assert plan["fired"] == ["all", "amber-review"] and plan["review_reasons"] == ["amber-review"]
        assert plan["deliveries"][0]["new"] is True
        status = json_of(run(home, "status", "--json"))
        assert isinstance(status, dict) and status["deliveries"]["pending"] == 1
        assert "webhook deliveries: 1 pending, 0 delivered, 0 DEAD" in run(home, "status").output
        sent = json_of(run(home, "delivery", "run", "--json"))
        assert sent == {"delivered": 1, "retrying": 0, "dead": 0, "deferred": 0}
        [got] = hook.received
        assert got.key == plan["deliveries"][0]["idempotency_key"]
        assert got.record()["content"] == {"id": "u-1", "url": "https://cdn/u-1"}
        [row] = json_of(run(home, "delivery", "list", "--state", "delivered", "--json"))  # type: ignore[misc]
        replayed = json_of(run(home, "delivery", "replay", str(row["id"]), "--json"))
        assert isinstance(replayed, dict) and replayed["state"] == "pending"
        hook.behaviour = "fail"
        failed = run(home, "delivery", "run")
        assert failed.exit_code == 4 and "retrying: 1" in failed.output
        assert [r.key for r in hook.received] == [got.key, got.key]
    assert run(home, "delivery", "replay", "999").exit_code == 3
    assert "delivery-replay" in run(home, "audit", "list").output


def test_action_run_needs_content(tmp_path: Path) -> None:
    home = home_with_lists(tmp_path)
    assert run(home, "action", "run", "--content-id", "x").exit_code == 2
    no_id = run(home, "action", "run", "--signal", str(signal_of(GREEN)))
    assert no_id.exit_code == 2 and "--content-id" in no_id.output
