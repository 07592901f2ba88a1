"""TLP marking-definitions: the well-known ids, the official TLP 2.0 objects, and imported ones.

Reading STIX from other tools, a marking reference gives the TLP when its id is well known
(TLP 2.0's OASIS ids, the TLP 1.0 ids of the ``stix2`` library, OpenCTI's AMBER+STRICT id) or
when the bundle carries a marking-definition that states a TLP (``definition_type`` "tlp", the
TLP 2.0 property extension, OpenCTI's ``x_opencti_definition_type`` "TLP", or a name such as
"TLP:AMBER+STRICT"). A bundle never redefines a well-known id. Writing exports, the official
TLP 2.0 definitions go into the bundle, so that readers without them built in keep the TLP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from node.errors import InvalidInput
from node.model import Tlp
from node.stix.profile import TLP_BY_MARKING, TLP_MARKINGS

TLP2_EXTENSION_ID: Final = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The OASIS property extension that marks a marking-definition as TLP 2.0."""

TLP2_CREATED: Final = "2022-10-01T00:00:00.000Z"

OPENCTI_AMBER_STRICT: Final = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
"""OpenCTI's fixed id for TLP:AMBER+STRICT (TLP 1.0 had no such level, so it made its own)."""

TLP1_MARKINGS: Final[dict[str, Tlp]] = {
    # TLP 1.0 ids of the stix2 library (TLP_WHITE, …), still used by OpenCTI and MISP exports.
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}

WELL_KNOWN_TLP: Final[dict[str, Tlp]] = {
    **TLP1_MARKINGS,
    OPENCTI_AMBER_STRICT: Tlp.AMBER_STRICT,
    **TLP_BY_MARKING,
}
"""Marking id → TLP for every id whose meaning is fixed outside any bundle."""

_TLP_NAME = re.compile(r"tlp:(clear|white|green|amber|amber\+strict|red)")
_ORDER = list(Tlp)


def tlp_marking_definition(tlp: Tlp) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition of ``tlp`` (OASIS cti-stix-common-objects)."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKINGS[tlp],
        "created": TLP2_CREATED,
        "name": f"TLP:{tlp.value.upper()}",
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": tlp.value}},
    }


def strictest(levels: Iterable[Tlp]) -> Tlp | None:
    """The most restricted of ``levels``; None when there is none."""
    found = list(levels)
    return max(found, key=_ORDER.index) if found else None


def marking_tlps(objects: Iterable[object], *, known: Mapping[str, Tlp] | None = None) -> dict[str, Tlp]:
    """Marking id → TLP: the well-known ids, ``known`` and the TLP marking-definitions of ``objects``.

    A definition whose id is well known is ignored: a bundle cannot make TLP:RED mean CLEAR.
    """
    found = dict(known or {})
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("type") != "marking-definition":
            continue
        marking = obj.get("id")
        tlp = definition_tlp(obj)
        if isinstance(marking, str) and tlp is not None and marking not in WELL_KNOWN_TLP:
            found[marking] = strictest([tlp, found.get(marking, tlp)]) or tlp
    return {**found, **WELL_KNOWN_TLP}


def definition_tlp(obj: dict[str, Any]) -> Tlp | None:
    """The TLP a marking-definition object states, in any of the spellings tools use; else None."""
    texts: list[object] = []
    definition = obj.get("definition")
    if obj.get("definition_type") == "tlp" and isinstance(definition, dict):
        texts.append(definition.get("tlp"))
    extensions = obj.get("extensions")
    if isinstance(extensions, dict) and isinstance(extensions.get(TLP2_EXTENSION_ID), dict):
        texts.append(extensions[TLP2_EXTENSION_ID].get("tlp_2_0"))
    if str(obj.get("x_opencti_definition_type", "")).upper() == "TLP":
        texts.append(obj.get("x_opencti_definition"))
    name = obj.get("name")
    if isinstance(name, str) and name.strip().lower().startswith("tlp:"):
        texts.append(name)  # a statement named "TLP:…" (only with the prefix: "Green team" is not one)
    return strictest(tlp for text in texts if (tlp := _parse(text)) is not None)


def _parse(text: object) -> Tlp | None:
    if not isinstance(text, str):
        return None
    name = text.strip().lower()
    name = name if name.startswith("tlp:") else f"tlp:{name}"
    if not _TLP_NAME.fullmatch(name):
        return None
    try:
        return Tlp.parse(name)
    except InvalidInput:
        return None


def object_tlp(obj: Mapping[str, Any], tlps: Mapping[str, Tlp]) -> Tlp | None:
    """The most restricted TLP among an object's object and granular marking references."""
    refs: list[object] = []
    markings = obj.get("object_marking_refs")
    if isinstance(markings, list):
        refs.extend(markings)
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        refs.extend(g.get("marking_ref") for g in granular if isinstance(g, dict))
    return strictest(tlps[ref] for ref in refs if isinstance(ref, str) and ref in tlps)
