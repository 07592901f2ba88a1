"""One trust vocabulary with one meaning for partners and unsigned sources (issue 13): the
defaults of the two unsigned-source commands agree, and every ``--trust`` help page says the
same thing. Through the CLI with click's runner, against real homes and a MISP feed on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from node.cli.main import cli
from node.model import Trust
from tests.ecosystem.test_misp_import import EVENT_A, attribute, write_feed
from tests.support.feeds import md5_signal


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="accord", catch_exceptions=False)


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
