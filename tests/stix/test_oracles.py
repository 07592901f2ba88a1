"""The stix2 library and stix2-validator agree with our codec (DESIGN §7).

Oracle 1: what build_bundle writes, the library parses, field for field. Oracle 2: what the
library writes in the same profile, read_bundle reads. And the OASIS validator passes our
bundles with no errors and no warnings, in default and in strict mode.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from node.model import Indicator, SignalType
from node.model.provenance import IndicatorNote
from node.stix import build_bundle, origin_identity_id, parse_with_stix2, read_bundle
from node.stix.profile import (
    ACCORD_IDENTITY_ID,
    EXTENSION_DEFINITION_ID,
    EXTENSION_SCHEMA,
    HASH_KEYS,
    TLP_MARKINGS,
    indicator_types_for,
)
from tests.stix.samples import MAX_OBJECTS, ORIGIN, ORIGIN_NAMES, T0, as_json, every_kind, make_indicator


def _bundle_json(indicators: list[Indicator]) -> str:
    return json.dumps(build_bundle(indicators, origin_names=ORIGIN_NAMES))


# --- oracle 1: the library reads what we write ------------------------------------------


def _pattern(indicator: Indicator) -> str:
    """The pattern, written out here rather than by the codec: STIX patterning quotes ' and \\."""
    signal = indicator.signal
    if signal.type.is_address:
        observable = "url" if signal.type is SignalType.URL else "domain-name"
        quoted = signal.value.replace("\\", "\\\\").replace("'", "\\'")
        return f"[{observable}:value = '{quoted}']"
    return f"[file:hashes.{HASH_KEYS[signal.type]} = '{signal.value}']"


def _fields_of_ours(indicator: Indicator) -> dict[str, Any]:
    return {
        "id": indicator.id,
        "pattern": _pattern(indicator),
        "created_by_ref": origin_identity_id(indicator.origin),
        "created": indicator.created,
        "modified": indicator.modified,
        "valid_from": indicator.created,
        "valid_until": indicator.valid_until,
        "revoked": indicator.revoked,
        "marking": TLP_MARKINGS[indicator.tlp],
        "signal_type": indicator.signal.type.value,
        "category": indicator.category,
        "content_type": indicator.content_type.value,
        "quality": indicator.quality,
    }


def _fields_of_library(indicator: Any) -> dict[str, Any]:
    extension = indicator.extensions[EXTENSION_DEFINITION_ID]
    [marking] = indicator.object_marking_refs
    return {
        "id": indicator.id,
        "pattern": indicator.pattern,
        "created_by_ref": indicator.created_by_ref,
        "created": indicator.created,
        "modified": indicator.modified,
        "valid_from": indicator.valid_from,
        "valid_until": indicator.get("valid_until"),
        "revoked": indicator.revoked,
        "marking": marking,
        "signal_type": extension["signal_type"],
        "category": extension["category"],
        "content_type": extension["content_type"],
        "quality": extension.get("quality"),
    }


def test_the_library_parses_our_bundle_without_allow_custom() -> None:
    # No allow_custom: the library accepts property extensions keyed by an
    # extension-definition id without registration (it cannot know their fields, so it does
    # not count them as custom content). Our bundles hold no other custom content.
    written = every_kind()
    parsed = stix2.parse(_bundle_json(written), allow_custom=False)
    library_indicators = [obj for obj in parsed.objects if isinstance(obj, stix2.v21.Indicator)]
    assert [_fields_of_library(obj) for obj in library_indicators] == [_fields_of_ours(i) for i in written]


def test_the_library_parses_our_identities_and_extension_definition() -> None:
    parsed = stix2.parse(_bundle_json([make_indicator(1)]), allow_custom=False)
    origin, accord, definition = parsed.objects[:3]
    assert (origin.id, origin.name) == (origin_identity_id(ORIGIN), ORIGIN_NAMES[ORIGIN])
    assert accord.id == ACCORD_IDENTITY_ID
    assert isinstance(definition, stix2.v21.ExtensionDefinition)
    assert definition.extension_types == ["property-extension"]


