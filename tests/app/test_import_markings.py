"""``accord contribute --stix`` keeps its source's TLP markings and expiry (issue 13).

OpenCTI-style bundles: TLP 1.0 ids, OpenCTI's AMBER+STRICT id, marking-definition objects
in the bundle (TLP 2.0 extension, ``definition_type`` "tlp", OpenCTI's statement with
``x_opencti_definition_type``). The stricter of the marking and ``--tlp`` wins; a restricted
result needs recipients; a past ``valid_until`` is refused and a future one kept.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.app import AccordNode, init_home
from node.errors import InvalidInput
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import Signal, Tlp
from tests.support.feeds import md5_signal

RED_V1 = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
AMBER_V1 = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
GREEN_V1 = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
RED_V2 = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
OPENCTI_AMBER_STRICT = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
CUSTOM_STRICT = f"marking-definition--{uuid.UUID(int=1, version=4)}"  # OpenCTI statement object
CUSTOM_TLP = f"marking-definition--{uuid.UUID(int=2, version=4)}"  # definition_type "tlp"
CUSTOM_V2 = f"marking-definition--{uuid.UUID(int=3, version=4)}"  # TLP 2.0 extension
STATEMENT = f"marking-definition--{uuid.UUID(int=4, version=4)}"  # a copyright statement: no TLP
CREATED = "2026-01-01T00:00:00.000Z"

DEFINITIONS = [
    {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": CUSTOM_STRICT,
        "created": CREATED,
        "definition_type": "statement",
        "definition": {"statement": "custom"},
        "name": "TLP:AMBER+STRICT",
        "x_opencti_definition_type": "TLP",
        "x_opencti_definition": "TLP:AMBER+STRICT",
    },
    {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": CUSTOM_TLP,
        "created": CREATED,
        "definition_type": "tlp",
        "definition": {"tlp": "red"},
    },
    {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": CUSTOM_V2,
        "created": CREATED,
        "name": "TLP:AMBER",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "amber",
            }
        },
    },
    {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": STATEMENT,
        "created": CREATED,
        "definition_type": "statement",
        "definition": {"statement": "Copyright Example"},
    },
    {  # a bundle cannot make TLP:RED's well-known id mean CLEAR
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": RED_V2,
        "created": CREATED,
        "name": "TLP:CLEAR",
        "definition_type": "tlp",
        "definition": {"tlp": "clear"},
    },
]


def indicator(signal: Signal, *markings: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": CREATED,
        "modified": CREATED,
        "pattern": f"[file:hashes.MD5 = '{signal.value}']",
        "pattern_type": "stix",
        "valid_from": CREATED,
        **({"object_marking_refs": list(markings)} if markings else {}),
        **extra,
    }


def write_bundle(path: Path, objects: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}))
    return path


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
    yield opened
    opened.close()


def held_tlps(node: AccordNode) -> dict[Signal, Tlp]:
    return {ind.signal: ind.tlp for ind in node.store.iter_indicators(include_revoked=True)}


def test_markings_set_the_tlp_and_the_stricter_of_marking_and_tlp_wins(
    node: AccordNode, tmp_path: Path
) -> None:
    s = [md5_signal(500 + n) for n in range(10)]
    bundle = write_bundle(
        tmp_path / "opencti.json",
        [
            *DEFINITIONS,
            indicator(s[0], RED_V1),
            indicator(s[1], AMBER_V1),
            indicator(s[2], OPENCTI_AMBER_STRICT),
            indicator(s[3], CUSTOM_STRICT),
            indicator(s[4], CUSTOM_TLP),
            indicator(s[5], CUSTOM_V2),
            indicator(s[6], GREEN_V1, STATEMENT),
            indicator(s[7]),  # unmarked: --tlp
            indicator(s[8], RED_V2),  # the bundle's "TLP:CLEAR" rename of RED is ignored
            indicator(s[9], GREEN_V1, granular_markings=[{"marking_ref": RED_V1, "selectors": ["pattern"]}]),
        ],
    )
    report = node.contribute(stix=[bundle], category="csam", tlp=Tlp.GREEN, recipients=["platform"])

    assert report.publish is not None and report.publish.added == 10 and not report.refused
    expected = [Tlp.RED, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.AMBER_STRICT, Tlp.RED, Tlp.AMBER]
    expected += [Tlp.GREEN, Tlp.GREEN, Tlp.RED, Tlp.RED]
    assert [held_tlps(node)[signal] for signal in s] == expected
    # Each level went out in its own entry, the restricted ones addressed to the partner only.
    rows = node.store.reader.execute("SELECT tlp, recipients FROM entries ORDER BY seq").fetchall()
    by_tlp = {tlp: json.loads(recipients) for tlp, recipients in rows}
    assert set(by_tlp) == {"green", "amber", "amber+strict", "red"}
    assert by_tlp["green"] == [] and len(by_tlp["red"]) == 1


def test_a_stricter_tlp_option_wins_over_a_weaker_marking(node: AccordNode, tmp_path: Path) -> None:
    green, red = md5_signal(520), md5_signal(521)
    bundle = write_bundle(tmp_path / "b.json", [indicator(green, GREEN_V1), indicator(red, RED_V1)])
    node.contribute(stix=[bundle], category="csam", tlp=Tlp.AMBER, recipients=["platform"])
    assert held_tlps(node) == {green: Tlp.AMBER, red: Tlp.RED}


def test_a_restricted_marking_without_recipients_is_refused_and_nothing_is_published(
    node: AccordNode, tmp_path: Path
) -> None:
    bundle = write_bundle(
        tmp_path / "b.json", [indicator(md5_signal(530), GREEN_V1), indicator(md5_signal(531), AMBER_V1)]
    )
    with pytest.raises(InvalidInput, match=r"TLP amber .*--to PARTNER or --group GROUP"):
        node.contribute(stix=[bundle], category="csam", tlp=Tlp.GREEN)
    assert held_tlps(node) == {}


def test_a_past_valid_until_is_refused_and_a_future_one_kept(node: AccordNode, tmp_path: Path) -> None:
    expired, current = md5_signal(540), md5_signal(541)
    future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    bundle = write_bundle(
        tmp_path / "b.json",
        [
            indicator(expired, GREEN_V1, valid_until="2026-01-02T00:00:00.000Z"),
            indicator(current, GREEN_V1, valid_until=future.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
        ],
    )
    report = node.contribute(stix=[bundle], category="csam", tlp=Tlp.GREEN)

    assert [r.reason for r in report.refused] == [
        "valid_until 2026-01-02T00:00:00.000Z is past: the source expired this indicator"
    ]
    assert report.refused[0].source.endswith("b.json:object 0")
    [held] = node.store.iter_indicators(include_revoked=True)
    assert held.signal == current and held.valid_until == future
