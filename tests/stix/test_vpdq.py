"""Video signals in the STIX profile: ``[file:hashes.x_vpdq = '<frames>']``, canonical or refused."""

from __future__ import annotations

import json

import pytest
from stix2validator import ValidationOptions, validate_string

from node.model import SignalType
from node.stix import build_bundle, parse_with_stix2, read_bundle
from tests.stix.samples import (
    MAX_OBJECTS,
    ORIGIN,
    ORIGIN_NAMES,
    as_json,
    hex_value,
    make_indicator,
    the_drop,
)

FRAMES = sorted(hex_value(500 + n, 64) for n in range(6))


def video_bundle() -> dict[str, object]:
    indicator = make_indicator(7, SignalType.VPDQ)
    return as_json(build_bundle([indicator], origin_names=ORIGIN_NAMES))


def vpdq_object(bundle: dict[str, object]) -> dict[str, object]:
    [stix] = [o for o in bundle["objects"] if o["type"] == "indicator"]  # type: ignore[attr-defined]
    return stix  # type: ignore[no-any-return]


def test_a_video_round_trips_and_passes_both_oracles() -> None:
    indicator = make_indicator(7, SignalType.VPDQ)
    bundle = video_bundle()
    stix = vpdq_object(bundle)
    assert stix["pattern"] == f"[file:hashes.x_vpdq = '{indicator.signal.value}']"
    assert read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS) == [indicator]
    assert parse_with_stix2(json.dumps(bundle)) == [indicator]  # the stix2 library agrees
    for strict in (False, True):
        result = validate_string(json.dumps(bundle), ValidationOptions(strict=strict))
        assert result.is_valid and not result.warnings, result.as_dict()


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("".join(reversed(FRAMES)), "ascending"),
        (FRAMES[0] * 2, "once each"),
        ("".join(FRAMES)[:-1], "frame hashes of 64"),
        ("".join(FRAMES).upper(), "lowercase hex"),
        ("", "lowercase hex frame hashes"),
    ],
)
def test_a_non_canonical_video_value_is_refused_by_name(value: str, rule: str) -> None:
    bundle = video_bundle()
    vpdq_object(bundle)["pattern"] = f"[file:hashes.x_vpdq = '{value}']"
    reason = the_drop(bundle)
    assert rule in reason and "'pattern'" in reason
    assert not any(frame[:16] in reason or frame[:16].upper() in reason for frame in FRAMES)


def test_a_pdq_pattern_under_a_vpdq_label_is_refused() -> None:
    bundle = video_bundle()
    vpdq_object(bundle)["pattern"] = f"[file:hashes.x_pdq = '{FRAMES[0]}']"
    assert "different hash" in the_drop(bundle)
