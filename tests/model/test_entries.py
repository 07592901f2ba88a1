"""Distribution and EntryHeader invariants: restricted TLP names recipients; seq 1 ⇔ no prev;
restricted bodies are always sealed, open ones never."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from node.errors import InvalidInput
from node.model import ENTRY_PAYLOAD_TYPE, Distribution, EntryHeader, Grant, Seal, Seq, Tlp
from node.model.entries import ENTRY_PAYLOAD_TYPE_V1
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


SEAL = Seal(plaintext_digest=digest("plaintext"), stanzas=(b"stanza",))


def entry(
    seq: int, prev: str | None, *, tlp: Tlp = Tlp.GREEN, seal: Seal | None = None, **changes: object
) -> EntryHeader:
    fields: dict[str, object] = {
        "origin": key("origin"),
        "seq": Seq(seq),
        "prev": None if prev is None else digest(prev),
        "created": T0,
        "tlp": tlp,
        "body_digest": digest("body"),
        "body_size": 10,
        "seal": seal,
    }
    return EntryHeader(**{**fields, **changes})  # type: ignore[arg-type]


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


@pytest.mark.parametrize("tlp", [Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED])
def test_restricted_bodies_are_always_sealed(tlp: Tlp) -> None:
    assert entry(1, None, tlp=tlp, seal=SEAL).sealed
    with pytest.raises(InvalidInput, match="always sealed"):
        entry(1, None, tlp=tlp)


@pytest.mark.parametrize("tlp", [Tlp.CLEAR, Tlp.GREEN])
def test_open_bodies_are_never_sealed(tlp: Tlp) -> None:
    assert not entry(1, None, tlp=tlp).sealed
    with pytest.raises(InvalidInput, match="never"):
        entry(1, None, tlp=tlp, seal=SEAL)


def test_a_seal_names_at_least_the_origins_own_stanza() -> None:
    with pytest.raises(InvalidInput, match="at least one key stanza"):
        Seal(plaintext_digest=digest("plaintext"), stanzas=())


def test_header_fields_are_checked() -> None:
    with pytest.raises(InvalidInput, match="not negative"):
        entry(1, None, body_size=-1)
    with pytest.raises(InvalidInput, match="32 bytes"):
        entry(1, None, encryption_key=b"x" * 31)
    assert entry(1, None, encryption_key=b"x" * 32).encryption_key == b"x" * 32


def test_a_grant_names_earlier_entries_only() -> None:
    assert entry(3, "p", grants=(Grant(seq=Seq(2), stanza=b"s"),)).grants[0].seq == 2
    for later in (3, 4):
        with pytest.raises(InvalidInput, match="earlier entries only"):
            entry(3, "p", grants=(Grant(seq=Seq(later), stanza=b"s"),))


def test_payload_type_is_versioned() -> None:
    assert ENTRY_PAYLOAD_TYPE == "application/vnd.accord.entry+json; version=2"
    assert ENTRY_PAYLOAD_TYPE_V1 != ENTRY_PAYLOAD_TYPE
