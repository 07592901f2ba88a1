"""python-threatexchange (the library HMA is built on) reads and matches against Accord's export.

The real ``threatexchange`` package: its local-file exchange reads the ``signal_type signal``
file that ``accord export --format pytx`` writes, its PDQ hasher hashes a generated image, and
its PDQ index matches the resized copy against the list. The other direction, pytx/HMA files
into Accord, goes through ``accord contribute --list``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.media import make_image, make_variant
from tests.support.processes import accord, accord_json

pytest.importorskip("threatexchange")

from threatexchange.exchanges.impl.file_api import (
    FileCollaborationConfig,
    LocalFileSignalExchangeAPI,
)
from threatexchange.signal_type.pdq.signal import PdqSignal


def _fetch_with_pytx(path: Path) -> dict[tuple[str, str], object]:
    collab = FileCollaborationConfig(name="accord", api="local_file", enabled=True, filename=str(path))
    api = LocalFileSignalExchangeAPI.for_collab(collab)
    updates: dict[tuple[str, str], object] = {}
    for delta in api.fetch_iter([PdqSignal], None):
        updates.update(delta.updates)
    return updates


def test_pytx_matches_a_hashed_image_against_an_accord_export(tmp_path: Path) -> None:
    home = tmp_path / "ngo"
    assert accord("init", "--home", home, "--name", "NGO").returncode == 0
    listed = make_image(tmp_path / "listed.png", seed=91)
    other = make_image(tmp_path / "other.png", seed=92)
    assert accord("contribute", "--home", home, listed, "--category", "tvec").returncode == 0
    exported = tmp_path / "accord.pdq.txt"
    assert accord("export", "--home", home, "--format", "pytx", "--out", exported).returncode == 0

    updates = _fetch_with_pytx(exported)
    ours = accord_json("hash", listed)[0]["pdq"].split(":")[1]
    assert set(updates) == {("pdq", ours)}

    index = PdqSignal.get_index_cls().build([(signal, "accord") for (_, signal) in updates])
    copy = make_variant(listed, tmp_path / "copy.jpg", scale=0.5, quality=70)
    their_hash = PdqSignal.hash_from_file(copy)
    matches = index.query(their_hash)
    assert [m.metadata for m in matches] == ["accord"]
    assert index.query(PdqSignal.hash_from_file(other)) == []


def test_a_pytx_signal_file_imports_into_accord(tmp_path: Path) -> None:
    image = make_image(tmp_path / "image.png", seed=93)
    pytx_file = tmp_path / "pytx.txt"
    pytx_file.write_text(f"pdq {PdqSignal.hash_from_file(image)}\n")
    home = tmp_path / "platform"
    assert accord("init", "--home", home, "--name", "Platform").returncode == 0
    imported = accord("contribute", "--home", home, "--list", pytx_file, "--category", "csam")
    assert imported.returncode == 0 and "1 added" in imported.stdout
    assert accord("match", "--home", home, "--offline", image).returncode == 0
