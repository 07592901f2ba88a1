"""Data-set manifests and media directory walks: streaming, numbering, refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from node.errors import InvalidInput
from node.hashing import media_files
from node.hashing.manifests import count_rows, read_manifest
from tests.support.feeds import md5_signal, pdq_signal


def _rows(path: Path, **kwargs: int) -> list[tuple[int, str, list[str], tuple[str, ...]]]:
    return [
        (row.number, row.id, [str(s) for s in row.signals], row.problems)
        for chunk in read_manifest(path, **kwargs)
        for row in chunk
    ]


def test_csv_rows_are_numbered_and_bad_values_named_not_echoed(tmp_path: Path) -> None:
    md5, pdq = md5_signal(1), pdq_signal(1)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        f"ID,MD5,pdq,caption\na,{md5.value},{pdq.value},cat\nb,,,dog\n,{md5.value},,\nc,12ab,,x\n"
    )
    rows = _rows(manifest)
    assert rows[0] == (1, "a", [str(md5), str(pdq)], ())
    assert rows[1] == (2, "b", [], ())
    assert rows[2][3] == ("no id",)
    assert rows[3][0] == 4 and "32 hex characters" in rows[3][3][0] and "12ab" not in rows[3][3][0]
    assert count_rows(manifest) == 4


def test_chunks_and_skip_resume_at_the_same_row(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(json.dumps({"id": f"i{n}", "md5": md5_signal(n).value}) + "\n" for n in range(25))
    )
    chunks = list(read_manifest(manifest, batch_rows=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    resumed = _rows(manifest, skip=20, batch_rows=10)
    assert [r[1] for r in resumed] == [f"i{n}" for n in range(20, 25)] and resumed[0][0] == 21


def test_jsonl_line_that_is_not_an_object_is_refused_alone(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "md5": "' + md5_signal(2).value + '"}\n[1, 2]\nnot json\n{"id": 7}\n')
    rows = _rows(manifest)
    assert [r[3] for r in rows] == [(), ("not a JSON object",), ("the row is not valid JSON",), ()]
    assert rows[3][1] == "7"


def test_parquet_is_read_in_record_batches(tmp_path: Path) -> None:
    manifest = tmp_path / "m.parquet"
    ids = [f"p{n}" for n in range(20_000)]
    table = pa.table(
        {"id": ids, "sha256": [None] * 20_000, "md5": [md5_signal(n).value for n in range(20_000)]}
    )
    pq.write_table(table, manifest, row_group_size=5_000)
    rows = _rows(manifest, skip=19_998)
    assert [(r[0], r[1]) for r in rows] == [(19_999, "p19998"), (20_000, "p19999")]
    assert count_rows(manifest) == 20_000
    no_id = tmp_path / "no-id.parquet"
    pq.write_table(pa.table({"md5": ["x"]}), no_id)
    with pytest.raises(InvalidInput, match="'id' column"):
        _rows(no_id)


def test_unknown_manifest_kind_and_unreadable_parquet_are_refused(tmp_path: Path) -> None:
    (tmp_path / "m.xlsx").write_bytes(b"PK")
    with pytest.raises(InvalidInput, match=r"must be \.csv, \.jsonl or \.parquet"):
        _rows(tmp_path / "m.xlsx")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        _rows(tmp_path / "bad.parquet")


def test_media_walk_is_sorted_recursive_and_skips_hidden_and_links(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name in ("b/2.png", "a/1.png", "a/z/3.png", ".git/x.png", "c/.hidden.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"secret")
    os.symlink(outside, root / "b" / "link.png")
    os.symlink(tmp_path, root / "loop")
    found = [str(p.relative_to(root)) for p in media_files([root])]
    assert found == ["a/1.png", "a/z/3.png", "b/2.png"]


def test_a_path_column_names_media_hashed_where_the_row_has_no_hash(tmp_path: Path) -> None:
    from tests.support.media import make_image

    (tmp_path / "media").mkdir()
    image = make_image(tmp_path / "media" / "a.png", seed=3, size=(160, 120))
    md5 = md5_signal(1)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "id,md5,path\n"
        f"hashed,{md5.value},media/elsewhere.png\n"  # a hash given: the path is not read
        "by-path,,media/a.png\n"  # relative to the manifest's folder
        f"absolute,,{image}\n"
        "gone,,media/missing.png\n"
    )
    rows = {row.id: row for chunk in read_manifest(manifest) for row in chunk}
    assert [str(s) for s in rows["hashed"].signals] == [str(md5)]
    types = [s.type.value for s in rows["by-path"].signals]
    assert types == ["md5", "sha256", "pdq"]
    assert rows["absolute"].signals == rows["by-path"].signals
    assert rows["gone"].signals == () and "missing.png" in rows["gone"].problems[0]
    # Left unhashed for a distributed scan's workers: the rows name the file instead.
    pending = {row.id: row for chunk in read_manifest(manifest, hash_media=False) for row in chunk}
    assert pending["by-path"].media == str(tmp_path / "media" / "a.png")
    assert pending["by-path"].signals == () and pending["hashed"].media is None
