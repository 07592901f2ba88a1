"""Reading a bundle at the trust boundary: everything outside the profile is refused, precisely.

Each case breaks one rule of a valid two-indicator bundle (md5 at object 3, pdq at object 4).
Content checks drop objects, not bundles (feed format 2): the broken object is left out, the
rest is still read, and the drop's reason names the object and the field and never holds a
hash value: restricted hashes must not reach logs or partners through errors. A payload that
is not a bundle at all still raises MalformedStix (or TooLarge).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import MalformedStix, TooLarge
from node.model import Indicator, Tlp
from node.stix import origin_identity_id, read_bundle
from node.stix.profile import EXTENSION_DEFINITION_ID, TLP_MARKINGS
from tests.stix.samples import (
    MAX_OBJECTS,
    ORIGIN,
    OTHER_ORIGIN,
    all_hash_values,
    hex_value,
    read_dropping,
    small_bundle,
)

TARGET = 4
"""Index of the pdq indicator, the one each indicator case breaks."""

FOREIGN_HASH = hex_value(999, 64)
"""A hash a broken bundle may carry; it must not appear in the error either."""

MISSING = object()
"""As a case's value: delete the field instead of setting it."""

TLP_AMBER, TLP_RED = TLP_MARKINGS[Tlp.AMBER], TLP_MARKINGS[Tlp.RED]
OTHER_MARKING = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
OTHER_EXTENSION = "extension-definition--1f611b8c-9c7f-4dbc-a7a4-8f1ddc8e1f52"


def _pdq_pattern(value: str, key: str = "x_pdq") -> str:
    return f"[file:hashes.{key} = '{value}']"


# case id: (indicator field, value put there, field the message must name; None: no field)
INDICATOR_CASES: dict[str, tuple[str, object, str | None]] = {
    "wrong creator": ("created_by_ref", origin_identity_id(OTHER_ORIGIN), "created_by_ref"),
    "no tlp marking": ("object_marking_refs", [], "object_marking_refs"),
    "markings missing": ("object_marking_refs", MISSING, "object_marking_refs"),
    "unknown marking": ("object_marking_refs", [OTHER_MARKING], "object_marking_refs"),
    "two tlp markings": ("object_marking_refs", [TLP_AMBER, TLP_RED], "object_marking_refs"),
    "tlp and another marking": ("object_marking_refs", [TLP_AMBER, OTHER_MARKING], "object_marking_refs"),
    "marking not a string": ("object_marking_refs", [["x"]], "object_marking_refs"),
    "pattern names another hash": ("pattern", _pdq_pattern(FOREIGN_HASH * 2, "'SHA-512'"), "pattern"),
    "pattern does not parse": ("pattern", _pdq_pattern(FOREIGN_HASH)[:-1], "pattern"),
    "pattern has two comparisons": (
        "pattern",
        _pdq_pattern(FOREIGN_HASH) + " OR [file:name = 'a']",
        "pattern",
    ),
    "pattern not a string": ("pattern", {"x_pdq": FOREIGN_HASH}, "pattern"),
    "pattern type mismatch": ("pattern", _pdq_pattern(FOREIGN_HASH, "'SHA-256'"), "pattern"),
    "non-hex hash": ("pattern", _pdq_pattern(FOREIGN_HASH[:-1] + "g"), "pattern"),
    "short hash": ("pattern", _pdq_pattern(FOREIGN_HASH[:-2]), "pattern"),
    "long hash": ("pattern", _pdq_pattern(FOREIGN_HASH + "0"), "pattern"),
    "upper-case hash": ("pattern", _pdq_pattern(FOREIGN_HASH.upper()), "pattern"),
    "bad created": ("created", "2025-05-06 07:08:09.123Z", "created"),
    "created not a string": ("created", 1746515289, "created"),
    "impossible modified": ("modified", "2025-02-30T07:08:09.123Z", "modified"),
    "modified before created": ("modified", "2025-05-06T07:08:09.122Z", "modified"),
    "valid_from after created": ("valid_from", "2025-05-06T07:08:09.124Z", "valid_from"),
    "valid_until at valid_from": ("valid_until", "2025-05-06T07:08:09.123Z", "valid_until"),
    "bad valid_until": ("valid_until", "tomorrow", "valid_until"),
    "unknown property": ("granular_markings", [], None),
    "missing name": ("name", MISSING, "name"),
    "empty description": ("description", " ", "description"),
    "indicator_types against category": ("indicator_types", ["benign"], "indicator_types"),
    "revoked not a boolean": ("revoked", "yes", "revoked"),
    "wrong spec_version": ("spec_version", "2.0", "spec_version"),
    "other pattern language": ("pattern_type", "sigma", "pattern_type"),
    "other pattern version": ("pattern_version", "2.0", "pattern_version"),
    "id not uuid4": ("id", "indicator--a8d53d5e-5f24-11ef-9a6e-0242ac120002", "id"),
    "id not a string": ("id", 4, "id"),
    "no extension": ("extensions", {}, "extensions"),
    "second extension": ("extensions", {OTHER_EXTENSION: {}}, "extensions"),
    "extensions not an object": ("extensions", [1], "extensions"),
    "unknown object type": ("type", "malware", None),
    "object type not a string": ("type", ["indicator"], None),
}

