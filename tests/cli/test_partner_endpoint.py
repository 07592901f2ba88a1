"""`accord partner set NAME --endpoint`: a partner pinned without an endpoint (or at an old one)
is pulled from the new address, without unpinning it (which would forget its policy)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from node.cli.main import cli
from node.model import Tlp
from tests.support.nodes import LiveNode


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="accord", catch_exceptions=False)


def test_an_endpoint_set_later_is_where_the_next_sync_pulls(tmp_path: Path) -> None:
    ngo = LiveNode.start(tmp_path / "ngo", "ngo")
    platform = LiveNode.start(tmp_path / "platform", "platform")
    try:
        platform.pin(ngo, "ngo")  # no endpoint: the platform does not know where the NGO serves
        ngo.pin(platform, "platform")
        ngo.publish(1, n=3, tlp=Tlp.GREEN)
        platform.node.set_partner_policy(
            "ngo", categories=None, signal_types=None, trust_level="review", share_sightings=None
        )
        home = platform.node.home.root
        changed = run("partner", "set", "--home", home, "ngo", "--endpoint", ngo.address, "--json")
        assert changed.exit_code == 0, changed.output
        shown = json.loads(changed.output)
        assert shown["endpoint"] == ngo.address and shown["trust"] == "review"  # the policy is kept
        assert platform.node.store.partner("ngo").endpoint == ngo.address  # type: ignore[union-attr]
        report = platform.node.sync("ngo")
        assert sum(r.accepted for r in report) >= 1  # pulled from the new address
        assert [r.action for r in platform.node.audit.records() if r.action == "partner-endpoint"]
    finally:
        platform.stop()
        ngo.stop()


def test_a_bad_endpoint_or_an_unknown_partner_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "node"
    assert run("init", "--home", home, "--name", "Node").exit_code == 0
    bad = run("partner", "set", "--home", home, "nobody", "--endpoint", "127.0.0.1:7700")
    assert bad.exit_code == 3 and "no partner named 'nobody'" in bad.output
    other = tmp_path / "other"
    assert run("init", "--home", other, "--name", "Other").exit_code == 0
    key = json.loads(run("identity", "--home", other, "--json").output)["public_key"]
    added = run("partner", "add", "--home", home, "other", "--key", key, "--endpoint", "127.0.0.1:7700")
    assert added.exit_code == 0
    refused = run("partner", "set", "--home", home, "other", "--endpoint", "no-port-here")
    assert refused.exit_code == 2 and "HOST:PORT" in refused.output
    listed = json.loads(run("partner", "list", "--home", home, "--json").output)
    assert [p["endpoint"] for p in listed if p["name"] == "other"] == ["127.0.0.1:7700"]
