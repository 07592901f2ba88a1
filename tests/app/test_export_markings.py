"""Exported STIX keeps its TLP in other tools: the TLP 2.0 definitions travel with the bundle.

The ``stix2`` library (3.0) and OpenCTI's pycti know only TLP 1.0's marking ids. pycti's bundle
handling (its splitter, with ``cleanup_inconsistent_bundle``) drops every reference whose object
is not in the bundle, so an export without the definitions arrives unmarked. No OpenCTI server
runs here: pycti's splitter, the step that dropped the markings, is the proxy for an import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stix2
from pycti.utils.opencti_stix2_splitter import OpenCTIStix2Splitter
from stix2validator import ValidationOptions, validate_string

from node.app import AccordNode, init_home
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import Tlp
from node.model.viewers import Viewer
from node.store.bridges import ObjectQuery
from node.sync.catalogue import ALL_COLLECTION, collection_id
from tests.support.feeds import md5_signal

TLP2 = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
OFFICIAL_GREEN = {  # OASIS cti-stix-common-objects, marking-definition--bab4a63c-….json
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "created": "2022-10-01T00:00:00.000Z",
    "name": "TLP:GREEN",
    "extensions": {TLP2: {"extension_type": "property-extension", "tlp_2_0": "green"}},
}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "ngo", name="Example NGO")
    init_home(tmp_path / "platform", name="Example Platform")
    partner = AccordNode.open(tmp_path / "platform")
    key = public_key_to_text(partner.identity.public_key)
    sealed_to = encryption_key_to_text(partner.encryption.current.public)  # compared with the key
    partner.close()
    opened = AccordNode.open(tmp_path / "ngo")
    opened.add_partner("platform", public_key=key, endpoint=None, encryption_key=sealed_to)
    opened.contribute(signals=[str(md5_signal(1))], category="csam", tlp=Tlp.GREEN)
    opened.contribute(signals=[str(md5_signal(2))], category="csam", tlp=Tlp.AMBER, recipients=["platform"])
    opened.contribute(signals=[str(md5_signal(3))], category="ncii", tlp=Tlp.RED, recipients=["platform"])
    yield opened
    opened.close()


def tlp_of_each_indicator(objects: list[Any]) -> dict[str, str]:
    """Signal value → the TLP 2.0 level its marking's definition (in the same bundle) states."""
    definitions = {o["id"]: o for o in objects if o["type"] == "marking-definition"}
    found = {}
    for obj in objects:
        if obj["type"] == "indicator":
            [ref] = obj["object_marking_refs"]
            found[obj["pattern"].split("'")[-2]] = definitions[ref]["extensions"][TLP2]["tlp_2_0"]
    return found


def test_an_export_carries_the_official_tlp_definitions(node: AccordNode, tmp_path: Path) -> None:
    out = tmp_path / "export.json"
    node.export_stix(out, include_red=True)
    text = out.read_text()
    data = json.loads(text)

    assert OFFICIAL_GREEN in data["objects"]
    expected = {md5_signal(1).value: "green", md5_signal(2).value: "amber", md5_signal(3).value: "red"}
    assert tlp_of_each_indicator(data["objects"]) == expected
    # The reference library, without custom content allowed, keeps the definitions and the refs.
    parsed = json.loads(stix2.parse(text, allow_custom=False).serialize())
    assert tlp_of_each_indicator(parsed["objects"]) == expected
    for strict in (False, True):
        results = validate_string(text, ValidationOptions(strict=strict))
        assert [str(e) for e in results.errors] == [] and results.warnings == []


def test_pycti_bundle_handling_keeps_the_markings(node: AccordNode, tmp_path: Path) -> None:
    out = tmp_path / "export.json"
    node.export_stix(out, include_red=True)

    splitter = OpenCTIStix2Splitter()
    _, incompatible, bundles = splitter.split_bundle_with_expectations(
        out.read_text(), use_json=True, cleanup_inconsistent_bundle=True
    )
    objects = [obj for bundle in bundles for obj in json.loads(bundle)["objects"]]
    assert {o["type"] for o in incompatible} == {"extension-definition"}  # not an OpenCTI type
    indicators = [o for o in objects if o["type"] == "indicator"]
    assert len(indicators) == 3 and all(len(o["object_marking_refs"]) == 1 for o in indicators)
    assert tlp_of_each_indicator(objects) == {
        md5_signal(1).value: "green",
        md5_signal(2).value: "amber",
        md5_signal(3).value: "red",
    }


def test_every_taxii_collection_holds_the_tlp_definitions(node: AccordNode) -> None:
    catalogue = node.bridges.catalogue
    viewer = Viewer(name="a", max_tlp=Tlp.RED)
    wanted = {ALL_COLLECTION, collection_id("origin", node.key_id), collection_id("category", "ncii")}
    collections = [c for c in catalogue.collections(viewer) if c.id in wanted]
    assert len(collections) == 3
    for collection in collections:
        page = catalogue.page(viewer, collection, ObjectQuery(), cursor=None, limit=100)
        objects = [json.loads(row.object) for row in page.rows]
        # Every marking an indicator of the collection references is defined in the collection.
        levels = set(tlp_of_each_indicator(objects).values())
        assert levels == ({"red"} if collection.category == "ncii" else {"green", "amber", "red"})