# case id: (field of Accord's extension, value put there, field the message must name)
EXTENSION_CASES: dict[str, tuple[str, object, str]] = {
    "pdq quality below 50": ("quality", 49, "extensions.quality"),
    "quality above 100": ("quality", 101, "extensions.quality"),
    "quality is a boolean": ("quality", True, "extensions.quality"),
    "quality is null": ("quality", None, "extensions.quality"),
    "signal_type mismatch": ("signal_type", "sha256", "pattern"),
    "unknown signal_type": ("signal_type", "sha512", "extensions.signal_type"),
    "signal_type not a string": ("signal_type", ["pdq"], "extensions.signal_type"),
    "category not a slug": ("category", "CSAM", "extensions.category"),
    "category not a string": ("category", 7, "extensions.category"),
    "category with a space": ("category", "child abuse", "extensions.category"),
    "unknown content_type": ("content_type", "audio", "extensions.content_type"),
    "extra extension field": ("threshold", 31, "extensions"),
    "missing category": ("category", MISSING, "extensions"),
    "wrong extension_type": ("extension_type", "new-sdo", "extensions"),
}


def _put(target: dict[str, Any], field: str, value: object) -> None:
    if value is MISSING:
        del target[field]
    else:
        target[field] = value


def _written() -> list[Indicator]:
    return small_bundle()[1]


def _refused(bundle: dict[str, Any], *, kept: list[Indicator]) -> str:
    """Why reading ``bundle`` dropped its one broken object, checked for hashes.

    The objects around it are still read: exactly ``kept`` comes out.
    """
    read, dropped = read_dropping(bundle)
    assert len(dropped) == 1, dropped
    assert read == kept
    message = dropped[0]
    for value in [*all_hash_values(_written()), FOREIGN_HASH]:
        assert value.lower()[:16] not in message.lower()
    return message


def _refused_bundle(bundle: object) -> str:
    """The message of the MalformedStix that reading a broken bundle raises, checked for hashes."""
    with pytest.raises(MalformedStix) as caught:
        read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS)
    message = f"{caught.value} {caught.value.diagnostics()}"
    for value in [*all_hash_values(_written()), FOREIGN_HASH]:
        assert value.lower()[:16] not in message.lower()
    return message


@pytest.mark.parametrize(("field", "value", "named"), INDICATOR_CASES.values(), ids=INDICATOR_CASES.keys())
def test_broken_indicator_is_refused(field: str, value: object, named: str | None) -> None:
    bundle, _ = small_bundle()
    _put(bundle["objects"][TARGET], field, value)
    message = _refused(bundle, kept=_written()[:1])
    assert message.startswith(f"bundle object {TARGET}: ")
    if named is not None:
        assert f"'{named}'" in message


@pytest.mark.parametrize(("field", "value", "named"), EXTENSION_CASES.values(), ids=EXTENSION_CASES.keys())
def test_broken_extension_is_refused(field: str, value: object, named: str) -> None:
    bundle, _ = small_bundle()
    _put(bundle["objects"][TARGET]["extensions"][EXTENSION_DEFINITION_ID], field, value)
    message = _refused(bundle, kept=_written()[:1])
    assert message.startswith(f"bundle object {TARGET}: ")
    assert f"'{named}'" in message


def test_the_same_indicator_version_twice_is_refused() -> None:
    bundle, _ = small_bundle()
    bundle["objects"].append(copy.deepcopy(bundle["objects"][TARGET]))
    assert "repeats an indicator version" in _refused(bundle, kept=_written())


