"""The audit chain as pure values: every kind of tampering breaks it at the right row."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.model.audit import GENESIS, AuditRecord, details_text, first_break, row_hash


def chain(n: int) -> list[AuditRecord]:
    records, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = {
            "seq": seq,
            "at": f"2026-12-01T00:00:{seq:02d}.000Z",
            "actor": "user:a",
            "action": "show",
            "details": details_text({"n": seq}),
            "prev_hash": prev,
        }
        digest = row_hash(**fields)  # type: ignore[arg-type]
        records.append(AuditRecord(**fields, row_hash=digest))  # type: ignore[arg-type]
        prev = digest
    return records


def test_an_intact_chain_has_no_break() -> None:
    assert first_break(chain(5)) is None
    assert first_break([]) is None


def test_an_edited_row_breaks_at_that_row() -> None:
    records = chain(5)
    records[2] = replace(records[2], details='{"n":99}')
    broken = first_break(records)
    assert broken is not None and broken.seq == 3 and "edited" in broken.reason


def test_a_deleted_row_breaks_where_it_was() -> None:
    records = chain(5)
    del records[1]
    broken = first_break(records)
    assert broken is not None and broken.seq == 3 and "deleted" in broken.reason


def test_a_deleted_row_with_renumbered_successors_still_breaks() -> None:
    records = chain(5)
    del records[1]
    records = [replace(r, seq=i) for i, r in enumerate(records, start=1)]
    broken = first_break(records)
    assert broken is not None and broken.seq == 2


def test_swapped_rows_break() -> None:
    records = chain(4)
    a, b = records[1], records[2]
    records[1], records[2] = replace(b, seq=2), replace(a, seq=3)
    broken = first_break(records)
    assert broken is not None and broken.seq == 2


def test_an_inserted_row_breaks() -> None:
    records = chain(3)
    forged = replace(records[1], action="contribute")
    records.insert(2, forged)
    assert first_break(records) is not None


def test_details_refuse_hash_values_at_any_depth() -> None:
    with pytest.raises(ValueError, match="signal"):
        details_text({"filters": {"signal": "md5:..."}})
    with pytest.raises(ValueError, match="values"):
        details_text({"items": [{"values": []}]})
    assert details_text({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
