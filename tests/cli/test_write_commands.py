"""Write commands for scripts: ``--json`` results, the exit code of a re-run that only repeats
known refusals, and exports (one form, ``--out -`` for stdout, files 0600, every export audited).

In-process with click's runner against real homes; the partner in the opinion test is a real
node serving on loopback.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from node.app import AccordNode
from node.feed import encryption_key_to_text
from tests.support.cli import run
from tests.support.feeds import encryption_keys, md5_signal, pdq_signal
from tests.support.nodes import LiveNode


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "ngo"
    assert run("init", "--home", path, "--name", "Example NGO").exit_code == 0
    return path


def contribute(home: Path, *signals: str, tlp: str = "green") -> None:
    args = [a for s in signals for a in ("--signal", s)]
    extra = ["--tlp", tlp, "--to", "lab"] if tlp in ("amber", "red") else []
    assert run("contribute", "--home", home, *args, "--category", "csam", *extra).exit_code == 0


def audit_rows(home: Path) -> list[tuple[str, dict[str, object]]]:
    node = AccordNode.open(home)
    try:
        return [(r.action, json.loads(r.details)) for r in node.audit.records()]
    finally:
        node.close()


def add_lab(home: Path) -> None:
    key = "ed25519:" + "A" * 43 + "="
    sealing = encryption_key_to_text(encryption_keys(7).public)  # restricted bodies are sealed to it
    assert (
        run("partner", "add", "--home", home, "lab", "--key", key, "--encryption-key", sealing).exit_code == 0
    )


# --- exports --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["stix", "pytx", "hma-csv"])
def test_export_to_dash_writes_standard_output_not_a_file(
    home: Path, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    contribute(home, str(pdq_signal(1)), str(md5_signal(2)))
    monkeypatch.chdir(tmp_path)
    result = run("export", "--home", home, "--format", fmt, "--out", "-")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists()
    assert pdq_signal(1).value in result.stdout
    assert "wrote" in result.stderr and "wrote" not in result.stdout  # the data alone on stdout
    if fmt == "stix":
        assert json.loads(result.stdout)["type"] == "bundle"


@pytest.mark.parametrize("fmt", ["stix", "pytx", "hma-csv"])
def test_every_export_is_private_to_the_operator_even_over_a_wider_file(
    home: Path, tmp_path: Path, fmt: str
) -> None:
    add_lab(home)
    contribute(home, str(pdq_signal(3)), tlp="red")
    out = tmp_path / f"export-{fmt}"
    out.write_text("old")
    out.chmod(0o644)
    result = run("export", "--home", home, "--format", fmt, "--out", out, "--include-red")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert pdq_signal(3).value in out.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_export_has_one_form(home: Path, tmp_path: Path) -> None:
    old = run("export", "--home", home, "--stix", tmp_path / "b.json")
    assert old.exit_code == 2 and "--stix" in old.output
    assert run("export", "--home", home).exit_code == 2  # --out is required
    assert run("export", "--home", home, "--out", tmp_path / "b.json").exit_code == 0  # stix by default
    assert json.loads((tmp_path / "b.json").read_text())["type"] == "bundle"


def test_an_export_to_a_missing_directory_is_refused_clearly(home: Path, tmp_path: Path) -> None:
    result = run("export", "--home", home, "--out", tmp_path / "nowhere" / "x.json")
    assert result.exit_code == 2
    assert f"cannot write the export to {tmp_path / 'nowhere' / 'x.json'}" in result.stderr
    assert [a for a, _ in audit_rows(home)] == []  # nothing was exported, nothing recorded


def test_match_list_exports_backups_and_analyst_accounts_are_audited(home: Path, tmp_path: Path) -> None:
    contribute(home, str(pdq_signal(4)))
    run("export", "--home", home, "--format", "hma-csv", "--out", tmp_path / "banks.csv")
    run("export", "--home", home, "--format", "pytx", "--out", "-")
    run("backup", "--home", home, tmp_path / "copy.db")
    token = run("analyst", "add", "--home", home, "alice", "--max-tlp", "red").stdout.strip()
    run("analyst", "remove", "--home", home, "alice")
    rows = audit_rows(home)
    assert [a for a, _ in rows][-5:] == ["export", "export", "backup", "analyst-add", "analyst-remove"]
    hma, pytx, backup, added, _ = (d for _, d in rows[-5:])
    assert hma == {
        "path": str(tmp_path / "banks.csv"),
        "format": "hma-csv",
        "indicators": 1,
        "include_red": False,
    }
    assert pytx["path"] == "stdout" and pytx["format"] == "pytx"
    assert backup == {"path": str(tmp_path / "copy.db")}
    assert added == {"analyst": "alice", "max_tlp": "red", "partner": None}
    assert token and all(token not in json.dumps(d) for _, d in rows)
    assert all(pdq_signal(4).value not in json.dumps(d) for _, d in rows)


# --- --json on write commands ---------------------------------------------------------------


def test_write_commands_print_one_json_object(home: Path, tmp_path: Path) -> None:
    fresh = json.loads(run("init", "--home", tmp_path / "other", "--name", "Other", "--json").stdout)
    assert fresh["name"] == "Other" and fresh["key_id"] and fresh["home"] == str(tmp_path / "other")

    signals = ["--signal", str(md5_signal(5)), "--signal", str(md5_signal(6))]
    added = json.loads(run("contribute", "--home", home, *signals, "--category", "csam", "--json").stdout)
    assert added == {
        "published": True,
        "entries": [1],
        "added": 2,
        "relabelled": 0,
        "duplicates": 0,
        "refused": [],
        "forced": [],
        "c2pa": [],  # signals given as text carry no C2PA summary
        "c2pa_note": None,
    }
    relabel = run("relabel", "--home", home, str(md5_signal(5)), "--category", "ncii", "--json")
    assert json.loads(relabel.stdout) == {
        "action": "relabel",
        "updated": 1,
        "unchanged": 0,
        "entries": [2],
        "refused": [],
    }
    expire = run("expire", "--home", home, str(md5_signal(5)), "--at", "2099-01-01T00:00:00Z", "--json")
    assert json.loads(expire.stdout)["action"] == "expire"
    revoke = json.loads(run("revoke", "--home", home, str(md5_signal(6)), "--json").stdout)
    assert revoke["action"] == "revoke" and revoke["updated"] == 1 and revoke["entries"] == [4]

    exported = json.loads(run("export", "--home", home, "--out", tmp_path / "x.json", "--json").stdout)
    assert exported == {
        "format": "stix",
        "out": str(tmp_path / "x.json"),
        "indicators": 1,
        "include_red": False,
    }
    to_stdout = run("export", "--home", home, "--format", "pytx", "--out", "-", "--json")
    assert json.loads(to_stdout.stderr)["out"] == "-"  # stdout carries the data itself

    backup = run("backup", "--home", home, tmp_path / "b.db", "--json")
    assert json.loads(backup.stdout) == {"backup": str(tmp_path / "b.db")}
    account = json.loads(run("analyst", "add", "--home", home, "bob", "--json").stdout)
    assert account["name"] == "bob" and len(account["token"]) > 20 and account["partner"] is None

    manifest = tmp_path / "set.csv"
    manifest.write_text(f"id,md5\na,{md5_signal(5).value}\nb,{md5_signal(99).value}\n")
    scan = run("scan", "--home", home, manifest, "--out", tmp_path / "r.jsonl", "--json")
    report = json.loads(scan.stdout)
    assert scan.exit_code == 0 and report["rows"] == 2 and report["matched"] == 1
    assert report["report"] == str(tmp_path / "r.jsonl")


def test_opinion_commands_print_json(tmp_path: Path) -> None:
    origin = LiveNode.start(tmp_path / "origin", "Origin")
    try:
        origin.publish(1, n=2)
        reader = LiveNode.start(tmp_path / "reader", "Reader")
        try:
            reader.pin(origin, "origin", endpoint=origin.address)
            origin.pin(reader, "reader")
            reader.node.sync()
        finally:
            reader.stop()
    finally:
        origin.stop()
    home, target = tmp_path / "reader", str(pdq_signal(1000))
    disputed = run("dispute", "--home", home, target, "--reason", "a cartoon", "--json")
    assert disputed.exit_code == 0, disputed.output
    assert json.loads(disputed.stdout) == {"opinion": "disagree", "entries": [1]}
    agreed = json.loads(run("agree", "--home", home, target, "--json").stdout)
    assert agreed == {"opinion": "agree", "entries": [2]}
    withdrawn = json.loads(run("withdraw", "--home", home, target, "--json").stdout)
    assert withdrawn == {"opinion": "withdrawal", "entries": [3]}


# --- exit codes of re-runs ------------------------------------------------------------------


def test_a_rerun_refusing_only_known_lines_exits_6_and_a_new_refusal_exits_2(
    home: Path, tmp_path: Path
) -> None:
    hashes = tmp_path / "hashes.txt"
    hashes.write_text(f"{md5_signal(7)}\nmd5:not-hex\n")
    first = run("contribute", "--home", home, "--list", hashes, "--category", "csam", "--json")
    assert first.exit_code == 2
    assert json.loads(first.stdout)["refused"] == [
        {"source": f"{hashes}:2", "reason": json.loads(first.stdout)["refused"][0]["reason"], "known": False}
    ]
    again = run("contribute", "--home", home, "--list", hashes, "--category", "csam")
    assert again.exit_code == 6, again.output  # nothing new to look at
    assert "(refused before)" in again.stderr
    hashes.write_text(f"{md5_signal(7)}\nmd5:not-hex\nsha256:short\n")
    grown = run("contribute", "--home", home, "--list", hashes, "--category", "csam", "--json")
    assert grown.exit_code == 2
    assert [r["known"] for r in json.loads(grown.stdout)["refused"]] == [True, False]


def test_a_curation_rerun_refusing_only_known_lines_exits_6(home: Path, tmp_path: Path) -> None:
    contribute(home, str(md5_signal(8)))
    listed = tmp_path / "expire.txt"
    listed.write_text(f"{md5_signal(8)}\nnot a line\n")
    at = ("--at", "2099-01-01T00:00:00Z")
    assert run("expire", "--home", home, "--list", listed, *at).exit_code == 2
    again = run("expire", "--home", home, "--list", listed, *at, "--json")
    assert again.exit_code == 6
    assert json.loads(again.stdout)["refused"][0]["known"] is True
