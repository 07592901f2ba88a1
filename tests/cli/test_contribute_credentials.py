"""``accord contribute`` records a media file's C2PA summary with its indicators (issue 15):
valid, trusted (under ``match.c2pa_trust_anchors``) and AI-declared apart; an invalid manifest
is recorded as invalid and never blocks; text signals carry none; without the extra the
contribution goes ahead and says once that C2PA was not checked."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from node.cli.main import cli
from tests.support.cli import run
from tests.support.credentials import AI_SOURCE, SigningAuthority, make_signer, tamper
from tests.support.media import make_image, render_image


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "hotline"
    assert run("init", "--home", path, "--name", "Hotline").exit_code == 0
    return path


@pytest.fixture(scope="module")
def signer() -> SigningAuthority:
    return make_signer("ImageGen signing key")


def _signed(signer: SigningAuthority, path: Path, *, seed: int) -> Path:
    out = io.BytesIO()
    render_image(seed=seed, size=(320, 240)).save(out, format="PNG")
    path.write_bytes(signer.sign(out.getvalue(), source_type=AI_SOURCE, generator="ImageGen"))
    return path


def _shown(home: Path, path: Path) -> dict[str, Any]:
    """``accord show --json`` of the sha256 indicator of the file at ``path``."""
    shown = run("show", "--home", home, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest(), "--json")
    assert shown.exit_code == 0, shown.output
    [row] = json.loads(shown.stdout)
    return row  # type: ignore[no-any-return]


def test_each_files_summary_goes_with_its_indicators(
    home: Path, tmp_path: Path, signer: SigningAuthority
) -> None:
    fake = _signed(signer, tmp_path / "fake.png", seed=61)
    broken = tmp_path / "broken.png"
    broken.write_bytes(tamper(_signed(signer, tmp_path / "other.png", seed=62).read_bytes()))
    plain = make_image(tmp_path / "plain.png", seed=63)
    text = "md5:" + "b" * 32

    done = run(
        "contribute", "--home", home, fake, broken, plain, "--signal", text,
        "--category", "election-deepfake", "--label", "election:us-2026", "--json",
    )  # fmt: skip

    assert done.exit_code == 0, done.output  # an invalid manifest never blocks or refuses
    report = json.loads(done.stdout)
    assert report["refused"] == [] and report["c2pa_note"] is None
    assert {(r["file"], r["valid"], r["trusted"]) for r in report["c2pa"]} == {
        (str(fake), True, False),
        (str(broken), False, False),
    }
    row = _shown(home, fake)
    c2pa = row["c2pa"]
    assert (c2pa["valid"], c2pa["trusted"], c2pa["ai_generated"]) == (True, False, True)
    assert c2pa["signer"] == "ImageGen signing key" and c2pa["claim_generator"] == "ImageGen 1.0"
    assert row["labels"] == ["election:us-2026"]  # the command's note and the file's reading together
    assert _shown(home, broken)["c2pa"]["valid"] is False  # recorded as invalid, not dropped
    assert _shown(home, plain)["c2pa"] is None
    [typed] = json.loads(run("show", "--home", home, text, "--json").stdout)
    assert typed["c2pa"] is None  # a signal given as text has no file, so no credentials

    again = run("contribute", "--home", home, fake, "--category", "election-deepfake",
                "--label", "election:us-2026", "--json")  # fmt: skip
    assert json.loads(again.stdout)["added"] == 0 and json.loads(again.stdout)["entries"] == []  # restartable

    table = run("show", "--home", home, "sha256:" + hashlib.sha256(fake.read_bytes()).hexdigest())
    assert "c2pa:          C2PA valid (signer not trusted by the origin)" in table.output
    assert "declares itself AI-generated" in table.output and "the origin's reading" in table.output


def test_the_summary_is_trusted_under_the_configured_anchors(
    home: Path, tmp_path: Path, signer: SigningAuthority
) -> None:
    (home / "anchors.pem").write_bytes(signer.ca_pem)
    toml = home / "accord.toml"
    toml.write_text(toml.read_text().replace('c2pa_trust_anchors = ""', 'c2pa_trust_anchors = "anchors.pem"'))
    fake = _signed(signer, tmp_path / "fake.png", seed=64)

    done = run("contribute", "--home", home, fake, "--category", "election-deepfake")

    assert done.exit_code == 0, done.output
    assert "recorded with its indicators: C2PA trusted" in done.stdout
    assert _shown(home, fake)["c2pa"]["trusted"] is True


def test_a_broken_anchors_file_is_refused_before_anything_is_published(home: Path, tmp_path: Path) -> None:
    (home / "anchors.pem").write_text("not a certificate")
    toml = home / "accord.toml"
    toml.write_text(toml.read_text().replace('c2pa_trust_anchors = ""', 'c2pa_trust_anchors = "anchors.pem"'))
    image = make_image(tmp_path / "plain.png", seed=65)

    done = CliRunner().invoke(cli, ["contribute", "--home", str(home), str(image), "--category", "csam"])

    assert done.exit_code != 0 and "holds no PEM certificate" in done.output
    assert run("query", "--home", home).exit_code == 1  # nothing published


def test_without_the_extra_contribute_works_and_says_so_once(
    home: Path, tmp_path: Path, signer: SigningAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _signed(signer, tmp_path / "fake.png", seed=66)
    plain = make_image(tmp_path / "plain.png", seed=67)
    monkeypatch.setitem(sys.modules, "c2pa", None)  # "import c2pa" now raises ImportError

    done = run("contribute", "--home", home, fake, plain, "--category", "election-deepfake", "--json")

    assert done.exit_code == 0, done.output
    assert done.stderr.count("C2PA not checked") == 1 and "pip install -e '.[c2pa]'" in done.stderr
    report = json.loads(done.stdout)
    assert report["added"] == 6 and report["c2pa"] == [] and "C2PA not checked" in report["c2pa_note"]
    assert _shown(home, fake)["c2pa"] is None

    signals = run("contribute", "--home", home, "--signal", "md5:" + "c" * 32, "--category", "csam")
    assert signals.exit_code == 0 and "C2PA" not in signals.output  # no file, nothing to check
