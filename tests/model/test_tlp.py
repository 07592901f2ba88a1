"""TLP 2.0 levels: parsing (with the spellings partners use) and which levels name recipients."""

from __future__ import annotations

import pytest

from node.errors import InvalidInput
from node.model import Tlp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clear", Tlp.CLEAR),
        ("CLEAR", Tlp.CLEAR),
        ("white", Tlp.CLEAR),
        ("TLP:WHITE", Tlp.CLEAR),
        ("green", Tlp.GREEN),
        ("tlp:green", Tlp.GREEN),
        ("amber", Tlp.AMBER),
        ("Amber", Tlp.AMBER),
        ("amber+strict", Tlp.AMBER_STRICT),
        ("AMBER+STRICT", Tlp.AMBER_STRICT),
        ("TLP:AMBER+STRICT", Tlp.AMBER_STRICT),
        ("amber_strict", Tlp.AMBER_STRICT),
        ("red", Tlp.RED),
        ("tlp:red", Tlp.RED),
        ("  TLP:RED ", Tlp.RED),
    ],
)
def test_parse(text: str, expected: Tlp) -> None:
    assert Tlp.parse(text) is expected


@pytest.mark.parametrize(
    "text", ["", "amber-strict", "amberstrict", "black", "tlp:", "strict", "tlp:tlp:red"]
)
def test_unknown_levels_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="unknown TLP level"):
        Tlp.parse(text)


@pytest.mark.parametrize("level", list(Tlp))
def test_parse_of_value_round_trips(level: Tlp) -> None:
    assert Tlp.parse(level.value) is level


def test_names_recipients() -> None:
    assert {t for t in Tlp if t.names_recipients} == {Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED}


def test_origin_only() -> None:
    assert {t for t in Tlp if t.origin_only} == {Tlp.AMBER_STRICT, Tlp.RED}


def test_origin_only_levels_all_name_recipients() -> None:
    assert all(t.names_recipients for t in Tlp if t.origin_only)
