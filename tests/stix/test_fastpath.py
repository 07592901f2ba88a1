"""The reader's fast path agrees with the full reader, and is never more lenient.

For every object, ``SharedFields.read`` must return either None (the full reader then decides)
or exactly the indicator the full reader returns; it must never accept an object the full
reader refuses, including after it has remembered the shared fields of an earlier object.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import MalformedStix
from node.model import Indicator, SignalType
from node.stix import build_bundle, origin_identity_id
from node.stix.fastpath import SharedFields
from node.stix.profile import EXTENSION_DEFINITION_ID
from node.stix.reader import _read_object
from tests.stix.samples import ORIGIN, ORIGIN_NAMES, as_json, every_kind, indicators, read_dropping

CREATOR = origin_identity_id(ORIGIN)

# Values a peer might put anywhere: other JSON types, look-alikes of valid values, and values
# that are equal in Python but not in JSON (1, 1.0 and true).
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    1.0,
    90,
    90.0,
    "",
    " ",
    "2.1",
    "stix",
    "csam",
    "CSAM",
    "2025-05-06T07:08:09.123Z",
    "2025-05-06T07:08:09.124Z",
    "2025-05-06T07:08:09Z",
    [],
    ["malicious-activity"],
    ["benign"],
    {},
    {"x": 1},
]


def full_reader(stix: Any) -> Indicator | type[MalformedStix] | None:
    try:
        return _read_object(stix, origin=ORIGIN, creator=CREATOR)
    except MalformedStix:
        return MalformedStix


def indicator_objects() -> list[dict[str, Any]]:
    bundle = as_json(build_bundle(every_kind(), origin_names=ORIGIN_NAMES))
    return [o for o in bundle["objects"] if o["type"] == "indicator"]


def test_every_kind_takes_the_fast_path() -> None:
    fast = SharedFields(origin=ORIGIN, creator=CREATOR)
    for stix in indicator_objects():
        assert fast.read(stix) == full_reader(stix)
        assert fast.read(stix) is not None


def test_descriptive_objects_are_left_to_the_full_reader() -> None:
    bundle = as_json(build_bundle(every_kind(), origin_names=ORIGIN_NAMES))
    fast = SharedFields(origin=ORIGIN, creator=CREATOR)
    assert [fast.read(o) for o in bundle["objects"] if o["type"] != "indicator"] == [None] * 3


def mutations(stix: dict[str, Any]) -> list[dict[str, Any]]:
    """``stix`` with one property (or one extension property) set to each odd value, or removed."""
    changed: list[dict[str, Any]] = []
    for field in [*stix, "revoked", "valid_until", "granular_markings"]:
        for value in [*ODD_VALUES, _MISSING]:
            mutated = copy.deepcopy(stix)
            if value is _MISSING:
                mutated.pop(field, None)
            else:
                mutated[field] = value
            changed.append(mutated)
    for field in ["extension_type", "signal_type", "category", "content_type", "quality", "other"]:
        for value in [*ODD_VALUES, _MISSING]:
            mutated = copy.deepcopy(stix)
            extension = mutated["extensions"][EXTENSION_DEFINITION_ID]
            if value is _MISSING:
                extension.pop(field, None)
            else:
                extension[field] = value
            changed.append(mutated)
    return changed


_MISSING = object()


def _signal_type(stix: dict[str, Any]) -> str:
    return str(stix["extensions"][EXTENSION_DEFINITION_ID]["signal_type"])


@pytest.mark.parametrize("kind", list(SignalType))
def test_no_single_change_makes_the_fast_path_more_lenient(kind: SignalType) -> None:
    original = next(o for o in indicator_objects() if _signal_type(o) == kind.value)
    fast = SharedFields(origin=ORIGIN, creator=CREATOR)
    assert fast.read(original) is not None  # the memo now holds the valid shared fields
    for mutated in mutations(original):
        got = fast.read(mutated)
        assert got is None or got == full_reader(mutated)
        assert fast.read(original) == full_reader(original)  # a refusal is not remembered wrongly


@pytest.mark.parametrize(
    ("field", "value"),
    [("quality", 90.0), ("quality", True), ("quality", "90")],
)
def test_values_equal_in_python_but_not_in_json_are_refused_after_a_valid_one(field: str, value: Any) -> None:
    bundle = as_json(build_bundle(every_kind(), origin_names=ORIGIN_NAMES))
    pdqs = [
        o
        for o in bundle["objects"]
        if o["type"] == "indicator" and o["extensions"][EXTENSION_DEFINITION_ID].get("quality") == 87
    ]
    pdqs[1]["extensions"][EXTENSION_DEFINITION_ID][field] = value
    pdqs[0]["extensions"][EXTENSION_DEFINITION_ID][field] = 90
    read, dropped = read_dropping(bundle)
    assert [i.id for i in read if i.id in {pdqs[0]["id"], pdqs[1]["id"]}] == [pdqs[0]["id"]]
    [reason] = dropped
    assert "quality" in reason


def test_revoked_must_be_a_boolean_even_after_a_true_one() -> None:
    bundle = as_json(build_bundle(every_kind(), origin_names=ORIGIN_NAMES))
    objects = [o for o in bundle["objects"] if o["type"] == "indicator"]
    objects[0]["revoked"] = True
    objects[1]["revoked"] = 1
    read, dropped = read_dropping(bundle)
    assert objects[0]["id"] in {i.id for i in read} and objects[1]["id"] not in {i.id for i in read}
    [reason] = dropped
    assert "revoked" in reason


@settings(max_examples=40, deadline=None)
@given(st.lists(indicators(), min_size=1, max_size=6, unique_by=lambda indicator: indicator.id), st.data())
def test_random_bundles_and_changes_agree(written: list[Indicator], data: st.DataObject) -> None:
    objects = as_json(build_bundle(written, origin_names=ORIGIN_NAMES))["objects"]
    fast = SharedFields(origin=ORIGIN, creator=CREATOR)
    for original in objects:
        stix = original
        if original["type"] == "indicator" and data.draw(st.booleans()):
            stix = data.draw(st.sampled_from(mutations(original)))
        got = fast.read(stix)
        assert got is None or got == full_reader(stix)
