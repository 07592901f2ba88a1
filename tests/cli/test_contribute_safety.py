"""Careless contributors (issue 13): what ``accord contribute`` refuses so that a mistake does not
become a shared abuse hash, a wider audience or a new category. Through the CLI, in-process with
click's runner, against real homes and real generated images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.app import AccordNode
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.hashing import hash_file
from node.model import Indicator, Tlp
from tests.support.cli import run
from tests.support.feeds import encryption_keys, identity
from tests.support.media import make_image, png_bomb

PARTNER_KEY = public_key_to_text(identity(5).public_key)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "ngo"
    assert run("init", "--home", path, "--name", "Example NGO").exit_code == 0
    sealed_to = encryption_key_to_text(encryption_keys(5).public)  # the platform's, exchanged with its key
    added = run(
        "partner", "add", "--home", path, "platform", "--key", PARTNER_KEY, "--encryption-key", sealed_to
    )
    assert added.exit_code == 0
    return path


def held(home: Path) -> dict[str, Indicator]:
    node = AccordNode.open(home)
    try:
        return {str(ind.signal): ind for ind in node.store.iter_indicators(include_revoked=True)}
    finally:
        node.close()


# --- positional paths must be media ------------------------------------------------------------


def test_a_drop_folder_publishes_its_media_and_refuses_other_files_by_name(
    home: Path, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    image = make_image(drop / "photo.png", seed=7)
    (drop / "README.txt").write_text("case notes: do not share\n")
    (drop / "tiny.txt").write_bytes(b"hello")
    (drop / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    (drop / "report.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")

    result = run("contribute", "--home", home, drop, "--category", "csam")

    assert result.exit_code == 2
    assert "3 added, 0 relabelled, 0 duplicates, 4 refused" in result.stdout
    for name in ("README.txt", "tiny.txt", "Thumbs.db", "report.pdf"):
        assert f"{drop / name}: not an image or video" in result.stderr
    assert "--list FILE" in result.stderr and "--any-file" in result.stderr
    hashes = hash_file(image)
    assert set(held(home)) == {str(hashes.md5), str(hashes.sha256), str(hashes.pdq)}


def test_a_hash_list_given_positionally_is_refused_and_any_file_shares_it(home: Path, tmp_path: Path) -> None:
    hash_list = tmp_path / "hashes.txt"
    hash_list.write_text("md5 " + "ab" * 16 + "\n")

    refused = run("contribute", "--home", home, hash_list, "--category", "csam")
    assert refused.exit_code == 2 and "nothing published; refused 1" in refused.stdout
    assert f"{hash_list}: not an image or video" in refused.stderr and "--list" in refused.stderr
    assert held(home) == {}

    as_list = run("contribute", "--home", home, "--list", hash_list, "--category", "csam")
    assert as_list.exit_code == 0 and set(held(home)) == {"md5:" + "ab" * 16}

    forced = run("contribute", "--home", home, hash_list, "--any-file", "--category", "csam")
    assert forced.exit_code == 0 and "2 added" in forced.stdout
    assert str(hash_file(hash_list).sha256) in held(home)


def test_a_media_bomb_is_an_image_shared_by_its_digests_and_the_refusal_says_why(
    home: Path, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(width=10_000, height=10_000))  # ~100 KB, 100 megapixels decoded

    result = run("contribute", "--home", home, bomb, "--category", "csam")

    assert result.exit_code == 2 and "2 added" in result.stdout  # published, with a refusal to read
    assert f"{bomb}: image too large to decode: no pdq; md5 and sha256 shared" in result.stderr
    hashes = hash_file(bomb)
    assert hashes.pdq is None
    kept = held(home)
    assert set(kept) == {str(hashes.md5), str(hashes.sha256)}
    assert {ind.content_type.value for ind in kept.values()} == {"image"}


# --- contributing again never relabels ---------------------------------------------------------


def test_contributing_again_never_widens_tlp_nor_changes_category(home: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "photo.png", seed=11)
    amber = run(
        "contribute", "--home", home, image, "--category", "csam", "--tlp", "amber", "--to", "platform"
    )
    assert amber.exit_code == 0 and "3 added" in amber.stdout

    wider = run("contribute", "--home", home, image, "--category", "csam")  # default --tlp green
    assert wider.exit_code == 2
    assert "0 added" not in wider.stdout and "nothing published; refused 3" in wider.stdout
    assert "already shared as TLP:AMBER" in wider.stderr and "accord relabel" in wider.stderr
    assert {ind.tlp for ind in held(home).values()} == {Tlp.AMBER}

    other = run(
        "contribute", "--home", home, image, "--category", "ncii", "--tlp", "amber", "--to", "platform"
    )
    assert other.exit_code == 2 and "already shared under category 'csam'" in other.stderr
    assert "accord relabel" in other.stderr
    assert {ind.category for ind in held(home).values()} == {"csam"}

    same = run(
        "contribute", "--home", home, image, "--category", "csam", "--tlp", "amber", "--to", "platform"
    )
    assert same.exit_code == 0 and "0 added, 0 relabelled, 3 duplicates, 0 refused" in same.stdout
    narrower = run(
        "contribute", "--home", home, image, "--category", "csam", "--tlp", "red", "--to", "platform"
    )
    assert narrower.exit_code == 0 and "3 relabelled" in narrower.stdout


def test_amber_to_another_recipient_is_a_wider_audience(home: Path, tmp_path: Path) -> None:
    other_key = public_key_to_text(identity(6).public_key)
    assert run("partner", "add", "--home", home, "lab", "--key", other_key).exit_code == 0
    signal = "md5:" + "cd" * 16
    base = ["contribute", "--home", home, "--signal", signal, "--category", "csam", "--tlp", "amber"]
    assert run(*base, "--to", "platform").exit_code == 0
    more = run(*base, "--to", "lab")
    assert more.exit_code == 2 and "already shared as TLP:AMBER" in more.stderr


def test_relabel_widens_explicitly_and_is_audited(home: Path, tmp_path: Path) -> None:
    signal = "sha256:" + "ef" * 32
    base = ["contribute", "--home", home, "--signal", signal, "--category", "csam"]
    assert run(*base, "--tlp", "amber", "--to", "platform").exit_code == 0

    relabel = run("relabel", "--home", home, signal, "--tlp", "green", "--category", "aig-csam")
    assert relabel.exit_code == 0, relabel.output
    assert "relabelled 1 indicator(s)" in relabel.stdout
    ind = held(home)[signal]
    assert (ind.tlp, ind.category) == (Tlp.GREEN, "aig-csam")
    audit = json.loads(run("audit", "list", "--home", home, "--json").stdout)
    relabels = [row for row in audit if row["action"] == "relabel"]
    assert relabels and json.loads(relabels[-1]["details"])["tlp"] == "green"


# --- categories ---------------------------------------------------------------------------------


def test_an_unknown_category_is_refused_with_a_did_you_mean(home: Path) -> None:
    signal = "md5:" + "12" * 16
    typo = run("contribute", "--home", home, "--signal", signal, "--category", "cssam")
    assert typo.exit_code == 2
    assert "unknown category 'cssam'" in typo.stderr and "did you mean 'csam'?" in typo.stderr
    assert "--new-category" in typo.stderr
    assert held(home) == {}

    new = run("contribute", "--home", home, "--signal", signal, "--category", "sextortion", "--new-category")
    assert new.exit_code == 0 and held(home)[signal].category == "sextortion"

    relabel = run("relabel", "--home", home, signal, "--category", "ncil")
    assert relabel.exit_code == 2 and "did you mean 'ncii'?" in relabel.stderr


def test_a_list_items_unknown_category_is_refused_by_item(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "bank.csv"
    csv.write_text(
        "signal_type,signal_value,category\nmd5," + "34" * 16 + ",tvecc\nmd5," + "56" * 16 + ",tvec\n"
    )
    result = run("contribute", "--home", home, "--list", csv, "--category", "csam")
    assert result.exit_code == 2 and "did you mean 'tvec'?" in result.stderr
    assert set(held(home)) == {"md5:" + "56" * 16}


# --- known-benign hashes (MISP warninglists) ---------------------------------------------------

EMPTY_MD5 = "md5:d41d8cd98f00b204e9800998ecf8427e"
EMPTY_SHA1 = "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709"
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_the_empty_files_hashes_are_refused_unless_forced(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    signals = ["--signal", EMPTY_MD5, "--signal", EMPTY_SHA1, "--signal", EMPTY_SHA256]
    refused = run("contribute", "--home", home, *signals, empty, "--any-file", "--category", "csam")
    assert refused.exit_code == 2 and "nothing published; refused 3" in refused.stdout
    assert "MISP warninglist 'List of known hashes for empty files'" in refused.stderr
    assert "--force-warninglisted" in refused.stderr
    assert EMPTY_SHA256.split(":")[1] not in refused.stderr  # never the whole value
    assert held(home) == {}

    forced = run(
        "contribute", "--home", home, "--signal", EMPTY_MD5, "--category", "csam", "--force-warninglisted"
    )
    assert forced.exit_code == 0 and "1 added" in forced.stdout
    assert "it will not match on any node; contributed because of --force-warninglisted" in forced.stderr

    # Held, counted and shown as warninglisted, never matched.
    assert run("match", "--home", home, "--offline", "--signal", EMPTY_MD5).exit_code == 1
    status = json.loads(run("status", "--home", home, "--json").stdout)
    assert status["warninglisted"] == {"List of known hashes for empty files": 1}
    assert "warninglisted: 1 held indicator(s)" in run("status", "--home", home).stdout
    rows = json.loads(run("query", "--home", home, "--signal", EMPTY_MD5, "--json").stdout)["rows"]
    assert [r["warninglisted"] for r in rows] == ["List of known hashes for empty files"]
    assert "(warninglisted)" in run("query", "--home", home, "--signal", EMPTY_MD5).stdout


def test_benign_category_contributions_are_not_screened(home: Path) -> None:
    result = run("contribute", "--home", home, "--signal", EMPTY_MD5, "--category", "benign")
    assert result.exit_code == 0 and "1 added" in result.stdout


def test_match_list_exports_leave_warninglisted_values_out(home: Path, tmp_path: Path) -> None:
    kept = "md5:" + "78" * 16
    for signal in (EMPTY_MD5, kept):
        args = ["contribute", "--home", home, "--signal", signal, "--category", "csam"]
        assert run(*args, "--force-warninglisted").exit_code == 0
    out = tmp_path / "banks.csv"
    assert run("export", "--home", home, "--format", "hma-csv", "--out", out).exit_code == 0
    text = out.read_text()
    assert kept.split(":")[1] in text and EMPTY_MD5.split(":")[1] not in text


def test_contributing_again_to_a_smaller_audience_is_refused_naming_relabel(home: Path) -> None:
    # GREEN reached every partner; a RED version would leave the others holding the GREEN one
    # live. Only 'accord relabel --tlp', which revokes the wider version first, may do that.
    signal = "md5:" + "5e" * 16
    assert run("contribute", "--home", home, "--signal", signal, "--category", "csam").exit_code == 0
    red = run(
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
    assert red.exit_code == 2 and "which revokes it first" in red.stderr
    assert {ind.tlp for ind in held(home).values()} == {Tlp.GREEN}
    moved = run("relabel", "--home", home, signal, "--tlp", "red", "--to", "platform")
    assert moved.exit_code == 0, moved.output
