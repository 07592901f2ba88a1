"""The profile's fixed ids: deterministic origin identities, the TLP 2.0 table, the extension."""

from __future__ import annotations

import uuid

from node.model import KeyId, Tlp
from node.stix import origin_identity_id
from node.stix.profile import (
    ACCORD_IDENTITY_ID,
    ACCORD_NAMESPACE,
    EXTENSION_DEFINITION_ID,
    TLP_BY_MARKING,
    TLP_MARKINGS,
    extension_definition,
)
from tests.stix.samples import ORIGIN, OTHER_ORIGIN


def test_origin_identity_is_the_same_on_every_call_and_node() -> None:
    assert origin_identity_id(ORIGIN) == origin_identity_id(KeyId(str(ORIGIN)))
    assert origin_identity_id(ORIGIN) != origin_identity_id(OTHER_ORIGIN)


def test_origin_identity_is_uuid5_of_the_key_id_with_version_4() -> None:
    # A version-4 UUID keeps stix2-validator clean (it wants UUIDv4 on SDOs); apart from the
    # version nibble every bit comes from uuid5(ACCORD_NAMESPACE, key_id).
    identity = uuid.UUID(origin_identity_id(ORIGIN).removeprefix("identity--"))
    name_based = uuid.uuid5(ACCORD_NAMESPACE, ORIGIN)
    assert identity.version == 4
    assert identity.variant == uuid.RFC_4122
    assert identity.int & ~(0xF << 76) == name_based.int & ~(0xF << 76)


def test_every_tlp_level_has_one_marking_and_back() -> None:
    assert set(TLP_MARKINGS) == set(Tlp)
    assert {TLP_BY_MARKING[marking] for marking in TLP_MARKINGS.values()} == set(Tlp)


def test_extension_definition_is_a_property_extension_by_the_accord_project() -> None:
    definition = extension_definition()
    assert definition["id"] == EXTENSION_DEFINITION_ID
    assert definition["created_by_ref"] == ACCORD_IDENTITY_ID
    assert definition["extension_types"] == ["property-extension"]
    assert definition["version"] == "1.0.0"
