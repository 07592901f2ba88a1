"""``accord push``, ``accord evidence`` and the quarantine line of ``accord status``, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.app import AccordNode
from node.cli.main import cli
from node.errors import Equivocation
from node.feed import public_key_to_text
from node.model import Seq
from node.sync.ingest import Ingestor
from tests.support.cli import run
from tests.support.feeds import FeedWriter, identity, indicator, md5_signal
from tests.support.live_nodes import live_nodes


def test_push_sends_our_entries_to_a_hub_and_says_where_it_resumed(tmp_path: Path) -> None:
    with live_nodes(tmp_path, "contributor", "hub", serving=("hub",)) as nodes:
        contributor, hub = nodes["contributor"], nodes["hub"]
        contributor.pin(hub)
        hub.pin(contributor)
        contributor.publish(md5_signal(1))
        contributor.node.close()  # the CLI opens the home itself
        home = tmp_path / "contributor"
        first = run("push", "--home", home, "hub", "--json")
        assert first.exit_code == 0, first.output
        assert json.loads(first.output) == {
            "partner": "hub",
            "resumed_after": 0,
            "accepted": 1,
            "refused": {},
        }
        again = run("push", "--home", home, "hub")
        assert again.exit_code == 0
        assert "0 entries accepted after seq 1" in again.output
        assert hub.node.store.head(contributor.key_id).seq == Seq(1)  # type: ignore[union-attr]


def test_push_to_an_unknown_partner_is_not_found(tmp_path: Path) -> None:
    assert run("init", "--home", tmp_path / "n", "--name", "n").exit_code == 0
    result = CliRunner().invoke(cli, ["push", "--home", str(tmp_path / "n"), "nobody"], prog_name="accord")
    assert result.exit_code == 3
    assert "nobody" in result.output


def test_evidence_and_status_show_an_equivocating_origin(tmp_path: Path) -> None:
    home = tmp_path / "n"
    assert run("init", "--home", home, "--name", "n").exit_code == 0
    assert run("evidence", "--home", home).output.strip() == "no equivocation evidence held"
    liar = FeedWriter(identity(40), name="liar")
    key = public_key_to_text(liar.signer.public_key)
    assert run("partner", "add", "--home", home, "liar", "--key", key).exit_code == 0
    original = liar.entry([indicator(liar.origin, md5_signal(1))], advance=False)
    fork = liar.entry([indicator(liar.origin, md5_signal(2))])
    node = AccordNode.open(home)
    ingestor = Ingestor(store=node.store, limits=node.config.limits)
    ingestor.ingest(original, pinned=node.store.pinned_keys(), via="liar")
    with pytest.raises(Equivocation):
        ingestor.ingest(fork, pinned=node.store.pinned_keys(), via="hub")
    node.close()

    listed = json.loads(run("evidence", "--home", home, "--json").output)
    assert [(e["origin_name"], e["seq"], e["kind"], e["via"]) for e in listed] == [
        ("liar", 1, "entry", None),  # the entry we held at seq 1
        ("liar", 1, "entry", "hub"),  # and the fork that contradicts it
    ]
    status = run("status", "--home", home)
    assert f"QUARANTINED: origin liar ({liar.origin})" in status.output
    assert json.loads(run("status", "--home", home, "--json").output)["quarantined"] == [liar.origin]
    matched = run("match", "--home", home, "--offline", "--signal", str(md5_signal(1)))
    assert matched.exit_code == 1  # its signals do not match
