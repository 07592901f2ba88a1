"""Hostile files given to the CLI (issue 13): JSON nested a hundred thousand deep and a 60 MB CSV
field. Each is a named refusal of that item (or that file), never an internal error (exit 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.feeds import md5_signal
from tests.support.processes import accord

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    assert accord("init", "--home", path, "--name", "Example NGO").returncode == 0
    return path


def indicator(md5: str, **extra: object) -> dict[str, object]:
    created = "2026-01-01T00:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--6b5d2c1a-7c55-4a4e-9d3c-2a3f1f9b8d{len(extra):02d}",
        "created": created,
        "modified": created,
        "pattern": f"[file:hashes.MD5 = '{md5}']",
        "pattern_type": "stix",
        "valid_from": created,
        **extra,
    }


def test_contribute_refuses_a_stix_file_nested_too_deeply_to_parse(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    result = accord("contribute", "--home", home, "--stix", path, "--category", "csam")
    assert result.returncode == 2, result.stderr
    assert "nests too deeply to parse (at most 64 levels)" in result.stderr
    assert "Traceback" not in result.stderr


def test_contribute_refuses_one_deeply_nested_indicator_and_keeps_the_others(
    home: Path, tmp_path: Path
) -> None:
    nested: object = "x"
    for _ in range(500):  # parses (Python's parser goes ~1000 deep), but no indicator is like this
        nested = {"a": nested}
    objects = [indicator(md5_signal(1).value), indicator(md5_signal(2).value, x_deep=nested)]
    path = tmp_path / "bundle.json"
    path.write_text(
        json.dumps(
            {"type": "bundle", "id": "bundle--6b5d2c1a-7c55-4a4e-9d3c-2a3f1f9b8d99", "objects": objects}
        )
    )
    result = accord("contribute", "--home", home, "--stix", path, "--category", "csam")
    assert result.returncode == 2, result.stderr  # the CLI's "some items were refused"
    assert (
        f"{path}:object 1" in result.stderr and "the indicator nests deeper than 64 levels" in result.stderr
    )
    assert "1 added" in result.stdout


def test_scan_refuses_a_deeply_nested_jsonl_row_alone(home: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    rows = [{"id": "a", "md5": md5_signal(1).value}, {"id": "c", "md5": md5_signal(3).value}]
    manifest.write_text(json.dumps(rows[0]) + "\n" + DEEP + "\n" + json.dumps(rows[1]) + "\n")
    result = accord("scan", "--home", home, manifest, "--out", tmp_path / "report.jsonl")
    assert result.returncode == 1, result.stderr  # scan's own "nothing matched"
    assert "scanned 3 item(s): 0 matched, 1 without a usable signal" in result.stdout


def test_scan_refuses_a_60_mb_csv_field_alone(home: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    with manifest.open("w") as out:
        out.write(f"id,md5\na,{md5_signal(1).value}\nb,")
        out.write("f" * (60 * 1024 * 1024))
        out.write(f"\nc,{md5_signal(3).value}\n")
    result = accord("scan", "--home", home, manifest, "--out", tmp_path / "report.jsonl", timeout=120)
    assert result.returncode == 1, result.stderr
    assert "scanned 3 item(s): 0 matched, 1 without a usable signal" in result.stdout