def test_parse_with_stix2_gives_our_indicators() -> None:
    written = every_kind()
    assert parse_with_stix2(_bundle_json(written)) == written


# --- oracle 2: we read what the library writes ------------------------------------------


def _library_indicator(indicator: Indicator) -> stix2.v21.Indicator:
    extension: dict[str, Any] = {
        "extension_type": "property-extension",
        "signal_type": indicator.signal.type.value,
        "category": indicator.category,
        "content_type": indicator.content_type.value,
    }
    if indicator.quality is not None:
        extension["quality"] = indicator.quality
    optional: dict[str, Any] = {"revoked": True} if indicator.revoked else {}
    if indicator.valid_until is not None:
        optional["valid_until"] = indicator.valid_until
    return stix2.v21.Indicator(
        id=indicator.id,
        created_by_ref=origin_identity_id(indicator.origin),
        created=indicator.created,
        modified=indicator.modified,
        name=f"{indicator.signal.type.value} indicator",
        description="written by the stix2 library",
        indicator_types=indicator_types_for(indicator.category),
        pattern=_pattern(indicator),
        pattern_type="stix",
        pattern_version="2.1",
        valid_from=indicator.created,
        object_marking_refs=[TLP_MARKINGS[indicator.tlp]],
        extensions={EXTENSION_DEFINITION_ID: extension},
        **optional,
    )


def _library_bundle(indicators: list[Indicator]) -> stix2.v21.Bundle:
    accord = stix2.v21.Identity(
        id=ACCORD_IDENTITY_ID, name="Accord project", identity_class="organization", created=T0, modified=T0
    )
    origin = stix2.v21.Identity(
        id=origin_identity_id(ORIGIN),
        name=ORIGIN_NAMES[ORIGIN],
        identity_class="organization",
        extensions={EXTENSION_DEFINITION_ID: {"extension_type": "property-extension", "key_id": ORIGIN}},
    )
    definition = stix2.v21.ExtensionDefinition(
        id=EXTENSION_DEFINITION_ID,
        created_by_ref=ACCORD_IDENTITY_ID,
        name="Accord media hash labels",
        schema=EXTENSION_SCHEMA,
        version="1.0.0",
        extension_types=["property-extension"],
    )
    objects = [origin, accord, definition, *map(_library_indicator, indicators)]
    return stix2.v21.Bundle(objects=objects)


def test_read_bundle_reads_what_the_library_writes() -> None:
    # Whole seconds too: the library then writes valid_from without a fraction ("...:09Z").
    written = [*every_kind(), make_indicator(200, created=T0.replace(microsecond=0))]
    bundle = json.loads(_library_bundle(written).serialize())
    # A description other than the generated one is the origin's own, and is read (issue 15).
    described = IndicatorNote(description="written by the stix2 library")
    expected = [replace(indicator, note=described) for indicator in written]
    assert read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS) == expected


def test_parse_with_stix2_reads_what_the_library_writes() -> None:
    written = every_kind()
    described = IndicatorNote(description="written by the stix2 library")
    expected = [replace(indicator, note=described) for indicator in written]
    assert parse_with_stix2(_library_bundle(written).serialize()) == expected


# --- the OASIS validator ----------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_validator_passes_our_bundle_with_no_errors_and_no_warnings(strict: bool) -> None:
    written = [*every_kind(), make_indicator(300, SignalType.PDQ, valid_until=T0 + timedelta(days=1))]
    assert any(i.revoked for i in written)
    assert {i.tlp for i in written} >= set(TLP_MARKINGS)
    result = validate_string(_bundle_json(written), ValidationOptions(strict=strict))
    assert [str(error) for error in result.errors] == []
    assert result.warnings == []
    assert result.is_valid


def test_validator_sees_a_broken_bundle() -> None:
    # Guards the test above against a validator that passes everything.
    bundle = as_json(build_bundle([make_indicator(1, SignalType.MD5)], origin_names=ORIGIN_NAMES))
    bundle["objects"][-1]["pattern"] = "[file:hashes.MD5 = 'abc']"
    result = validate_string(json.dumps(bundle), ValidationOptions(strict=True))
    assert not result.is_valid
