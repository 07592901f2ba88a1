"""Packaging: the sdist holds the package, its licence and the .proto sources and nothing stray;
the licence is an SPDX expression; the protobuf floor is what the generated code checks at
import; the heavy optional libraries are extras, and a feature that needs a missing one says
how to install the project's extra (simulated by hiding the module in ``sys.modules``)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli.main import cli
from node.errors import MediaError

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _requirement(name: str, requirements: list[str]) -> str | None:
    return next((r for r in requirements if re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0] == name), None)


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_protobuf_floor_is_what_the_generated_code_checks_at_import() -> None:
    floors = set()
    for generated in sorted((ROOT / "node/rpc/pb").glob("*_pb2.py")):
        call = next(
            node
            for node in ast.walk(ast.parse(generated.read_text()))
            if isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "ValidateProtobufRuntimeVersion"
        )
        major, minor, patch = (arg.value for arg in call.args[1:4] if isinstance(arg, ast.Constant))
        floors.add(f"{major}.{minor}.{patch}")
    assert len(floors) == 1
    assert _requirement("protobuf", PROJECT["dependencies"]) == f"protobuf>={floors.pop()}"


def test_pyarrow_and_matplotlib_are_extras_that_dev_installs() -> None:
    core = PROJECT["dependencies"]
    extras = PROJECT["optional-dependencies"]
    assert _requirement("pyarrow", core) is None and _requirement("matplotlib", core) is None
    assert _requirement("pyarrow", extras["parquet"]) and _requirement("matplotlib", extras["charts"])
    assert "accord-node[parquet,charts,scan]" in extras["dev"]


def test_dask_is_the_scan_extra_not_a_core_dependency() -> None:
    core = PROJECT["dependencies"]
    extras = PROJECT["optional-dependencies"]
    assert _requirement("dask", core) is None and _requirement("distributed", core) is None
    assert (_requirement("dask", extras["scan"]) or "").startswith("dask[distributed]")


def test_the_sdist_has_the_proto_sources_and_no_stray_tests(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, tree / name)
    for name in ("node", "proto", "tests"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from setuptools import build_meta; build_meta.build_sdist({str(tmp_path)!r})",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert "Deprecat" not in built.stderr, built.stderr
    (archive,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(archive) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
        info = sdist.extractfile(
            next(n for n in sdist.getnames() if n.endswith("/PKG-INFO") and n.count("/") == 1)
        )
        assert info is not None
        metadata = info.read().decode()
    assert {"LICENSE", "proto/node/rpc/pb/local.proto", "proto/node/rpc/pb/federation.proto"} <= names
    assert "proto/generate.py" in names and "node/rpc/pb/local_pb2.py" in names
    assert not [n for n in names if n.startswith("tests/")]
    assert "License-Expression: Apache-2.0" in metadata


# --- a feature whose extra is missing ------------------------------------------------------


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # "import name" now raises ImportError


def test_a_parquet_scan_without_the_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--home", str(home), "--name", "Lab"]).exit_code == 0
    manifest = tmp_path / "set.parquet"
    manifest.write_bytes(b"PAR1")
    _hide(monkeypatch, "pyarrow", "pyarrow.parquet")
    result = runner.invoke(
        cli, ["scan", "--home", str(home), str(manifest), "--out", str(tmp_path / "r.jsonl")]
    )
    assert result.exit_code == 2, result.output
    assert "Parquet" in result.stderr and "pip install -e '.[parquet]'" in result.stderr


def test_report_charts_without_the_extra_say_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--home", str(home), "--name", "Lab"]).exit_code == 0
    _hide(monkeypatch, "matplotlib", "matplotlib.pyplot")
    result = runner.invoke(cli, ["report", "--home", str(home), "--charts", str(tmp_path / "charts")])
    assert result.exit_code == 2, result.output
    assert "--charts" in result.stderr and "pip install -e '.[charts]'" in result.stderr


def test_video_hashing_without_the_extra_names_the_projects_extra_not_a_pypi_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from node.hashing.video import hash_video

    _hide(monkeypatch, "vpdq")
    with pytest.raises(MediaError) as caught:
        hash_video(tmp_path / "clip.mp4")
    message = str(caught.value)
    assert "pip install -e '.[video]'" in message and "FFmpeg" in message
    assert "accord-node[" not in message
