"""url, domain and model signals in the STIX profile (issue 15): ``[url:value = '…']``,
``[domain-name:value = '…']`` and ``[file:hashes.x_model = '…']``, validator-clean in strict
mode, and refused when a value is not in normal form."""

from __future__ import annotations

import json

import pytest
from stix2validator import ValidationOptions, validate_string

from node.model import Signal, SignalType
from node.stix import build_bundle, parse_with_stix2, read_bundle
from tests.stix.samples import MAX_OBJECTS, ORIGIN, ORIGIN_NAMES, as_json, hex_value, make_indicator, the_drop

URL = Signal(SignalType.URL, "https://app.nudify.example/it's/ok?q=1")
DOMAIN = Signal(SignalType.DOMAIN, "nudify.example")
MODEL = Signal.model(hex_value(700 + n, 64) for n in range(4))


def _bundle(signal: Signal, category: str) -> dict[str, object]:
    indicator = make_indicator(3, signal.type, signal=signal, category=category)
    return as_json(build_bundle([indicator], origin_names=ORIGIN_NAMES))


def _indicator(bundle: dict[str, object]) -> dict[str, object]:
    [stix] = [o for o in bundle["objects"] if o["type"] == "indicator"]  # type: ignore[attr-defined]
    return stix  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("signal", "category", "pattern"),
    [
        (URL, "nudify-service", "[url:value = 'https://app.nudify.example/it\\'s/ok?q=1']"),
        (DOMAIN, "nudify-service", "[domain-name:value = 'nudify.example']"),
        (MODEL, "abusive-model", f"[file:hashes.x_model = '{MODEL.value}']"),
    ],
)
def test_round_trip_and_both_oracles(signal: Signal, category: str, pattern: str) -> None:
    indicator = make_indicator(3, signal.type, signal=signal, category=category)
    bundle = _bundle(signal, category)
    stix = _indicator(bundle)
    assert stix["pattern"] == pattern
    assert "example" not in str(stix["name"]) + str(stix["description"])  # texts never hold the value
    assert read_bundle(bundle, origin=ORIGIN, max_objects=MAX_OBJECTS) == [indicator]
    assert parse_with_stix2(json.dumps(bundle)) == [indicator]  # the stix2 library agrees
    for strict in (False, True):
        result = validate_string(json.dumps(bundle), ValidationOptions(strict=strict))
        assert result.is_valid and not result.warnings, result.as_dict()


@pytest.mark.parametrize(
    ("signal", "pattern", "rule"),
    [
        (URL, "[url:value = 'HTTPS://app.nudify.example/']", "normal form"),
        (URL, "[url:value = 'https://app.nudify.example/a/../b']", "normal form"),
        (DOMAIN, "[domain-name:value = 'vercel.app']", "public suffix"),
        (DOMAIN, "[domain-name:value = 'Nudify.example']", "normal form"),
        (DOMAIN, "[url:value = 'https://nudify.example/']", "different observable"),
        (URL, "[url:value = 'https://x.example/it's']", "is not of the form"),
        (MODEL, f"[file:hashes.x_model = '{MODEL.value[64:]}{MODEL.value[:64]}']", "ascending"),
        (MODEL, f"[file:hashes.x_vpdq = '{MODEL.value}']", "different hash"),
    ],
)
def test_a_value_not_in_normal_form_is_refused_by_name(signal: Signal, pattern: str, rule: str) -> None:
    bundle = _bundle(signal, "nudify-service")
    _indicator(bundle)["pattern"] = pattern
    assert rule in the_drop(bundle)
