"""read_hash_list: every format it detects, every way a line can be refused, and streaming."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from node.errors import InvalidInput
from node.hashing import MAX_LINE_BYTES, ListItem, ListRefusal, read_hash_list
from node.model import Signal, SignalType

MD5 = hashlib.md5(b"one").hexdigest()
SHA256 = hashlib.sha256(b"two").hexdigest()
SHA1 = hashlib.sha1(b"three").hexdigest()
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_2 = "35d9e229f3718a29cf7338892df3a28975d98a29d7592aa97d73aa89800b5556"


def _write(tmp_path: Path, text: str, name: str = "list.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _read(path: Path, **kwargs: SignalType) -> tuple[list[ListItem], list[ListRefusal]]:
    results = list(read_hash_list(path, **kwargs))
    items = [r for r in results if isinstance(r, ListItem)]
    refusals = [r for r in results if isinstance(r, ListRefusal)]
    assert len(items) + len(refusals) == len(results)
    return items, refusals


def _assert_no_value_in(refusals: list[ListRefusal], *values: str) -> None:
    for refusal in refusals:
        for value in values:
            assert value[:8].lower() not in refusal.reason.lower(), refusal


# --- plain lines -------------------------------------------------------------------------


def test_plain_lines_in_threatexchange_file_format(tmp_path: Path) -> None:
    path = _write(tmp_path, f"pdq {PDQ}\nmd5 {MD5}\nsha256 {SHA256}\nsha1 {SHA1}\n")
    items, refusals = _read(path)
    assert refusals == []
    assert items == [
        ListItem(1, Signal(SignalType.PDQ, PDQ), None),
        ListItem(2, Signal(SignalType.MD5, MD5), None),
        ListItem(3, Signal(SignalType.SHA256, SHA256), None),
        ListItem(4, Signal(SignalType.SHA1, SHA1), None),
    ]


def test_plain_lines_allow_comments_blanks_colons_case_and_tabs(tmp_path: Path) -> None:
    text = (
        "# exported 2024-05-01\n"
        "\n"
        f"pdq:{PDQ}\n"
        f"  PDQ\t{PDQ_2.upper()}   # seen twice\n"
        f"SHA-256: {SHA256}\r\n"
        "   \n"
        f"md5 {MD5}"  # no final newline
    )
    items, refusals = _read(_write(tmp_path, text))
    assert refusals == []
    assert [(i.line, str(i.signal)) for i in items] == [
        (3, f"pdq:{PDQ}"),
        (4, f"pdq:{PDQ_2}"),
        (5, f"sha256:{SHA256}"),
        (7, f"md5:{MD5}"),
    ]


def test_plain_bad_lines_are_refused_with_line_numbers(tmp_path: Path) -> None:
    bad_hex = "z" + PDQ[1:]
    short = PDQ[:-2]
    text = "\n".join(
        [
            f"pdq {PDQ}",  # 1 good
            f"pdq {bad_hex}",  # 2 not hex
            f"md5 {short}",  # 3 wrong length
            f"video_md5 {MD5}",  # 4 unknown type
            f"{PDQ} pdq",  # 5 columns swapped: the "type" is the hash
            f"pdq {PDQ} extra",  # 6 too many fields
            f"{MD5}",  # 7 no type and no default
            "pdq:",  # 8 no value
            f"sha256 {SHA256}",  # 9 good
        ]
    )
    items, refusals = _read(_write(tmp_path, text))
    assert [i.line for i in items] == [1, 9]
    assert [r.line for r in refusals] == [2, 3, 4, 5, 6, 7, 8]
    reasons = {r.line: r.reason for r in refusals}
    assert "hex" in reasons[2]
    assert "64 hex characters" in reasons[3] or "32 hex characters" in reasons[3]
    assert "unknown signal type 'video_md5'" in reasons[4]
    assert reasons[5].startswith("unknown signal type (known:")
    assert "3 fields" in reasons[6]
    assert "no signal type" in reasons[7]
    assert "no signal value" in reasons[8]
    _assert_no_value_in(refusals, bad_hex, short, PDQ, MD5)


def test_default_type_applies_to_bare_values(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{PDQ}\n{PDQ_2}\nmd5:{MD5}\n")
    items, refusals = _read(path, default_type=SignalType.PDQ)
    assert refusals == []
    assert [i.signal.type for i in items] == [SignalType.PDQ, SignalType.PDQ, SignalType.MD5]


# --- CSV ---------------------------------------------------------------------------------


def test_csv_with_type_value_and_category_columns(tmp_path: Path) -> None:
    text = f"Signal_Type,Signal,Category\npdq,{PDQ},csam\nmd5,{MD5},\nsha256,{SHA256},NCII\n"
    items, refusals = _read(_write(tmp_path, text, "list.csv"))
    assert refusals == []
    assert items == [
        ListItem(2, Signal(SignalType.PDQ, PDQ), "csam"),
        ListItem(3, Signal(SignalType.MD5, MD5), None),
        ListItem(4, Signal(SignalType.SHA256, SHA256), "ncii"),
    ]


@pytest.mark.parametrize(
    "header", ["type,hash", "hash_type,value", "signal_type,signal_value", "TYPE , HASH"]
)
def test_csv_column_names_are_recognised(tmp_path: Path, header: str) -> None:
    items, refusals = _read(_write(tmp_path, f"{header}\nmd5,{MD5}\n"))
    assert refusals == []
    assert items == [ListItem(2, Signal(SignalType.MD5, MD5), None)]


def test_csv_columns_in_any_order_with_extra_columns_and_quotes(tmp_path: Path) -> None:
    text = f'note,hash,category,type\n"a, quoted note",{PDQ},tvec,pdq\n'
    items, refusals = _read(_write(tmp_path, text))
    assert refusals == []
    assert items == [ListItem(2, Signal(SignalType.PDQ, PDQ), "tvec")]


def test_csv_without_type_column_uses_typed_values_or_default(tmp_path: Path) -> None:
    text = f"value,category\npdq:{PDQ},csam\n{MD5},csam\n"
    items, refusals = _read(_write(tmp_path, text))
    assert [i.line for i in items] == [2]
    assert [(r.line, r.reason) for r in refusals] == [
        (3, "no signal type: write TYPE VALUE or TYPE:VALUE, or give a type column")
    ]
    items, refusals = _read(_write(tmp_path, text), default_type=SignalType.MD5)
    assert [str(i.signal) for i in items] == [f"pdq:{PDQ}", f"md5:{MD5}"]


def test_threatexchange_dataset_csv(tmp_path: Path) -> None:
    # The layout `threatexchange dataset -P --csv` writes; its "category" is an opinion class.
    text = (
        "signal_type,signal_str,collab,category,tags\n"
        f"pdq,{PDQ},Sample Signals,INVESTIGATION_SEED,\n"
        f"pdq,{PDQ_2},Sample Signals,POSITIVE_CLASS,media_priority_s1 tvec\n"
        f"video_md5,{MD5},Sample Signals,INVESTIGATION_SEED,\n"
        f"md5,{MD5},Sample Signals,NEGATIVE_CLASS,\n"
    )
    items, refusals = _read(_write(tmp_path, text, "collab.csv"))
    assert items == [
        ListItem(2, Signal(SignalType.PDQ, PDQ), None),
        ListItem(3, Signal(SignalType.PDQ, PDQ_2), None),
    ]
    assert [r.line for r in refusals] == [4, 5]
    assert "video_md5" in refusals[0].reason
    assert "NEGATIVE_CLASS" in refusals[1].reason


def test_csv_bad_rows_are_refused_with_line_numbers(tmp_path: Path) -> None:
    text = "\n".join(
        [
            "signal_type,signal,category",  # 1 header
            f"pdq,{PDQ},csam",  # 2 good
            f"pdq,{PDQ[:-1]}g,csam",  # 3 not hex
            f"md5,{MD5}0,csam",  # 4 too long
            f"sha3,{SHA256},csam",  # 5 unknown type
            f"pdq,{PDQ}",  # 6 missing column
            f"pdq,{PDQ},csam,extra",  # 7 extra column
            f"pdq,{PDQ},Not A Slug!",  # 8 bad category
            "# a comment in a CSV",  # skipped
            f'pdq,"{PDQ},csam',  # 10 unterminated quote
            "",  # skipped
            f"md5,{MD5},ncii",  # 12 good
        ]
    )
    items, refusals = _read(_write(tmp_path, text, "bad.csv"))
    assert [i.line for i in items] == [2, 12]
    assert [r.line for r in refusals] == [3, 4, 5, 6, 7, 8, 10]
    reasons = {r.line: r.reason for r in refusals}
    assert "2 fields where the header (line 1) has 3" in reasons[6]
    assert "4 fields" in reasons[7]
    assert "category" in reasons[8]
    _assert_no_value_in(refusals, PDQ, MD5, SHA256)


def test_csv_without_a_header_is_refused_as_a_whole(tmp_path: Path) -> None:
    path = _write(tmp_path, f"pdq,{PDQ}\nmd5,{MD5}\n", "headless.csv")
    results = read_hash_list(path)
    with pytest.raises(InvalidInput, match=r"headless\.csv.*not a header"):
        next(results)


def test_csv_with_a_malformed_header_is_refused_as_a_whole(tmp_path: Path) -> None:
    path = _write(tmp_path, f'"signal_type,signal\nmd5,{MD5}\n', "broken.csv")
    with pytest.raises(InvalidInput, match=r"broken\.csv.*line 1 is not a header"):
        list(read_hash_list(path))


# --- encoding, limits, streaming ---------------------------------------------------------


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfsignal_type,signal\r\n" + f"md5,{MD5}\r\n".encode())
    items, refusals = _read(path)
    assert refusals == []
    assert items == [ListItem(2, Signal(SignalType.MD5, MD5), None)]


def test_undecodable_and_overlong_lines_are_refused_and_reading_continues(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_bytes(
        f"md5 {MD5}\n".encode()
        + b"md5 \xff\xfe\n"
        + b"x" * (MAX_LINE_BYTES * 3)
        + b"\n"
        + f"pdq {PDQ}\n".encode()
    )
    items, refusals = _read(path)
    assert [i.line for i in items] == [1, 4]
    assert [(r.line, r.reason) for r in refusals] == [
        (2, "line is not valid UTF-8 text"),
        (3, f"line is longer than {MAX_LINE_BYTES} bytes"),
    ]


def test_unreadable_list_is_refused_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"missing\.txt.*no such file"):
        read_hash_list(tmp_path / "missing.txt")
    with pytest.raises(InvalidInput, match="is a directory"):
        read_hash_list(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_hash_list(fifo)


def test_empty_and_comment_only_lists_yield_nothing(tmp_path: Path) -> None:
    assert list(read_hash_list(_write(tmp_path, ""))) == []
    assert list(read_hash_list(_write(tmp_path, "# nothing yet\n\n"))) == []


def test_abandoned_iteration_closes_the_file(tmp_path: Path) -> None:
    # filterwarnings=error turns an unclosed file (ResourceWarning) into a failure.
    results = read_hash_list(_write(tmp_path, f"md5 {MD5}\nmd5 {MD5}\n"))
    assert next(results).line == 1
    results.close()
    read_hash_list(_write(tmp_path, f"md5 {MD5}\n"))  # never iterated


def _write_large_list(path: Path, lines: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("signal_type,signal,category\n")
        for n in range(lines):
            out.write(f"md5,{hashlib.md5(n.to_bytes(4, 'big')).hexdigest()},csam\n")
    return path


def test_large_list_is_read_completely(tmp_path: Path) -> None:
    path = _write_large_list(tmp_path / "large.csv", 200_000)
    last = None
    count = 0
    for result in read_hash_list(path):
        assert isinstance(result, ListItem)
        count, last = count + 1, result
    assert count == 200_000
    assert last is not None
    assert last.line == 200_001
    assert last.signal.value == hashlib.md5((199_999).to_bytes(4, "big")).hexdigest()


def test_list_streams_in_constant_memory(tmp_path: Path) -> None:
    path = _write_large_list(tmp_path / "large.csv", 50_000)
    assert path.stat().st_size > 2_000_000
    tracemalloc.start()
    try:
        count = sum(1 for result in read_hash_list(path) if isinstance(result, ListItem))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 50_000
    assert peak < 500_000  # a few lines in flight, not the 2 MB file
