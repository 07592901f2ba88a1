"""Distribution and FeedEntry invariants: restricted TLP names recipients; seq 1 ⇔ no prev."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from node.errors import InvalidInput
from node.model import ENTRY_PAYLOAD_TYPE, Distribution, FeedEntry, Seq, Tlp
from tests.model.keys import digest, key

T0 = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


@pytest.mark.parametrize("tlp", [Tlp.CLEAR, Tlp.GREEN])
def test_open_levels_have_no_recipients(tlp: Tlp) -> None:
    assert Distribution(tlp).recipients == frozenset()
    with pytest.raises(InvalidInput, match="not addressed to recipients"):
        Distribution(tlp, frozenset({key("a")}))


@pytest.mark.parametrize("tlp", [Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED])
def test_restricted_levels_need_recipients(tlp: Tlp) -> None:
    with pytest.raises(InvalidInput, match="at least one named recipient"):
        Distribution(tlp)
    with pytest.raises(InvalidInput):
        Distribution(tlp, frozenset())
    assert Distribution(tlp, frozenset({key("a"), key("b")})).recipients == {key("a"), key("b")}


def entry(seq: int, prev: str | None) -> FeedEntry:
    return FeedEntry(
        origin=key("origin"),
        seq=Seq(seq),
        prev=None if prev is None else digest(prev),
        created=T0,
        distribution=Distribution(Tlp.GREEN),
        bundle={"type": "bundle"},
    )


def test_first_entry_has_no_prev() -> None:
    assert entry(1, None).prev is None
    with pytest.raises(InvalidInput, match="seq 1 has no prev"):
        entry(1, "zero")


@pytest.mark.parametrize("seq", [2, 3, 1000])
def test_later_entries_name_their_prev(seq: int) -> None:
    assert entry(seq, "p").prev == digest("p")
    with pytest.raises(InvalidInput, match="every later entry has one"):
        entry(seq, None)


@pytest.mark.parametrize("seq", [0, -1])
def test_seq_starts_at_one(seq: int) -> None:
    with pytest.raises(InvalidInput, match="start at seq 1"):
        entry(seq, None)
    with pytest.raises(InvalidInput):
        entry(seq, "p")


def test_payload_type_is_versioned() -> None:
    assert ENTRY_PAYLOAD_TYPE == "application/vnd.accord.entry+json; version=1"
