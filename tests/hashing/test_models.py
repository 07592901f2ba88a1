"""Model weight files → the model signal (issue 15): re-packaged weights keep it, hostile
headers are refused by name, pickles are never unpickled, and files are read in chunks."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest

from node.errors import MediaError
from node.hashing import hash_file, hash_model_file, is_model_file
from node.hashing import models as models_module
from node.match import MatchLists
from node.match.lists import ListUpdate
from node.model import SignalType
from tests.support.model_files import (
    Tensor,
    gguf_bytes,
    gguf_string,
    model_tensors,
    raw_safetensors,
    safetensors_bytes,
    write_safetensors,
)


@pytest.fixture
def tensors() -> dict[str, Tensor]:
    return model_tensors(12)


def test_a_safetensors_file_gives_md5_sha256_and_a_model_signal(
    tmp_path: Path, tensors: dict[str, Tensor]
) -> None:
    path = write_safetensors(tmp_path / "nudify.safetensors", tensors)
    hashes = hash_model_file(path)
    assert hashes.format == "safetensors" and hashes.tensors == 12 and hashes.note is None
    assert hashes.tensor_bytes == 12 * 8 * 16 * 4
    assert hashes.sha256 == hash_file(path).sha256 and hashes.md5 == hash_file(path).md5
    assert hashes.model is not None and hashes.model.type is SignalType.MODEL
    assert len(hashes.model.tensor_digests()) == 12
    assert [s.type for s in hashes.signals] == [SignalType.MD5, SignalType.SHA256, SignalType.MODEL]


def test_renamed_reordered_and_relabelled_weights_keep_the_model_signal(
    tmp_path: Path, tensors: dict[str, Tensor]
) -> None:
    original = hash_model_file(write_safetensors(tmp_path / "a.safetensors", tensors))
    renamed_tensors = {f"model.diffusion.{n}": t for n, t in enumerate(reversed(tensors.values()))}
    repackaged = hash_model_file(
        write_safetensors(
            tmp_path / "totally-innocent.safetensors",
            renamed_tensors,
            order=sorted(renamed_tensors, reverse=True),
            metadata={"format": "pt", "modelspec.title": "landscape painter"},
        )
    )
    assert repackaged.sha256 != original.sha256  # another file ...
    assert repackaged.model == original.model  # ... holding the same weights


def test_the_same_tensors_in_gguf_give_the_same_model_signal(
    tmp_path: Path, tensors: dict[str, Tensor]
) -> None:
    original = hash_model_file(write_safetensors(tmp_path / "a.safetensors", tensors))
    gguf = tmp_path / "a.gguf"
    gguf.write_bytes(gguf_bytes(tensors, alignment=64, metadata={"general.name": "renamed"}))
    converted = hash_model_file(gguf)
    assert converted.format == "gguf" and converted.tensors == 12
    assert converted.model == original.model


def test_a_dtype_cast_changes_the_digests(tmp_path: Path) -> None:
    # The stated limit: the digest covers the bytes, so F32 → F16 (or quantising) is another model.
    f32 = {"w": Tensor("F32", (4, 4), seed="x")}
    f16 = {"w": Tensor("F16", (4, 8), data=f32["w"].data)}  # the same bytes, another dtype and shape
    assert (
        hash_model_file(write_safetensors(tmp_path / "a.safetensors", f32)).model
        != hash_model_file(write_safetensors(tmp_path / "b.safetensors", f16)).model
    )


def test_resharded_and_partly_retrained_models_match_with_their_overlap(
    tmp_path: Path, tensors: dict[str, Tensor]
) -> None:
    listed = hash_model_file(write_safetensors(tmp_path / "listed.safetensors", tensors)).model
    assert listed is not None
    lists = MatchLists()
    lists.apply([ListUpdate("indicator-m", listed, active=True)])
    names = list(tensors)
    shard = hash_model_file(
        write_safetensors(tmp_path / "s1.safetensors", {n: tensors[n] for n in names[:6]})
    )
    assert shard.model is not None
    [hit] = lists.query(shard.model, pdq_threshold=31)
    assert (hit.query_match_percent, hit.compared_match_percent) == (100.0, 50.0)  # type: ignore[attr-defined]
    # A "LoRA merge": 9 of 12 tensors kept, 3 retrained.
    merged = {n: tensors[n] for n in names[:9]} | model_tensors(3, prefix="lora")
    tuned = hash_model_file(write_safetensors(tmp_path / "merged.safetensors", merged))
    assert tuned.model is not None
    [hit] = lists.query(tuned.model, pdq_threshold=31)
    assert (hit.query_match_percent, hit.compared_match_percent) == (75.0, 75.0)  # type: ignore[attr-defined]
    unrelated = hash_model_file(
        write_safetensors(tmp_path / "other.safetensors", model_tensors(12, prefix="o"))
    )
    assert unrelated.model is not None and lists.query(unrelated.model, pdq_threshold=31) == []


# --- hostile files ---------------------------------------------------------------------------


def _entry(dtype: str, shape: list[int], start: int, end: int) -> dict[str, object]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


@pytest.mark.parametrize(
    ("header", "data", "claimed", "message"),
    [
        ({"a": _entry("F32", [2], 0, 8)}, b"\0" * 4, None, "outside the file"),  # truncated data
        ({"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 4, 12)}, b"\0" * 12, None, "overlap"),
        ({"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 0, 8)}, b"\0" * 8, None, "overlap"),
        ({"a": _entry("F32", [3], 0, 8)}, b"\0" * 8, None, "does not match its dtype and shape"),
        ({"a": _entry("F33", [2], 0, 8)}, b"\0" * 8, None, "unknown safetensors dtype"),
        ({"a": _entry("F32", [-2], 0, 8)}, b"\0" * 8, None, "shape"),
        ({"a": _entry("F32", [2], 8, 0)}, b"\0" * 8, None, "outside the file"),
        ({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, None, "lacks"),
        ({"a": _entry("F32", [2], 0, 8)}, b"\0" * 8, 1 << 40, "over the"),  # huge header claim
        ({"a": _entry("F32", [2], 0, 8)}, b"\0" * 8, 1 << 20, "past the end of the file"),
        ({"a": "F32"}, b"", None, "lacks"),
    ],
)
def test_hostile_safetensors_are_refused_by_name(
    tmp_path: Path, header: object, data: bytes, claimed: int | None, message: str
) -> None:
    path = raw_safetensors(tmp_path / "hostile.safetensors", header, data, claimed=claimed)
    with pytest.raises(MediaError, match=message) as caught:
        hash_model_file(path)
    assert "hostile.safetensors" in str(caught.value)


def test_a_header_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 10) + b"{not json!" + b"\0" * 8)
    with pytest.raises(MediaError, match="not valid JSON"):
        hash_model_file(path)


def test_a_truncated_gguf_is_refused(tmp_path: Path, tensors: dict[str, Tensor]) -> None:
    whole = gguf_bytes(tensors)
    for cut in (10, 40, len(whole) - 5):
        path = tmp_path / f"cut{cut}.gguf"
        path.write_bytes(whole[:cut])
        with pytest.raises(MediaError, match="truncated"):
            hash_model_file(path)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (struct.pack("<IQQ", 1, 0, 0), "version 1"),
        (struct.pack("<IQQ", 3, 10**9, 0), "more than"),
        (struct.pack("<IQQ", 3, 0, 10**9), "more than"),
    ],
)
def test_gguf_header_limits(tmp_path: Path, counts: bytes, message: str) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + counts + b"\0" * 64)
    with pytest.raises(MediaError, match=message):
        hash_model_file(path)


def test_a_gguf_string_claiming_gigabytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40) + b"k")
    with pytest.raises(MediaError, match="GGUF string claims"):
        hash_model_file(path)


def test_overlapping_gguf_tensors_are_refused(tmp_path: Path) -> None:
    tensors = {"a": Tensor("F32", (8,), seed="a"), "b": Tensor("F32", (8,), seed="b")}
    data = bytearray(gguf_bytes(tensors))
    # The second tensor's offset (the last 8 bytes of its info) is rewritten to the first's.
    info_end = data.index(b"b", 24) + 1 + 4 + 8 + 4
    data[info_end : info_end + 8] = struct.pack("<Q", 0)
    path = tmp_path / "x.gguf"
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="overlap"):
        hash_model_file(path)


# --- pickled checkpoints ---------------------------------------------------------------------


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(_Boom.target),))

    target = Path("/nonexistent")


def test_a_pickled_checkpoint_is_never_unpickled(tmp_path: Path) -> None:
    _Boom.target = tmp_path / "unpickled-it"
    checkpoint = tmp_path / "model.ckpt"
    with zipfile.ZipFile(checkpoint, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(_Boom()))
        archive.writestr("archive/data/0", b"\1" * 64)
    assert is_model_file(checkpoint)
    hashes = hash_model_file(checkpoint)
    assert hashes.format == "pickle" and hashes.model is None and "never unpickled" in (hashes.note or "")
    assert [s.type for s in hashes.signals] == [SignalType.MD5, SignalType.SHA256]
    assert not _Boom.target.exists()


def test_files_that_are_not_models_are_not_taken_for_models(tmp_path: Path) -> None:
    text = tmp_path / "notes.bin"
    text.write_text("just notes")
    assert not is_model_file(text) and not is_model_file(tmp_path / "missing.safetensors")
    json_file = tmp_path / "x.json"
    json_file.write_text(json.dumps({"a": 1}))
    assert not is_model_file(json_file)


def test_the_file_is_read_in_chunks(
    tmp_path: Path, tensors: dict[str, Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks far smaller than a tensor: each tensor's digest is fed across many reads, and a
    # read never asks for more than a chunk (the whole file is never in memory).
    expected = hash_model_file(write_safetensors(tmp_path / "a.safetensors", tensors))
    monkeypatch.setattr(models_module, "CHUNK_BYTES", 7)
    asked: list[int] = []
    real_read = models_module._read

    def spy(stream: object, count: int, name: str) -> bytes:
        asked.append(count)
        return real_read(stream, count, name)  # type: ignore[arg-type]

    monkeypatch.setattr(models_module, "_read", spy)
    assert hash_model_file(tmp_path / "a.safetensors") == expected
    header_length = struct.unpack("<Q", safetensors_bytes(tensors)[:8])[0]
    assert max(asked) == header_length  # the header, read once; data: 7 bytes at a time
    assert asked.count(7) > 12 * 8 * 16 * 4 // 7


def test_gguf_metadata_arrays_are_skipped_and_the_tensors_still_read(
    tmp_path: Path, tensors: dict[str, Tensor]
) -> None:
    vocabulary = struct.pack("<IIQ", 9, 8, 3) + b"".join(gguf_string(t) for t in ("<s>", "</s>", "hi"))
    scores = struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 0.0, -1.0, -2.0)
    nested = struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 4, 2) + struct.pack("<2I", 1, 2)
    raw = [
        gguf_string("tokenizer.ggml.tokens") + vocabulary,
        gguf_string("tokenizer.ggml.scores") + scores,
        gguf_string("x.nested") + nested,
        gguf_string("x.flag") + struct.pack("<IB", 7, 1),
    ]
    path = tmp_path / "llm.gguf"
    path.write_bytes(gguf_bytes(tensors, raw_kv=raw))
    expected = hash_model_file(write_safetensors(tmp_path / "a.safetensors", tensors)).model
    assert hash_model_file(path).model == expected
    hostile = tmp_path / "hostile.gguf"
    huge = gguf_string("k") + struct.pack("<IIQ", 9, 12, 1 << 40)  # 2**40 float64s claimed
    hostile.write_bytes(gguf_bytes(tensors, raw_kv=[huge]))
    with pytest.raises(MediaError, match="over the"):
        hash_model_file(hostile)
    unknown = tmp_path / "unknown.gguf"
    unknown.write_bytes(gguf_bytes(tensors, raw_kv=[gguf_string("k") + struct.pack("<I", 99)]))
    with pytest.raises(MediaError, match="unknown type"):
        hash_model_file(unknown)
