"""Saving and loading the PDQ index: same answers, and refusal of anything it did not write."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from node.errors import ConfigError
from node.match import PdqIndex
from tests.match.pdq_data import near, random_hashes, uuid_ids


def saved_index(directory: Path) -> tuple[PdqIndex, list[bytes]]:
    """An index with a base, a small segment, a tail, removals and non-uuid ids, saved."""
    rng = np.random.default_rng(11)
    hashes = random_hashes(2500, rng)
    ids = uuid_ids(2000, rng) + [f"odd-{n}" for n in range(500)]
    index = PdqIndex(background_merge=False)
    index.bulk_load(ids[:1500], hashes[:1500])
    index.add_many(ids[1500:2000], hashes[1500:2000])
    index.merge()
    index.add_many(ids[2000:], hashes[2000:])
    index.remove_many([ids[3], ids[1600], ids[2400]])
    index.save(directory, meta={"cursor": 42})
    queries = [near(hashes[n], n % 32, rng).tobytes() for n in range(0, 2500, 50)]
    return index, queries


def test_round_trip_answers_the_same(tmp_path: Path) -> None:
    index, queries = saved_index(tmp_path)
    loaded = PdqIndex.load(tmp_path)
    assert len(loaded) == len(index) == 2497
    assert loaded.stats() == index.stats()
    for threshold in (0, 31, 63):
        assert [loaded.query(q, threshold) for q in queries] == [index.query(q, threshold) for q in queries]
    loaded.add("odd-after", queries[0])  # a loaded index keeps working
    loaded.remove("odd-7")
    assert "odd-after" in {h.indicator_id for h in loaded.query(queries[0], 0)}
    assert json.loads((tmp_path / "manifest.json").read_text())["meta"] == {"cursor": 42}


def test_a_second_save_replaces_the_first(tmp_path: Path) -> None:
    index, _ = saved_index(tmp_path)
    first = set(tmp_path.glob("*.npy"))
    index.save(tmp_path)
    assert set(tmp_path.glob("*.npy")).isdisjoint(first)
    assert len(PdqIndex.load(tmp_path)) == len(index)


def rewrite_manifest(directory: Path, change: str) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    if change == "version":
        manifest["version"] = 99
    elif change == "rows":
        manifest["segments"][0]["rows"] += 1
    elif change == "chunks":
        manifest["chunk_widths"] = [16] * 16
    elif change == "format":
        manifest["format"] = "pickle"
    elif change == "path":
        manifest["files"] = {"../escape.npy": {"bytes": 1, "sha256": "0"}}
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("change", ["version", "rows", "chunks", "format", "path"])
def test_load_refuses_a_mismatched_manifest(tmp_path: Path, change: str) -> None:
    saved_index(tmp_path)
    rewrite_manifest(tmp_path, change)
    with pytest.raises(ConfigError):
        PdqIndex.load(tmp_path)


def test_load_refuses_a_corrupted_file(tmp_path: Path) -> None:
    saved_index(tmp_path)
    victim = next(tmp_path.glob("*-s0-entries.npy"))
    data = bytearray(victim.read_bytes())
    data[-5] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="checksum"):
        PdqIndex.load(tmp_path)


def test_load_refuses_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="manifest"):
        PdqIndex.load(tmp_path / "absent")
    saved_index(tmp_path)
    next(tmp_path.glob("*-tail-ids.npy")).unlink()
    with pytest.raises(ConfigError, match="missing"):
        PdqIndex.load(tmp_path)


def test_load_refuses_entries_that_point_outside_the_segment(tmp_path: Path) -> None:
    """A consistent-looking save whose tables are wrong must fail before a compiled loop reads it."""
    saved_index(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    name = manifest["segments"][0]["entries"]
    entries = np.load(tmp_path / name)
    entries[0, 0] = np.uint32(0xFFFFFFFF)
    np.save(tmp_path / name, entries)
    from node.match.persist import _sha256

    manifest["files"][name] = {"bytes": (tmp_path / name).stat().st_size, "sha256": _sha256(tmp_path / name)}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="entries"):
        PdqIndex.load(tmp_path)


def test_an_empty_index_round_trips(tmp_path: Path) -> None:
    PdqIndex().save(tmp_path)
    loaded = PdqIndex.load(tmp_path)
    assert len(loaded) == 0
    assert loaded.query(bytes(32), 31) == []
