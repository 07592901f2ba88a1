"""Opinions in the profile: written, read back, validated by OASIS and the library, and refused
precisely when anything is outside the profile (the object is dropped, the rest is read)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from node.model import Opinion, OpinionValue, Tlp
from node.model.opinions import MAX_EXPLANATION
from node.stix import build_bundle, origin_identity_id, read_bundle, read_entry_bundle
from node.stix.profile import TLP_MARKINGS
from tests.stix.samples import MAX_OBJECTS, ORIGIN, ORIGIN_NAMES, T0, make_indicator

TARGET = f"indicator--{uuid.UUID(int=7, version=4)}"


def make_opinion(value: OpinionValue = OpinionValue.DISAGREE, **changes: Any) -> Opinion:
    fields: dict[str, Any] = {
        "id": f"opinion--{uuid.uuid4()}",
        "origin": ORIGIN,
        "indicator_id": TARGET,
        "value": value,
        "created": T0,
        "modified": T0 + timedelta(seconds=1),
        "explanation": "a benign meme template",
    }
    return Opinion(**{**fields, **changes})


def bundle_of(*opinions: Opinion, tlp: Tlp = Tlp.GREEN) -> dict[str, Any]:
    return build_bundle([], origin_names=ORIGIN_NAMES, opinions=[(o, tlp) for o in opinions])


def test_opinions_round_trip_beside_indicators() -> None:
    opinions = [make_opinion(v) for v in OpinionValue] + [make_opinion(explanation=None, revoked=True)]
    indicator = make_indicator(1)
    bundle = build_bundle([indicator], origin_names=ORIGIN_NAMES, opinions=[(o, Tlp.GREEN) for o in opinions])
    contents = read_entry_bundle(json.loads(json.dumps(bundle)), origin=ORIGIN, max_objects=MAX_OBJECTS)
    assert contents.indicators == [indicator]
    assert contents.opinions == [(o, Tlp.GREEN) for o in opinions]
    assert read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS) == [indicator]


@pytest.mark.parametrize("strict", [False, True])
def test_validator_passes_opinions_with_no_errors_and_no_warnings(strict: bool) -> None:
    text = json.dumps(bundle_of(make_opinion(), make_opinion(OpinionValue.AGREE, explanation=None)))
    result = validate_string(text, ValidationOptions(strict=strict))
    assert result.is_valid and not result.errors and not result.warnings


def test_the_library_parses_our_opinions() -> None:
    opinion = make_opinion(OpinionValue.STRONGLY_AGREE)
    parsed = stix2.parse(json.dumps(bundle_of(opinion, tlp=Tlp.AMBER)), allow_custom=False)
    [library] = [o for o in parsed.objects if isinstance(o, stix2.v21.Opinion)]
    assert (library.id, library.opinion, library.object_refs) == (opinion.id, "strongly-agree", [TARGET])
    assert library.created_by_ref == origin_identity_id(ORIGIN)
    assert library.object_marking_refs == [TLP_MARKINGS[Tlp.AMBER]]


def _refused(change: dict[str, Any], *, drop: str | None = None) -> str:
    bundle = bundle_of(make_opinion())
    stix = bundle["objects"][-1]
    stix.update(change)
    if drop:
        del stix[drop]
    contents = read_entry_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS)
    assert contents.opinions == []
    [reason] = contents.dropped
    return reason


@pytest.mark.parametrize(
    ("change", "drop", "message"),
    [
        ({"opinion": "maybe"}, None, "field 'opinion' must be one of"),
        ({"object_refs": [TARGET, TARGET]}, None, "exactly one indicator"),
        ({"object_refs": ["malware--" + str(uuid.uuid4())]}, None, "indicator--<uuid4>"),
        ({"object_refs": TARGET}, None, "exactly one indicator"),
        ({"created_by_ref": origin_identity_id("b" * 64)}, None, "created_by_ref"),  # type: ignore[arg-type]
        ({"id": "opinion--not-a-uuid"}, None, "opinion--<uuid4>"),
        ({"x_note": "hi"}, None, "outside Accord's profile"),
        ({"granular_markings": []}, None, "outside Accord's profile"),
        ({"explanation": " "}, None, "explanation"),
        ({"explanation": "x" * (MAX_EXPLANATION + 1)}, None, "explanation"),
        ({"revoked": "yes"}, None, "revoked"),
        ({"spec_version": "2.0"}, None, "spec_version"),
        ({"object_marking_refs": []}, None, "object_marking_refs"),
        ({"modified": "2000-01-01T00:00:00.000Z"}, None, "precedes"),
        ({}, "object_marking_refs", "is missing"),
        ({}, "opinion", "is missing"),
    ],
)
def test_an_opinion_outside_the_profile_is_refused(
    change: dict[str, Any], drop: str | None, message: str
) -> None:
    text = _refused(change, drop=drop)
    assert message in text and "bundle object" in text


def test_the_same_opinion_version_twice_is_refused() -> None:
    opinion = make_opinion()
    contents = read_entry_bundle(bundle_of(opinion, opinion), origin=ORIGIN, max_objects=MAX_OBJECTS)
    assert contents.opinions == [(opinion, Tlp.GREEN)]  # the first is read, the repeat dropped
    [reason] = contents.dropped
    assert "repeats an opinion version" in reason


def test_an_unknown_object_type_is_still_refused() -> None:
    bundle = bundle_of(make_opinion())
    bundle["objects"][-1]["type"] = "note"
    contents = read_entry_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS)
    assert contents.opinions == [] and contents.indicators == []
    [reason] = contents.dropped
    assert "does not read" in reason
