"""accord query / show / audit / report, run in-process against real homes, keys and images."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from stix2validator import ValidationOptions, validate_string

from node.feed import encryption_key_to_text, public_key_to_text
from tests.support.cli import run
from tests.support.feeds import encryption_keys, identity
from tests.support.media import make_image, make_variant

PARTNER_KEY = public_key_to_text(identity(5).public_key)
PARTNER_ENCRYPTION_KEY = encryption_key_to_text(encryption_keys(5).public)
MD5S = ["md5:" + f"{i:02x}" * 16 for i in range(1, 4)]
RED = "md5:" + "ee" * 16


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A node that contributed one image (csam, green), three md5 (ncii, green) and one RED md5."""
    path = tmp_path / "ngo"
    assert run("init", "--home", path, "--name", "Example NGO").exit_code == 0
    pin = ["--key", PARTNER_KEY, "--encryption-key", PARTNER_ENCRYPTION_KEY]
    assert run("partner", "add", "--home", path, "platform", *pin).exit_code == 0
    make_image(tmp_path / "a.png", seed=6)
    assert (
        run(
            "contribute", "--home", path, tmp_path / "a.png", "--category", "csam", "--tlp", "green"
        ).exit_code
        == 0
    )
    signals = [a for s in MD5S for a in ("--signal", s)]
    assert run("contribute", "--home", path, *signals, "--category", "ncii", "--tlp", "green").exit_code == 0
    red = ["--signal", RED, "--category", "tvec", "--tlp", "red", "--to", "platform"]
    assert run("contribute", "--home", path, *red).exit_code == 0
    return path


@pytest.mark.parametrize(
    "command", [["query"], ["show"], ["audit"], ["audit", "list"], ["audit", "verify"], ["report"]]
)
def test_every_analyst_command_documents_itself(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage: accord" in result.output
    if command != ["audit"]:
        assert "--home" in result.output


def test_query_outputs_table_json_csv_and_valid_stix(home: Path) -> None:
    table = run("query", "--home", home, "--category", "ncii")
    assert table.exit_code == 0 and all(s in table.output for s in MD5S)
    rows = json.loads(run("query", "--home", home, "--json").output)["rows"]
    assert sorted(r["category"] for r in rows) == ["csam", "csam", "csam", "ncii", "ncii", "ncii"]
    assert RED.split(":")[1] not in json.dumps(rows)
    parsed = list(
        csv.DictReader(io.StringIO(run("query", "--home", home, "--signal", MD5S[1], "--csv").output))
    )
    assert [(r["signal_type"], r["value"], r["status"]) for r in parsed] == [("md5", MD5S[1][4:], "active")]
    bundle = run("query", "--home", home, "--stix").output
    assert len([o for o in json.loads(bundle)["objects"] if o["type"] == "indicator"]) == 6
    for strict in (False, True):
        results = validate_string(bundle, ValidationOptions(strict=strict))
        assert results.is_valid and results.warnings == []


def test_query_near_finds_a_variant_of_the_image(home: Path, tmp_path: Path) -> None:
    make_variant(tmp_path / "a.png", tmp_path / "b.jpg")
    pdq = json.loads(run("hash", tmp_path / "b.jpg", "--json").output)[0]["pdq"]
    rows = json.loads(
        run("query", "--home", home, "--near", pdq, "--distance", "31", "--sort", "distance", "--json").output
    )["rows"]
    assert len(rows) == 1 and rows[0]["category"] == "csam" and rows[0]["distance"] <= 31


def test_query_red_needs_asking_and_is_audited(home: Path) -> None:
    assert run("query", "--home", home, "--signal", RED).exit_code == 1  # looks like not held
    refused = run("query", "--home", home, "--tlp", "red")
    assert refused.exit_code == 2 and "--include-red" in refused.output
    shown = run("query", "--home", home, "--signal", RED, "--include-red", "--json")
    assert json.loads(shown.output)["rows"][0]["tlp"] == "red"
    audit = json.loads(run("audit", "list", "--home", home, "--json").output)
    assert audit[-1]["action"] == "query-red" and RED[4:] not in json.dumps(audit)


@pytest.mark.parametrize(
    "args",
    [
        ["--signal", "md5:xyz"],
        ["--near", MD5S[0]],
        ["--status", "gone"],
        ["--since", "soon"],
        ["--limit", "0"],
        ["--origin", "nobody"],
        ["--json", "--csv"],
    ],
)
def test_bad_filters_exit_2_and_say_why(home: Path, args: list[str]) -> None:
    result = run("query", "--home", home, *args)
    assert result.exit_code == 2 and ("error" in result.output.lower())


def test_show_prints_provenance_and_matches(home: Path) -> None:
    assert run("match", "--home", home, "--signal", MD5S[0], "--offline").exit_code == 0
    [item] = json.loads(run("show", "--home", home, MD5S[0], "--json").output)
    assert item["origin_name"] == "Example NGO" and item["status"] == "active"
    assert [(v["seq"], v["via"], v["verification"]) for v in item["versions"]] == [(2, None, "ok")]
    assert item["matches"]["count"] == 1
    assert run("revoke", "--home", home, MD5S[0]).exit_code == 0
    text = run("show", "--home", home, item["id"]).output
    assert "revoked" in text and "local matches: 1" in text
    assert run("show", "--home", home, RED).exit_code == 3
    assert run("show", "--home", home, "md5:" + "99" * 16).exit_code == 3


def test_audit_verify_detects_a_direct_edit_of_the_file(home: Path) -> None:
    ok = run("audit", "verify", "--home", home)
    assert ok.exit_code == 0 and "intact: 4 rows" in ok.output
    raw = sqlite3.connect(home / "accord.db")
    raw.execute("DROP TRIGGER audit_log_no_update")
    raw.execute("UPDATE audit_log SET actor = 'user:nobody' WHERE seq = 2")
    raw.commit()
    raw.close()
    broken = run("audit", "verify", "--home", home)
    assert broken.exit_code == 2 and "row 2" in broken.output


def test_report_numbers_equal_what_was_contributed(home: Path, tmp_path: Path) -> None:
    run("match", "--home", home, "--signal", MD5S[0], "--signal", MD5S[1], "--offline")
    run("revoke", "--home", home, MD5S[2])
    report = json.loads(run("report", "--home", home, "--format", "json").output)
    assert report["contributed"] == {"csam": 3, "ncii": 3, "tvec": 1}  # an image is md5+sha256+pdq
    assert report["matches"] == {"ncii": 2} and report["revocations"] == {"Example NGO": {"ncii": 1}}
    assert report["actions"]["contribute"] == 3 and report["actions"]["revoke"] == 1
    markdown = run("report", "--home", home, "--charts", tmp_path / "charts").output
    assert "| ncii | 3 |" in markdown and "| platform |" in markdown
    for name in ("indicators.png", "matches.png"):
        assert (tmp_path / "charts" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = json.loads(
        run(
            "report", "--home", home, "--format", "json", "--since", "2020-01-01", "--until", "2020-02-01"
        ).output
    )
    assert empty["contributed"] == {} and empty["matches"] == {}
    assert run("report", "--home", home, "--since", "2020-02-01", "--until", "2020-01-01").exit_code == 2
