"""``accord scan --c2pa`` (issue 15): every media item's C2PA manifest read beside its hashes,
on real files signed in the test with certificates made in the test. A manifest is evidence:
an item carrying one is reported even without a match, valid and trusted apart; a tampered
one is invalid, a stripped or plain one has none; without the flag nothing changes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node.app import AccordNode
from node.errors import InvalidInput
from tests.support.cli import run
from tests.support.credentials import SigningAuthority, make_signer, signed_dataset, signed_png
from tests.support.feeds import md5_signal


@pytest.fixture(scope="module")
def signers() -> tuple[SigningAuthority, SigningAuthority]:
    """The CA this node trusts (match.c2pa_trust_anchors) and one it does not."""
    return make_signer("Newsroom Photo Desk"), make_signer("Generator Service")


@pytest.fixture
def lab(tmp_path: Path, signers: tuple[SigningAuthority, SigningAuthority]) -> dict[str, Path]:
    """A home trusting the first CA and listing ``listed.png``, and the signed data set."""
    trusted, other = signers
    home = tmp_path / "lab"
    assert run("init", "--home", home, "--name", "AI lab").exit_code == 0
    (home / "anchors.pem").write_bytes(trusted.ca_pem)
    toml = home / "accord.toml"
    text = toml.read_text()
    assert 'c2pa_trust_anchors = ""' in text
    toml.write_text(text.replace('c2pa_trust_anchors = ""', 'c2pa_trust_anchors = "anchors.pem"'))
    media = signed_dataset(tmp_path / "media", trusted=trusted, other=other)
    added = run("contribute", "--home", home, media / "listed.png", "--category", "csam")
    assert added.exit_code == 0, added.output
    return {"home": home, "media": media}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_c2pa_scan_reports_each_manifest_valid_and_trusted_apart(
    lab: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "report.jsonl"
    result = run("scan", "--home", lab["home"], lab["media"], "--out", out, "--c2pa", "--json")
    assert result.exit_code == 0, result.output
    report = {line["id"]: line for line in _lines(out)}
    assert list(report) == ["ai.png", "listed.png", "tampered.png"]  # stripped and plain: no manifest
    ai = report["ai.png"]
    assert ai["matches"] == [] and ai["corroboration"] == 0  # reported for its manifest alone
    assert (ai["c2pa"]["valid"], ai["c2pa"]["trusted"], ai["c2pa"]["ai_generated"]) == (True, False, True)
    assert ai["c2pa"]["claim_generator"] == "Image Generator 1.0"
    listed = report["listed.png"]  # a match and a manifest: both, the manifest trusted here
    assert {m["signal_type"] for m in listed["matches"]} == {"md5", "sha256", "pdq"}
    assert (listed["c2pa"]["valid"], listed["c2pa"]["trusted"], listed["c2pa"]["ai_generated"]) == (
        True,
        True,
        False,
    )
    tampered = report["tampered.png"]["c2pa"]
    assert (tampered["valid"], tampered["trusted"]) == (False, False)
    data = json.loads(result.stdout)
    assert data["matched"] == 1 and data["rows"] == 5
    assert data["c2pa"] == {"items": 3, "ai_generated": 1}


def test_the_text_summary_counts_manifests_and_only_matches_set_the_exit_code(
    lab: dict[str, Path], tmp_path: Path
) -> None:
    shown = run("scan", "--home", lab["home"], lab["media"], "--out", tmp_path / "r.jsonl", "--c2pa")
    assert shown.exit_code == 0, shown.output
    assert "scanned 5 item(s): 1 matched" in shown.stdout
    assert "C2PA: 3 item(s) carry a manifest, 1 declare AI generation" in shown.stdout
    # Items reported for their manifest alone are not matches: exit 1 still means none matched.
    unlisted = tmp_path / "unlisted"
    unlisted.mkdir()
    (unlisted / "ai.png").write_bytes((lab["media"] / "ai.png").read_bytes())
    alone = run("scan", "--home", lab["home"], unlisted, "--out", tmp_path / "a.jsonl", "--c2pa")
    assert alone.exit_code == 1, alone.output
    assert "0 matched" in alone.stdout and "1 item(s) carry a manifest, 1 declare" in alone.stdout
    assert [line["id"] for line in _lines(tmp_path / "a.jsonl")] == ["ai.png"]


def test_without_the_flag_nothing_changes(lab: dict[str, Path], tmp_path: Path) -> None:
    out, table = tmp_path / "plain.jsonl", tmp_path / "plain.csv"
    result = run("scan", "--home", lab["home"], lab["media"], "--out", out, "--json")
    assert result.exit_code == 0, result.output
    [only] = _lines(out)
    assert only["id"] == "listed.png" and "c2pa" not in only
    assert "c2pa" not in json.loads(result.stdout)
    assert run("scan", "--home", lab["home"], lab["media"], "--out", table).exit_code == 0
    header = table.read_text().splitlines()[0]
    assert header == "id,signal_type,indicator_id,origin,category,distance,tlp,corroboration"


def test_a_csv_report_gains_the_c2pa_columns(lab: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    assert run("scan", "--home", lab["home"], lab["media"], "--out", out, "--c2pa").exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0])[-4:] == ["c2pa_state", "c2pa_valid", "c2pa_trusted", "c2pa_ai_generated"]
    ai = [r for r in rows if r["id"] == "ai.png"]
    assert len(ai) == 1 and ai[0]["indicator_id"] == "" and ai[0]["corroboration"] == "0"
    assert (ai[0]["c2pa_valid"], ai[0]["c2pa_trusted"], ai[0]["c2pa_ai_generated"]) == (
        "true",
        "false",
        "true",
    )
    listed = [r for r in rows if r["id"] == "listed.png"]
    assert len(listed) == 3  # one line per match, each with the manifest's cells
    assert {(r["c2pa_state"], r["c2pa_trusted"]) for r in listed} == {("Trusted", "true")}
    assert [r["c2pa_valid"] for r in rows if r["id"] == "tampered.png"] == ["false"]


def test_a_manifest_reads_its_path_column_and_rows_of_hashes_alone_have_nothing_to_read(
    lab: dict[str, Path], tmp_path: Path
) -> None:
    media = lab["media"]
    manifest = tmp_path / "dataset.csv"
    manifest.write_text(
        "id,md5,path\n"
        f"by-path,,{media / 'ai.png'}\n"
        f"hashes-and-path,{md5_signal(7).value},{media / 'tampered.png'}\n"
        f"hashes-alone,{md5_signal(8).value},\n"
        f"gone,{md5_signal(9).value},{tmp_path / 'gone.png'}\n"
    )
    out = tmp_path / "report.jsonl"
    result = run("scan", "--home", lab["home"], manifest, "--out", out, "--c2pa", "--json")
    assert result.exit_code == 1, result.output  # nothing matched
    report = {line["id"]: line for line in _lines(out)}
    assert list(report) == ["by-path", "hashes-and-path"]
    assert report["by-path"]["c2pa"]["ai_generated"] is True
    assert report["hashes-and-path"]["c2pa"]["valid"] is False
    data = json.loads(result.stdout)
    assert data["c2pa"] == {"items": 2, "ai_generated": 1}
    assert data["unusable"] == 1  # the named file that is gone: its manifest could not be read


def test_a_resume_with_the_other_setting_is_refused(lab: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.jsonl"
    node = AccordNode.open(lab["home"])
    try:
        check = node.scan_credential_check()
        with pytest.raises(_Interrupted):
            node.scan(lab["media"], out, fmt="jsonl", chunk_rows=2, progress=_interrupt, c2pa=check)
    finally:
        node.close()
    assert Path(f"{out}.checkpoint").exists()
    refused = run("scan", "--home", lab["home"], lab["media"], "--out", out)
    assert refused.exit_code == 2
    assert "interrupted scan with --c2pa; run it again with --c2pa to resume" in refused.stderr
    resumed = run("scan", "--home", lab["home"], lab["media"], "--out", out, "--c2pa")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed after row 2" in resumed.stdout
    fresh = tmp_path / "fresh.jsonl"
    assert run("scan", "--home", lab["home"], lab["media"], "--out", fresh, "--c2pa").exit_code == 0
    assert out.read_bytes() == fresh.read_bytes()
    # And the other way round: a plain scan's checkpoint refuses a --c2pa rerun.
    plain = tmp_path / "plain.jsonl"
    node = AccordNode.open(lab["home"])
    try:
        with pytest.raises(_Interrupted):
            node.scan(lab["media"], plain, fmt="jsonl", chunk_rows=2, progress=_interrupt)
        with pytest.raises(InvalidInput, match="interrupted scan without --c2pa"):
            node.scan(lab["media"], plain, fmt="jsonl", c2pa=node.scan_credential_check())
    finally:
        node.close()


def test_a_resume_under_other_trust_anchors_is_refused(
    lab: dict[str, Path], signers: tuple[SigningAuthority, SigningAuthority], tmp_path: Path
) -> None:
    out = tmp_path / "report.csv"
    node = AccordNode.open(lab["home"])
    try:
        with pytest.raises(_Interrupted):
            node.scan(
                lab["media"],
                out,
                fmt="csv",
                chunk_rows=2,
                progress=_interrupt,
                c2pa=node.scan_credential_check(),
            )
    finally:
        node.close()
    (lab["home"] / "anchors.pem").write_bytes(signers[1].ca_pem)  # now the other CA is trusted
    refused = run("scan", "--home", lab["home"], lab["media"], "--out", out, "--c2pa")
    assert refused.exit_code == 2
    assert "interrupted --c2pa scan under other trust anchors" in refused.stderr
    (lab["home"] / "anchors.pem").write_bytes(signers[0].ca_pem)
    resumed = run("scan", "--home", lab["home"], lab["media"], "--out", out, "--c2pa")
    assert resumed.exit_code == 0 and "resumed after row 2" in resumed.stdout


class _Interrupted(Exception):
    pass


def _interrupt(rows: int) -> None:
    raise _Interrupted  # after the first chunk is checkpointed, as a kill would leave it


def test_without_the_c2pa_extra_the_flag_fails_up_front(lab: dict[str, Path], tmp_path: Path) -> None:
    # A real process in which importing c2pa fails, as when the extra is not installed.
    blocked = (
        "import sys; sys.modules['c2pa'] = None;"
        "from node.cli.main import main; sys.argv[0] = 'accord'; main()"
    )
    out = tmp_path / "r.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", blocked, "scan", "--home", str(lab["home"]), str(lab["media"]),
         "--out", str(out), "--c2pa"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "reading C2PA manifests (accord scan --c2pa) needs an optional dependency" in result.stderr
    assert "'c2pa' extra" in result.stderr
    assert not out.exists()


def test_an_untrusting_node_reports_valid_but_never_trusted(
    signers: tuple[SigningAuthority, SigningAuthority], tmp_path: Path
) -> None:
    home = tmp_path / "plain-home"
    assert run("init", "--home", home, "--name", "No anchors").exit_code == 0
    media = tmp_path / "one"
    signed_png(signers[0], media / "photo.png", seed=77)
    out = tmp_path / "r.jsonl"
    assert run("scan", "--home", home, media, "--out", out, "--c2pa").exit_code == 1
    [line] = _lines(out)
    assert (line["c2pa"]["valid"], line["c2pa"]["trusted"]) == (True, False)
