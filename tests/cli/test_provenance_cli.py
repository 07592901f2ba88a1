"""Labels, descriptions and attestations from the command line (issue 15): contribute and
attest take them, query filters by them, show and every output print them (escaped), and
exports and match lists never carry an attestation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run
from tests.support.media import make_image


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "hotline"
    assert run("init", "--home", path, "--name", "Hotline").exit_code == 0
    return path


def _contribute_labelled(home: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "deepfake.png", seed=31)
    done = run(
        "contribute", "--home", home, image, "--category", "election-deepfake",
        "--label", "election:us-2026", "--label", "Behaviour:Impersonation",
        "--description", "Fake robocall still of the candidate",
    )  # fmt: skip
    assert done.exit_code == 0, done.output


def test_contribute_labels_and_query_filters_by_them(home: Path, tmp_path: Path) -> None:
    _contribute_labelled(home, tmp_path)
    assert (
        run("contribute", "--home", home, "--signal", "md5:" + "a" * 32, "--category", "csam").exit_code == 0
    )

    rows = json.loads(run("query", "--home", home, "--label", "election:us-2026", "--json").output)["rows"]
    assert len(rows) == 3  # md5, sha256 and pdq of the image; not the unlabelled md5
    assert {tuple(r["labels"]) for r in rows} == {("behaviour:impersonation", "election:us-2026")}
    assert {r["description"] for r in rows} == {"Fake robocall still of the candidate"}
    both = ["--label", "election:us-2026", "--label", "behaviour:impersonation"]
    assert len(json.loads(run("query", "--home", home, *both, "--json").output)["rows"]) == 3
    none = run("query", "--home", home, "--label", "election:fr-2027")
    assert none.exit_code == 1
    table = run("query", "--home", home, "--label", "election:us-2026")
    assert "behaviour:impersonation election:us-2026" in table.output
    csv_rows = run("query", "--home", home, "--label", "election:us-2026", "--csv").output.splitlines()
    assert csv_rows[0].endswith(",labels") and csv_rows[1].endswith(
        ",behaviour:impersonation election:us-2026"
    )

    shown = run("show", "--home", home, rows[0]["id"])
    assert "labels:        behaviour:impersonation election:us-2026" in shown.output
    assert "description:   'Fake robocall still of the candidate'" in shown.output


def test_hostile_labels_and_descriptions_are_refused_before_anything_is_written(
    home: Path, tmp_path: Path
) -> None:
    image = make_image(tmp_path / "x.png", seed=32)
    base = ["contribute", "--home", home, image, "--category", "csam"]
    escape = run(*base, "--description", "ok\x1b[2J\x1b[Hforged line")
    assert escape.exit_code == 2 and "control or format characters" in escape.output
    assert "\x1b" not in escape.output
    assert run(*base, "--label", "tag").exit_code == 2
    assert run(*base, "--description", "y" * 1025).exit_code == 2
    assert run("query", "--home", home, "--label", "bad label").exit_code == 2
    assert run("query", "--home", home, "--json").output.count('"id"') == 0


def test_attestations_are_shown_but_never_exported_as_a_block_list(home: Path, tmp_path: Path) -> None:
    original = make_image(tmp_path / "original.png", seed=33)
    attested = run(
        "attest", "--home", home, original, "--publisher", "Election Authority",
        "--published-at", "2026-11-03T08:00:00Z", "--where", "https://elections.example/results",
        "--label", "jurisdiction:us-pa",
    )  # fmt: skip
    assert attested.exit_code == 0, attested.output
    rows = json.loads(run("query", "--home", home, "--json").output)["rows"]
    assert {r["category"] for r in rows} == {"attested-original"}
    assert rows[0]["attestation"]["publisher"] == "Election Authority"
    shown = run("show", "--home", home, rows[0]["id"])
    assert "original published by 'Election Authority'" in shown.output
    assert "never a block-list entry" in shown.output

    for fmt in ("hma-csv", "pytx", "stix"):
        out = tmp_path / f"export.{fmt}"
        assert run("export", "--home", home, "--format", fmt, "--out", out).exit_code == 0
        text = out.read_text()
        assert ",attested-original," not in text and rows[0]["value"] not in text
        assert '"category": "attested-original"' not in text
    stix = json.loads(run("query", "--home", home, "--stix").output)
    assert [o for o in stix["objects"] if o["type"] == "indicator"] == []


def test_a_hash_list_cannot_smuggle_in_the_attestation_category(home: Path, tmp_path: Path) -> None:
    listed = tmp_path / "bank.csv"
    listed.write_text(
        "bank,content_id,signal_type,signal_value,category,origin,tlp\n"
        f"b,1,md5,{'b' * 32},attested-original,x,green\n"
        f"b,2,md5,{'c' * 32},csam,x,green\n"
    )
    done = run(
        "contribute", "--home", home, "--list", listed, "--category", "csam", "--new-category", "--json"
    )
    assert done.exit_code == 2
    [refusal] = json.loads(done.stdout)["refused"]
    assert "reserved for provenance records" in refusal["reason"]
    rows = json.loads(run("query", "--home", home, "--json").output)["rows"]
    assert [r["category"] for r in rows] == ["csam"]
