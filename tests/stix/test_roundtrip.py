"""build_bundle → JSON → read_bundle gives back equal indicators; the bundle has the profile's shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import InvalidInput
from node.model import Indicator, SignalType
from node.stix import build_bundle, origin_identity_id, read_bundle
from node.stix.profile import ACCORD_IDENTITY_ID, EXTENSION_DEFINITION_ID
from tests.stix.samples import (
    MAX_OBJECTS,
    ORIGIN,
    ORIGIN_NAMES,
    OTHER_ORIGIN,
    T0,
    as_json,
    every_kind,
    indicators,
    make_indicator,
)


def test_every_kind_round_trips() -> None:
    written = every_kind()
    bundle = as_json(build_bundle(written, origin_names=ORIGIN_NAMES))
    assert read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS) == written


@settings(max_examples=150, deadline=None)
@given(st.lists(indicators(), min_size=1, max_size=6, unique_by=lambda indicator: indicator.id))
def test_any_indicators_round_trip(written: list[Indicator]) -> None:
    bundle = as_json(build_bundle(written, origin_names=ORIGIN_NAMES))
    assert read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS) == written


def test_two_versions_of_one_indicator_round_trip() -> None:
    first = make_indicator(1)
    revoked = make_indicator(1, modified=first.modified + timedelta(hours=1), revoked=True)
    bundle = as_json(build_bundle([first, revoked], origin_names=ORIGIN_NAMES))
    assert read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS) == [first, revoked]


def test_bundle_holds_identities_then_definitions_then_indicators() -> None:
    bundle = build_bundle([make_indicator(1), make_indicator(2)], origin_names=ORIGIN_NAMES)
    objects = bundle["objects"]
    assert bundle["type"] == "bundle"
    assert bundle["id"].startswith("bundle--")
    assert [obj["type"] for obj in objects] == [
        "identity",
        "identity",
        "extension-definition",
        "indicator",
        "indicator",
    ]
    assert [objects[0]["id"], objects[1]["id"]] == [origin_identity_id(ORIGIN), ACCORD_IDENTITY_ID]
    assert objects[0]["name"] == ORIGIN_NAMES[ORIGIN]
    assert objects[0]["identity_class"] == "organization"


def test_only_referenced_origins_get_an_identity() -> None:
    bundle = build_bundle([make_indicator(1, origin=OTHER_ORIGIN)], origin_names=ORIGIN_NAMES)
    identities = [obj["id"] for obj in bundle["objects"] if obj["type"] == "identity"]
    assert identities == [origin_identity_id(OTHER_ORIGIN), ACCORD_IDENTITY_ID]


def test_indicator_carries_the_profile_fields() -> None:
    indicator = make_indicator(1, SignalType.SHA256, valid_until=T0 + timedelta(days=1), revoked=True)
    [stix] = build_bundle([indicator], origin_names=ORIGIN_NAMES)["objects"][3:]
    assert stix["pattern"] == f"[file:hashes.'SHA-256' = '{indicator.signal.value}']"
    assert stix["created_by_ref"] == origin_identity_id(ORIGIN)
    assert stix["valid_from"] == stix["created"] == "2025-05-06T07:08:09.123Z"
    assert stix["valid_until"] == "2025-05-07T07:08:09.123Z"
    assert stix["revoked"] is True
    assert stix["indicator_types"] == ["malicious-activity"]
    assert stix["object_marking_refs"] == ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]
    assert stix["extensions"] == {
        EXTENSION_DEFINITION_ID: {
            "extension_type": "property-extension",
            "signal_type": "sha256",
            "category": "csam",
            "content_type": "file",
        }
    }


@pytest.mark.parametrize("signal_type", list(SignalType))
def test_name_and_description_never_hold_the_hash(signal_type: SignalType) -> None:
    indicator = make_indicator(1, signal_type)
    [stix] = build_bundle([indicator], origin_names=ORIGIN_NAMES)["objects"][3:]
    for text in (stix["name"], stix["description"]):
        assert indicator.signal.value not in text
        assert indicator.category in text


def test_benign_indicators_are_typed_benign() -> None:
    [stix] = build_bundle([make_indicator(1, category="benign")], origin_names=ORIGIN_NAMES)["objects"][3:]
    assert stix["indicator_types"] == ["benign"]


def test_identity_version_follows_the_newest_indicator() -> None:
    newest = make_indicator(2, modified=T0 + timedelta(days=30))
    bundle = build_bundle([make_indicator(1), newest], origin_names=ORIGIN_NAMES)
    assert bundle["objects"][0]["modified"] == "2025-06-05T07:08:09.123Z"


def test_every_origin_needs_a_name() -> None:
    with pytest.raises(InvalidInput, match="no display name"):
        build_bundle([make_indicator(1, origin=OTHER_ORIGIN)], origin_names={ORIGIN: "Hotline One"})


def test_valid_until_must_follow_created() -> None:
    with pytest.raises(InvalidInput, match="valid_until"):
        build_bundle([make_indicator(1, valid_until=T0)], origin_names=ORIGIN_NAMES)


def test_an_empty_batch_is_a_valid_bundle_without_indicators() -> None:
    bundle = as_json(build_bundle([], origin_names={}))
    assert read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS) == []
