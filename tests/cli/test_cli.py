"""The accord command line, run in-process with click's runner against real homes and files."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from stix2validator import ValidationOptions, validate_string

from node.cli.main import cli
from node.feed import encryption_key_to_text, public_key_to_text
from tests.support.cli import run
from tests.support.feeds import encryption_keys, identity
from tests.support.media import make_flat_image, make_image, make_non_image, make_variant

PARTNER = identity(5)
PARTNER_KEY = public_key_to_text(PARTNER.public_key)
PARTNER_ENCRYPTION_KEY = encryption_key_to_text(encryption_keys(5).public)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "ngo"
    assert run("init", "--home", path, "--name", "Example NGO").exit_code == 0
    return path


COMMANDS = [
    [],
    ["init"],
    ["identity"],
    ["partner"],
    ["partner", "add"],
    ["partner", "list"],
    ["partner", "remove"],
    ["hash"],
    ["contribute"],
    ["serve"],
    ["sync"],
    ["match"],
    ["revoke"],
    ["export"],
    ["status"],
    ["push"],
    ["evidence"],
    ["dispute"],
    ["agree"],
    ["withdraw"],
    ["feedback"],
    ["sightings"],
    ["key"],
    ["key", "rotate"],
    ["partner", "set"],
    ["partner", "compromise"],
    ["partner", "uncompromise"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "accord")
def test_every_command_documents_itself(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage: accord" in result.output
    if command and command not in (["partner"], ["key"]):
        assert "--home" in result.output


def test_init_creates_a_private_key_and_refuses_to_overwrite(home: Path) -> None:
    assert stat.S_IMODE((home / "identity.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "encryption.key").stat().st_mode) == 0o600
    again = run("init", "--home", home, "--name", "Other")
    assert again.exit_code == 3
    assert "refusing to replace" in again.output


def test_identity_prints_what_partners_need(home: Path) -> None:
    card = json.loads(run("identity", "--home", home, "--json").output)
    assert card["name"] == "Example NGO"
    assert card["public_key"].startswith("ed25519:")
    assert len(card["key_id"]) == 64 and len(card["fingerprint"]) == 19


def test_home_may_be_given_before_the_command(home: Path) -> None:
    assert json.loads(run("--home", home, "identity", "--json").output)["name"] == "Example NGO"


def test_home_comes_from_the_environment(home: Path) -> None:
    result = CliRunner().invoke(cli, ["identity", "--json"], env={"ACCORD_HOME": str(home)})
    assert json.loads(result.output)["name"] == "Example NGO"


def test_a_missing_home_says_how_to_create_one(tmp_path: Path) -> None:
    result = run("status", "--home", tmp_path / "nowhere")
    assert result.exit_code == 3
    assert "accord init" in result.output


def test_partners_are_pinned_listed_and_removed(home: Path) -> None:
    added = run(
        "partner", "add", "--home", home, "platform", "--key", PARTNER_KEY, "--endpoint", "127.0.0.1:7710"
    )
    assert added.exit_code == 0 and PARTNER.key_id in added.output
    listed = json.loads(run("partner", "list", "--home", home, "--json").output)
    assert listed == [
        {"name": "platform", "key_id": PARTNER.key_id, "endpoint": "127.0.0.1:7710", "cert_fingerprint": None}
    ]
    assert run("partner", "add", "--home", home, "again", "--key", PARTNER_KEY).exit_code == 3
    assert run("partner", "remove", "--home", home, "platform").exit_code == 0
    assert run("partner", "remove", "--home", home, "platform").exit_code == 3


@pytest.mark.parametrize(
    ("key", "endpoint", "message"),
    [
        ("ed25519:AAAA", None, "32 bytes"),
        ("not base64!", None, "base64"),
        (PARTNER_KEY, "nohost", "HOST:PORT"),
    ],
)
def test_bad_partner_input_is_refused_clearly(
    home: Path, key: str, endpoint: str | None, message: str
) -> None:
    args = ["partner", "add", "--home", home, "platform", "--key", key]
    result = run(*args, *(["--endpoint", endpoint] if endpoint else []))
    assert result.exit_code == 2
    assert message in result.output
    assert json.loads(run("partner", "list", "--home", home, "--json").output) == []


def test_hash_prints_good_files_and_names_the_bad_ones(tmp_path: Path) -> None:
    image = make_image(tmp_path / "a.png", seed=1)
    blob = make_non_image(tmp_path / "blob.bin")
    result = run("hash", image, blob, tmp_path / "missing.png", "--json")
    assert result.exit_code == 2
    rows = json.loads(result.stdout)
    assert [Path(r["file"]).name for r in rows] == ["a.png", "blob.bin"]
    assert rows[0]["pdq"].startswith("pdq:") and rows[0]["pdq_quality"] >= 80
    assert rows[1]["pdq"] is None and rows[1]["md5"].startswith("md5:")
    assert "missing.png" in result.stderr


def test_contribute_refuses_low_quality_pdq_by_name_and_keeps_the_rest(home: Path, tmp_path: Path) -> None:
    good = make_image(tmp_path / "good.png", seed=2)
    flat = make_flat_image(tmp_path / "flat.png")
    result = run("contribute", "--home", home, good, flat, "--category", "csam", "--tlp", "green")
    assert result.exit_code == 2
    assert "flat.png" in result.stderr and "quality" in result.stderr
    assert "5 added" in result.stdout  # md5+sha256+pdq of good, md5+sha256 of flat
    status = json.loads(run("status", "--home", home, "--json").output)
    assert sum(c["count"] for c in status["counts"]) == 5


def test_contribute_reads_hash_lists_and_reports_bad_lines(home: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("md5 " + "a" * 32 + "\nsha256 nothex\npdq " + "f0" * 32 + "\n")
    result = run("contribute", "--home", home, "--list", listing, "--category", "ncii", "--tlp", "clear")
    assert result.exit_code == 2
    assert f"{listing}:2" in result.stderr
    assert "2 added" in result.stdout


def test_restricted_tlp_needs_a_known_recipient(home: Path) -> None:
    signal = "md5:" + "b" * 32
    missing = run("contribute", "--home", home, "--signal", signal, "--category", "csam", "--tlp", "red")
    assert missing.exit_code == 2 and "recipient" in missing.output
    unknown = run(
        "contribute", "--home", home, "--signal", signal, "--category", "csam", "--tlp", "red", "--to", "x"
    )
    assert unknown.exit_code == 3
    # A partner pinned without its encryption key cannot be sealed to: refused, nothing published.
    other_key = public_key_to_text(identity(6).public_key)
    assert run("partner", "add", "--home", home, "nokey", "--key", other_key).exit_code == 0
    keyless = run(
        "contribute",
        "--home",
        home,
        "--signal",
        signal,
        "--category",
        "csam",
        "--tlp",
        "red",
        "--to",
        "nokey",
    )
    assert keyless.exit_code == 2
    assert "no recently confirmed encryption key for nokey" in keyless.output
    assert json.loads(run("status", "--home", home, "--json").stdout)["own_head_seq"] == 0
    pin = ["--key", PARTNER_KEY, "--encryption-key", PARTNER_ENCRYPTION_KEY]
    assert run("partner", "add", "--home", home, "platform", *pin).exit_code == 0
    ok = run(
        "contribute",
        "--home",
        home,
        "--signal",
        signal,
        "--category",
        "csam",
        "--tlp",
        "red",
        "--to",
        "platform",
    )
    assert ok.exit_code == 0


def test_match_exit_codes_tell_match_no_match_and_error(home: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "a.png", seed=3)
    variant = make_variant(image, tmp_path / "a.jpg")
    other = make_image(tmp_path / "b.png", seed=4)
    run("contribute", "--home", home, image, "--category", "csam")

    found = run("match", "--home", home, variant, "--json")
    assert found.exit_code == 0
    [md5, sha256, pdq] = json.loads(found.stdout)
    assert (md5["matches"], sha256["matches"]) == ([], [])  # re-encoded: bytes differ
    assert pdq["matches"][0]["category"] == "csam" and 0 < pdq["matches"][0]["distance"] <= 31
    assert run("match", "--home", home, other).exit_code == 1
    assert run("match", "--home", home, "--signal", "pdq:xyz").exit_code == 2


def test_revoke_stops_matching_and_unknown_targets_are_refused(home: Path) -> None:
    signal = "sha256:" + "c" * 64
    run("contribute", "--home", home, "--signal", signal, "--category", "tvec")
    assert run("match", "--home", home, "--signal", signal).exit_code == 0
    assert run("revoke", "--home", home, signal).exit_code == 0
    assert run("match", "--home", home, "--signal", signal).exit_code == 1
    assert run("revoke", "--home", home, signal).exit_code == 3
    assert run("revoke", "--home", home, "indicator--00000000-0000-4000-8000-000000000000").exit_code == 3


def test_export_is_valid_stix_and_leaves_red_out_unless_asked(home: Path, tmp_path: Path) -> None:
    pin = ["--key", PARTNER_KEY, "--encryption-key", PARTNER_ENCRYPTION_KEY]
    assert run("partner", "add", "--home", home, "platform", *pin).exit_code == 0
    make_image(tmp_path / "a.png", seed=6)
    run("contribute", "--home", home, tmp_path / "a.png", "--category", "election-deepfake", "--tlp", "clear")
    run(
        "contribute",
        "--home",
        home,
        "--signal",
        "md5:" + "d" * 32,
        "--category",
        "csam",
        "--tlp",
        "red",
        "--to",
        "platform",
    )
    out = tmp_path / "export.json"

    assert run("export", "--home", home, "--out", out).exit_code == 0
    indicators = [o for o in json.loads(out.read_text())["objects"] if o["type"] == "indicator"]
    assert len(indicators) == 3
    for strict in (False, True):
        results = validate_string(out.read_text(), ValidationOptions(strict=strict))
        assert results.is_valid, results.errors
        assert [str(e) for e in results.errors] == [] and results.warnings == []

    run("export", "--home", home, "--out", out, "--include-red")
    assert len([o for o in json.loads(out.read_text())["objects"] if o["type"] == "indicator"]) == 4


def test_status_counts_by_origin_category_and_signal_type(home: Path) -> None:
    run(
        "contribute",
        "--home",
        home,
        "--signal",
        "md5:" + "e" * 32,
        "--signal",
        "md5:" + "f" * 32,
        "--category",
        "ncii",
    )
    status = json.loads(run("status", "--home", home, "--json").output)
    assert status["counts"] == [
        {
            "origin": status["key_id"],
            "origin_name": "Example NGO",
            "category": "ncii",
            "signal_type": "md5",
            "count": 2,
        }
    ]
    assert status["own_head_seq"] == 1
    text = run("status", "--home", home).output
    assert "Example NGO" in text and "ncii" in text


def test_sync_with_no_partners_says_so(home: Path) -> None:
    result = run("sync", "--home", home)
    assert result.exit_code == 0 and "no partner" in result.output
    assert run("sync", "--home", home, "--partner", "ghost").exit_code == 3


def _every_command(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_every_command(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("command", _every_command(cli), ids=" ".join)
def test_every_help_page_of_the_whole_tree_renders(command: tuple[str, ...]) -> None:
    """The README says the tests check every help page: all of them, found by walking the tree."""
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage: accord" in result.output
    if not isinstance(cli.get_command(click.Context(cli), command[0]), click.Group):
        assert "--home" in result.output


def test_the_cli_starts_without_loading_the_warninglists_schema_machinery() -> None:
    """Every command starts a process: importing ``pymispwarninglists`` pulled in jsonschema's
    format checkers (~1.2 s, a third of each command's start), for lists only matching reads."""
    heavy = ("pymispwarninglists", "jsonschema", "rfc3987_syntax")
    probe = f"import sys, node.cli.main; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
