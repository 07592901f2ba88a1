"""``accord match`` with a bad ``--signal`` among good ones: that one is named, the rest match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run
from tests.support.feeds import md5_signal


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "ngo"
    assert run("init", "--home", path, "--name", "Example NGO").exit_code == 0
    good = str(md5_signal(1))
    assert run("contribute", "--home", path, "--signal", good, "--category", "csam").exit_code == 0
    return path


def test_a_bad_signal_is_refused_by_position_and_the_others_still_match(home: Path) -> None:
    bad = "md5:" + "ab" * 15 + "zz"  # most of a hash: never echoed back
    result = run("match", "--home", home, "--offline", "--signal", bad, "--signal", str(md5_signal(1)))
    assert result.exit_code == 0, result.output
    assert "refused --signal #1: a md5 value must be 32 hex" in result.stderr
    assert "ab" * 15 not in result.output
    assert md5_signal(1).value in result.stdout  # the good one matched
    as_json = json.loads(
        run(
            "match", "--home", home, "--offline", "--signal", bad, "--signal", str(md5_signal(1)), "--json"
        ).stdout
    )
    assert as_json[0]["query"] == "--signal #1" and "32 hex" in as_json[0]["error"]
    assert len(as_json[1]["matches"]) == 1


def test_no_match_with_a_refused_signal_exits_2_not_1(home: Path) -> None:
    result = run(
        "match", "--home", home, "--offline", "--signal", "pdq:short", "--signal", str(md5_signal(9))
    )
    assert result.exit_code == 2 and "refused --signal #1" in result.stderr
    assert run("match", "--home", home, "--offline", "--signal", str(md5_signal(9))).exit_code == 1
    only_bad = run("match", "--home", home, "--offline", "--signal", "pdq:short")
    assert only_bad.exit_code == 2
