"""Notes in STIX (issue 15): descriptions, labels and attestation records round-trip, keep
stix2-validator strict at 0 errors and 0 warnings, and hostile text from a partner is refused."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_string

from node.errors import InvalidInput
from node.model import SignalType, Tlp
from node.model.provenance import (
    ATTESTED_CATEGORY,
    Attestation,
    AttestedFrame,
    ContentCredentials,
    IndicatorNote,
)
from node.stix import build_bundle, read_entry_bundle
from node.stix.fastpath import SharedFields
from node.stix.profile import EXTENSION_DEFINITION_ID, origin_identity_id
from node.stix.provenance import attestation_to_json, credentials_to_json
from tests.stix.samples import MAX_OBJECTS, ORIGIN, ORIGIN_NAMES, T0, as_json, hex_value, make_indicator

RECORD = Attestation(
    record_id="0b5f3c51-8a2e-4f43-9a0e-5d8a1f0e6b7c",
    publisher="Campaign X press office",
    published_at=T0 - timedelta(days=1),
    where="https://campaign.example/press",
    frames=(AttestedFrame(0.0, hex_value(1, 64)), AttestedFrame(1.0, hex_value(2, 64))),
    c2pa=ContentCredentials(
        validation_state="Trusted",
        valid=True,
        trusted=True,
        claim_generator="Newsroom CMS 1.0",
        signer="Photo Desk",
        actions=("c2pa.created", "c2pa.edited"),
    ),
)
ATTESTED_NOTE = IndicatorNote(
    description="Rally clip as released",
    labels=("election:us-2026", "jurisdiction:us-pa"),
    attestation=RECORD,
)


# The C2PA summary a contributor read from the file it hashed (issue 15): an AI generator's
# intact manifest under no anchor of the origin's, and a broken one with no texts or actions.
AI_READING = ContentCredentials(
    validation_state="Valid",
    valid=True,
    trusted=False,
    claim_generator="ImageGen 2.1",
    signer="ImageGen signing key",
    issuer="ImageGen Inc.",
    actions=("c2pa.created",),
    ai_generated=True,
)
BROKEN_READING = ContentCredentials(validation_state="Invalid", valid=False, trusted=False)


def _noted() -> list[Any]:
    return [
        make_indicator(1, SignalType.SHA256, category=ATTESTED_CATEGORY, tlp=Tlp.CLEAR, note=ATTESTED_NOTE),
        make_indicator(2, SignalType.VPDQ, category=ATTESTED_CATEGORY, tlp=Tlp.CLEAR, note=ATTESTED_NOTE),
        make_indicator(
            3,
            SignalType.PDQ,
            category="election-deepfake",
            note=IndicatorNote(labels=("behaviour:impersonation",)),
        ),
        make_indicator(4, SignalType.MD5, note=IndicatorNote(description="Seen on a fringe forum")),
        *_contributed(),
    ]


def _contributed() -> list[Any]:
    """Contributions that record the C2PA summary of the file they were hashed from."""
    return [
        make_indicator(
            6,
            SignalType.PDQ,
            category="election-deepfake",
            note=IndicatorNote(labels=("election:us-2026",), c2pa=AI_READING),
        ),
        make_indicator(7, SignalType.SHA256, note=IndicatorNote(c2pa=BROKEN_READING)),
    ]


def _read(bundle: dict[str, Any]) -> Any:
    return read_entry_bundle(json.loads(json.dumps(bundle)), origin=ORIGIN, max_objects=MAX_OBJECTS)


def test_notes_round_trip_through_the_reader() -> None:
    written = _noted()
    contents = _read(as_json(build_bundle(written, origin_names=ORIGIN_NAMES)))
    assert contents.dropped == []
    assert contents.indicators == written


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_validator_passes_attestations_and_labels_with_no_warnings(strict: bool) -> None:
    bundle = json.dumps(as_json(build_bundle(_noted(), origin_names=ORIGIN_NAMES)))
    result = validate_string(bundle, ValidationOptions(strict=strict))
    assert [str(error) for error in result.errors] == []
    assert result.warnings == []
    assert result.is_valid


def test_the_fast_path_leaves_noted_indicators_to_the_full_reader() -> None:
    shared = SharedFields(origin=ORIGIN, creator=origin_identity_id(ORIGIN))
    objects = as_json(build_bundle(_noted(), origin_names=ORIGIN_NAMES))["objects"]
    indicators = [o for o in objects if o["type"] == "indicator"]
    assert [shared.read(o) for o in indicators] == [None] * len(indicators)


def _tampered(change: Any) -> list[str]:
    bundle = as_json(build_bundle(_noted()[:1], origin_names=ORIGIN_NAMES))
    change(bundle["objects"][-1])
    return list(_read(bundle).dropped)


def _extension(stix: dict[str, Any]) -> dict[str, Any]:
    extension: dict[str, Any] = stix["extensions"][EXTENSION_DEFINITION_ID]
    return extension


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda s: s.update(description="press office\x1b]0;pwned\x07"), "control or format characters"),
        (lambda s: s.update(description="x" * 1025), "the limit is 1024"),
        (lambda s: s.update(description="safe \u202etxt.exe"), "control or format characters"),
        (lambda s: s.update(labels=["Election:US"]), "normal (lowercase) form"),
        (lambda s: s.update(labels=["colour:red"]), "a label is entity:"),
        (lambda s: s.update(labels=[f"x-{n}" for n in range(17)]), "at most 16 labels"),
        (lambda s: _extension(s)["attestation"].update(publisher="\x1b[31mCampaign"), "control or format"),
        (lambda s: _extension(s)["attestation"].update(where=""), "where must be non-empty"),
        (lambda s: _extension(s)["attestation"].update(extra=1), "must hold record_id"),
        (
            lambda s: _extension(s)["attestation"].update(frames=[{"time_ms": 1.5, "pdq": "0" * 64}]),
            "time_ms",
        ),
        (lambda s: _extension(s).pop("attestation"), "carried by, and only by"),
        (lambda s: _extension(s)["attestation"]["c2pa"].update(signer="\x1b[1mX"), "control or format"),
        (lambda s: _extension(s)["attestation"]["c2pa"].update(valid=False), "trusted only when it is valid"),
        (lambda s: _extension(s)["attestation"]["c2pa"].update(extra=1), "a C2PA summary holds exactly"),
    ],
)
def test_hostile_or_broken_notes_drop_the_object(change: Any, rule: str) -> None:
    [dropped] = _tampered(change)
    assert rule in dropped
    assert "\x1b" not in dropped and "pwned" not in dropped  # the text is never echoed


def test_an_attestation_on_a_harm_category_is_refused_both_ways() -> None:
    harmful = make_indicator(5, SignalType.MD5, note=ATTESTED_NOTE)
    with pytest.raises(InvalidInput, match="only with, the category"):
        build_bundle([harmful], origin_names=ORIGIN_NAMES)
    bundle = as_json(build_bundle([make_indicator(5, SignalType.MD5)], origin_names=ORIGIN_NAMES))
    _extension(bundle["objects"][-1])["attestation"] = attestation_to_json(RECORD)
    [dropped] = _read(bundle).dropped
    assert "carried by, and only by" in dropped


# --- C2PA summaries recorded with contributions (issue 15) -----------------------------------


def test_a_contributions_c2pa_summary_travels_in_the_extension() -> None:
    bundle = as_json(build_bundle(_contributed(), origin_names=ORIGIN_NAMES))
    ai, broken = (_extension(o) for o in bundle["objects"] if o["type"] == "indicator")
    assert ai["c2pa"] == {
        "validation_state": "Valid",
        "valid": True,
        "trusted": False,
        "claim_generator": "ImageGen 2.1",
        "signer": "ImageGen signing key",
        "issuer": "ImageGen Inc.",
        "actions": ["c2pa.created"],
        "ai_generated": True,
    }
    # No JSON null and no empty list in STIX: absent texts and actions are left out.
    assert broken["c2pa"] == {
        "validation_state": "Invalid",
        "valid": False,
        "trusted": False,
        "ai_generated": False,
    }
    assert _read(bundle).indicators == _contributed()


def test_an_attestation_keeps_its_summary_in_its_record_never_beside_it() -> None:
    with pytest.raises(InvalidInput, match="in its record"):
        IndicatorNote(attestation=RECORD, c2pa=AI_READING)
    bundle = as_json(build_bundle(_noted()[:1], origin_names=ORIGIN_NAMES))
    _extension(bundle["objects"][-1])["c2pa"] = credentials_to_json(AI_READING)
    [dropped] = _read(bundle).dropped
    assert "in its record" in dropped


def _tampered_reading(change: Any) -> list[str]:
    bundle = as_json(build_bundle(_contributed()[:1], origin_names=ORIGIN_NAMES))
    change(_extension(bundle["objects"][-1]))
    return list(_read(bundle).dropped)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda e: e.update(c2pa="Valid"), "extensions.c2pa must be an object"),
        (lambda e: e.update(c2pa=["Valid"]), "extensions.c2pa must be an object"),
        (lambda e: e["c2pa"].update(extra=1), "a C2PA summary holds exactly"),
        (lambda e: e["c2pa"].pop("valid"), "a C2PA summary holds exactly"),
        (lambda e: e["c2pa"].update(trusted="yes"), "flags are true/false"),
        (lambda e: e["c2pa"].update(actions="c2pa.created"), "actions a list"),
        (lambda e: e["c2pa"].update(actions=[{"action": "x"}]), "C2PA action must be non-empty text"),
        (lambda e: e["c2pa"].update(actions=["c2pa.edited"] * 33), "at most 32 actions"),
        (lambda e: e["c2pa"].update(signer="s" * 201), "the limit is 200"),
        (lambda e: e["c2pa"].update(validation_state="V" * 10_000), "the limit is 200"),
        (lambda e: e["c2pa"].update(signer=7), "fields are text"),
        (lambda e: e["c2pa"].update(claim_generator="Gen\x1b]0;pwned\x07"), "control or format"),
        (lambda e: e["c2pa"].update(issuer="Org \u202egpj.exe"), "control or format"),
        (lambda e: e["c2pa"].update(trusted=True, valid=False), "trusted only when it is valid"),
    ],
)
def test_a_malformed_or_oversized_c2pa_summary_drops_the_object(change: Any, rule: str) -> None:
    [dropped] = _tampered_reading(change)
    assert rule in dropped
    assert "\x1b" not in dropped and "pwned" not in dropped and "gpj" not in dropped  # never echoed


def test_the_fast_path_leaves_c2pa_summaries_to_the_full_reader() -> None:
    shared = SharedFields(origin=ORIGIN, creator=origin_identity_id(ORIGIN))
    bundle = as_json(build_bundle(_contributed(), origin_names=ORIGIN_NAMES))
    assert [shared.read(o) for o in bundle["objects"] if o["type"] == "indicator"] == [None, None]