def test_an_object_that_is_not_a_json_object_is_refused() -> None:
    bundle, _ = small_bundle()
    bundle["objects"].append(FOREIGN_HASH)
    assert _refused(bundle, kept=_written()).startswith("bundle object 5: ")


@pytest.mark.parametrize(
    "bad_id",
    ["identity--1", OTHER_MARKING, 7],
    ids=["not a uuid", "another type's id", "not a string"],
)
def test_a_descriptive_object_with_a_bad_id_is_refused(bad_id: object) -> None:
    bundle, _ = small_bundle()
    bundle["objects"][0]["id"] = bad_id
    assert _refused(bundle, kept=_written()).startswith("bundle object 0: field 'id'")


BUNDLE_CASES: dict[str, Callable[[dict[str, Any]], object]] = {
    "objects not a list": lambda bundle: bundle.update(objects={"0": FOREIGN_HASH}),
    "objects empty": lambda bundle: bundle.update(objects=[]),
    "objects missing": lambda bundle: bundle.pop("objects"),
    "extra bundle property": lambda bundle: bundle.update(spec_version="2.1"),
    "bundle id malformed": lambda bundle: bundle.update(id=f"bundle--{FOREIGN_HASH}"),
    "not a bundle": lambda bundle: bundle.update(type="indicator"),
}


@pytest.mark.parametrize("mutate", BUNDLE_CASES.values(), ids=BUNDLE_CASES.keys())
def test_broken_bundle_is_refused(mutate: Callable[[dict[str, Any]], object]) -> None:
    bundle, _ = small_bundle()
    mutate(bundle)
    assert "bundle" in _refused_bundle(bundle)


@pytest.mark.parametrize("payload", [None, [], "bundle", 42, ["type", "bundle"]])
def test_a_payload_that_is_not_a_json_object_is_refused(payload: object) -> None:
    with pytest.raises(MalformedStix, match="not a bundle"):
        read_bundle(payload, origin=ORIGIN, max_objects=MAX_OBJECTS)


def test_too_many_objects_are_refused_before_any_is_read() -> None:
    bundle, _ = small_bundle()
    # Objects that would each be malformed: TooLarge must come first, without reading them.
    bundle["objects"] += [FOREIGN_HASH] * 10
    with pytest.raises(TooLarge, match="holds 15 objects; the limit is 14"):
        read_bundle(bundle, origin=ORIGIN, max_objects=14)


def test_exactly_max_objects_is_accepted() -> None:
    bundle, written = small_bundle()
    assert read_bundle(bundle, origin=ORIGIN, max_objects=len(bundle["objects"])) == written


def test_an_origin_reads_only_its_own_indicators() -> None:
    bundle, _ = small_bundle()
    read, dropped = read_dropping(bundle, origin=OTHER_ORIGIN)
    assert read == []
    assert dropped == [
        f"bundle object {index}: field 'created_by_ref' must be the STIX identity of the entry's origin"
        for index in (TARGET - 1, TARGET)
    ]


# --- robustness: any JSON value in any field is read or dropped cleanly -------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.sampled_from(
    [
        "type",
        "spec_version",
        "id",
        "created_by_ref",
        "created",
        "modified",
        "valid_from",
        "valid_until",
        "revoked",
        "name",
        "description",
        "indicator_types",
        "pattern",
        "pattern_type",
        "pattern_version",
        "object_marking_refs",
        "extensions",
        "extension_type",
        "signal_type",
        "category",
        "content_type",
        "quality",
    ]
)


@settings(max_examples=300, deadline=None)
@given(field=field_names, value=json_values, in_extension=st.booleans())
def test_any_value_anywhere_is_read_or_refused_cleanly(field: str, value: object, in_extension: bool) -> None:
    bundle, _ = small_bundle()
    target = bundle["objects"][TARGET]
    if in_extension:
        target["extensions"][EXTENSION_DEFINITION_ID][field] = value
    else:
        target[field] = value
    # Reading may keep the object (e.g. a new description); else it is dropped, named by index,
    # and the other objects are still read.
    read, dropped = read_dropping(bundle)
    assert _written()[0] in read
    assert len(dropped) <= 1
    for message in dropped:
        assert message.startswith(f"bundle object {TARGET}: ")
