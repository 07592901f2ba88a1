"""parse_with_stix2: the stix2 library's parse, for STIX that did not come from our writer."""

from __future__ import annotations

import json

import pytest

from node.errors import MalformedStix
from node.model import SignalType
from node.stix import build_bundle, parse_with_stix2
from tests.stix.samples import ORIGIN_NAMES, as_json, make_indicator


def _bundle(*, pdq_pattern: str | None = None, drop_origin: bool = False) -> str:
    indicator = make_indicator(1, SignalType.PDQ)
    bundle = as_json(build_bundle([indicator], origin_names=ORIGIN_NAMES))
    if pdq_pattern is not None:
        bundle["objects"][-1]["pattern"] = pdq_pattern
    if drop_origin:
        del bundle["objects"][0]
    return json.dumps(bundle)


@pytest.mark.parametrize("text", ["not json", "[]", json.dumps({"type": "identity"})])
def test_what_the_library_cannot_parse_is_malformed(text: str) -> None:
    with pytest.raises(MalformedStix, match="stix2 library refused"):
        parse_with_stix2(text)


def test_a_single_object_is_not_a_bundle() -> None:
    indicator = as_json(build_bundle([make_indicator(1)], origin_names=ORIGIN_NAMES))["objects"][-1]
    with pytest.raises(MalformedStix, match=r"not a STIX 2\.1 bundle"):
        parse_with_stix2(json.dumps(indicator))


def test_library_errors_are_not_chained_because_they_quote_values() -> None:
    value = make_indicator(1).signal.value
    with pytest.raises(MalformedStix) as caught:
        parse_with_stix2(_bundle(pdq_pattern=f"[file:hashes.x_pdq = '{value}'"))
    assert value not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_an_indicator_needs_its_creator_identity_in_the_bundle() -> None:
    with pytest.raises(MalformedStix, match="bundle object 2: field 'created_by_ref'"):
        parse_with_stix2(_bundle(drop_origin=True))


def test_an_identity_whose_id_is_not_derived_from_its_key_is_not_an_origin() -> None:
    bundle = json.loads(_bundle())
    bundle["objects"][0]["id"] = "identity--0b6e0fa4-52cd-4a8b-8d1e-d2a5f4c6e0a1"
    with pytest.raises(MalformedStix, match="created_by_ref"):
        parse_with_stix2(json.dumps(bundle))


def test_profile_rules_apply_after_the_library_parsed() -> None:
    # Syntactically fine STIX, so the library accepts it; the profile's hash rule does not.
    with pytest.raises(MalformedStix, match="bundle object 3: field 'pattern'"):
        parse_with_stix2(_bundle(pdq_pattern="[file:hashes.x_pdq = 'abc']"))
