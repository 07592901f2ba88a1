"""One trust vocabulary with one meaning for partners and unsigned sources (issue 13): the
defaults of the two unsigned-source commands agree, and every ``--trust`` help page says the
same thing. Through the CLI with click's runner, against real homes and a MISP feed on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.app import AccordNode
from node.feed import public_key_to_text
from node.model import Trust
from tests.ecosystem.test_misp_import import EVENT_A, attribute, write_feed
from tests.support.cli import run
from tests.support.feeds import FeedWriter, identity, indicator, md5_signal


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "platform"
    assert run("init", "--home", path, "--name", "Example Platform").exit_code == 0
    return path


def test_unsigned_sources_default_to_the_same_trust_and_review_matches(home: Path, tmp_path: Path) -> None:
    feed = write_feed(
        tmp_path / "feed",
        {
            EVENT_A: {
                "info": "batch",
                "Tag": [{"name": "csam"}],
                "Attribute": [attribute("md5", md5_signal(1).value)],
            }
        },
    )
    imported = run("import-misp", "--home", home, feed, "--json")
    assert imported.exit_code == 0, imported.output
    added = run(
        "partner", "add-taxii", "--home", home, "hub", "http://127.0.0.1:9/api1/", "--collection", "c1"
    )
    assert added.exit_code == 0, added.output
    trust = {
        s["name"]: s["trust"] for s in json.loads(run("partner", "sources", "--home", home, "--json").stdout)
    }
    assert trust == {"misp": Trust.REVIEW.value, "hub": Trust.REVIEW.value}

    match = json.loads(
        run("match", "--home", home, "--offline", "--signal", str(md5_signal(1)), "--json").stdout
    )
    [result] = match["results"] if isinstance(match, dict) else match
    assert [m["trust"] for m in result["matches"]] == ["review"]


@pytest.mark.parametrize(
    "command", [["partner", "set"], ["partner", "add-taxii"], ["import-misp"]], ids=" ".join
)
def test_every_trust_option_documents_one_meaning(command: list[str]) -> None:
    page = " ".join(run(*command, "--help").output.split())
    assert "review: matches, " in page and "observe: held and counted, never matches" in page


def test_an_observed_partner_is_held_counted_and_never_matched_nor_exported(
    home: Path, tmp_path: Path
) -> None:
    ngo = FeedWriter(identity(1), name="ngo")
    key = public_key_to_text(ngo.signer.public_key)
    assert run("partner", "add", "--home", home, "ngo", "--key", key).exit_code == 0
    node = AccordNode.open(home)
    try:
        listed = indicator(ngo.origin, md5_signal(7), category="csam")
        node.ingestor.ingest(ngo.entry([listed]), pinned=node.store.pinned_keys(), via="ngo")
    finally:
        node.close()
    signal = str(md5_signal(7))
    assert run("match", "--home", home, "--offline", "--signal", signal).exit_code == 0

    assert run("partner", "set", "--home", home, "ngo", "--trust", "observe").exit_code == 0
    assert run("match", "--home", home, "--offline", "--signal", signal).exit_code == 1
    counts = json.loads(run("status", "--home", home, "--json").stdout)["counts"]
    assert [c["origin_name"] for c in counts] == ["ngo"]  # held and counted
    out = tmp_path / "pytx.txt"
    assert run("export", "--home", home, "--format", "hma-csv", "--out", out).exit_code == 0
    assert md5_signal(7).value not in out.read_text()
