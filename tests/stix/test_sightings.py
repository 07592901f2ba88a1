"""Sightings in the profile: written, read back, clean for the OASIS validator and the library,
and refused when anything is outside the profile (the object is dropped, the rest is read)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from node.model import Sighting, Tlp
from node.stix import build_bundle, origin_identity_id, read_entry_bundle
from tests.stix.samples import MAX_OBJECTS, ORIGIN, ORIGIN_NAMES, T0

TARGET = f"indicator--{uuid.UUID(int=9, version=4)}"


def make_sighting(**changes: Any) -> Sighting:
    fields: dict[str, Any] = {
        "id": f"sighting--{uuid.uuid4()}",
        "origin": ORIGIN,
        "indicator_id": TARGET,
        "count": 3,
        "first_seen": T0,
        "last_seen": T0 + timedelta(minutes=5),
        "created": T0 + timedelta(minutes=6),
    }
    return Sighting(**{**fields, **changes})


def bundle_of(*sightings: Sighting) -> dict[str, Any]:
    return build_bundle([], origin_names=ORIGIN_NAMES, sightings=[(s, Tlp.AMBER_STRICT) for s in sightings])


def test_sightings_round_trip() -> None:
    sightings = [make_sighting(), make_sighting(count=1, last_seen=T0)]
    contents = read_entry_bundle(
        json.loads(json.dumps(bundle_of(*sightings))), origin=ORIGIN, max_objects=MAX_OBJECTS
    )
    assert contents.sightings == [(s, Tlp.AMBER_STRICT) for s in sightings]
    assert contents.indicators == [] and contents.opinions == []


@pytest.mark.parametrize("strict", [False, True])
def test_validator_passes_sightings_with_no_errors_and_no_warnings(strict: bool) -> None:
    result = validate_string(json.dumps(bundle_of(make_sighting())), ValidationOptions(strict=strict))
    assert result.is_valid and not result.errors and not result.warnings


def test_the_library_parses_our_sightings() -> None:
    sighting = make_sighting()
    parsed = stix2.parse(json.dumps(bundle_of(sighting)), allow_custom=False)
    [library] = [o for o in parsed.objects if isinstance(o, stix2.v21.Sighting)]
    assert (library.sighting_of_ref, library.count) == (TARGET, 3)
    assert library.where_sighted_refs == [origin_identity_id(ORIGIN)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"count": 0}, "count"),
        ({"count": 1.0}, "count"),
        ({"count": True}, "count"),
        ({"where_sighted_refs": [origin_identity_id("b" * 64)]}, "where_sighted_refs"),  # type: ignore[arg-type]
        ({"created_by_ref": origin_identity_id("b" * 64)}, "created_by_ref"),  # type: ignore[arg-type]
        ({"sighting_of_ref": "malware--" + str(uuid.uuid4())}, "sighting_of_ref"),
        ({"last_seen": "2000-01-01T00:00:00.000Z"}, "last_seen"),
        ({"modified": "2030-01-01T00:00:00.000Z"}, "modified"),
        ({"description": "extra"}, "exactly the properties"),
        ({"id": "sighting--x"}, "sighting--<uuid4>"),
    ],
)
def test_a_sighting_outside_the_profile_is_refused(change: dict[str, Any], message: str) -> None:
    bundle = bundle_of(make_sighting())
    bundle["objects"][-1].update(change)
    contents = read_entry_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS)
    assert contents.sightings == []
    [reason] = contents.dropped
    assert reason.startswith("bundle object") and message in reason


def test_the_same_sighting_version_twice_is_read_once() -> None:
    sighting = make_sighting()
    contents = read_entry_bundle(bundle_of(sighting, sighting), origin=ORIGIN, max_objects=MAX_OBJECTS)
    assert contents.sightings == [(sighting, Tlp.AMBER_STRICT)]  # the repeat is dropped, not kept
    [reason] = contents.dropped
    assert "repeats an sighting version" in reason
