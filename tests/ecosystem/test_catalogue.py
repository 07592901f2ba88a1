"""The TAXII catalogue without HTTP: relayed entries, the egress rule per reader, cursors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from node.app import AccordNode, init_home
from node.errors import InvalidInput
from node.feed import public_key_to_text
from node.model import Distribution, Tlp
from node.model.viewers import Viewer
from node.stix import build_bundle, origin_identity_id
from node.stix.markings import tlp_marking_definition
from node.stix.profile import EXTENSION_DEFINITION_ID, extension_definition
from node.store.bridges import DESCRIPTIVE_DROPPED, ObjectQuery
from node.store.schema import m015_descriptive_recatalogue
from node.sync.catalogue import ALL_COLLECTION, decode_cursor, encode_cursor
from tests.support.feeds import FeedWriter, encryption_keys, identity, indicator, md5_signal

NGO = identity(21)  # an origin whose entries this node relays
PLATFORM = identity(22)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Hub")
    opened = AccordNode.open(tmp_path / "home")
    opened.add_partner("ngo", public_key=public_key_to_text(NGO.public_key), endpoint=None)
    opened.add_partner("platform", public_key=public_key_to_text(PLATFORM.public_key), endpoint=None)
    yield opened
    opened.close()


def relay(
    node: AccordNode, writer: FeedWriter, seed: int, tlp: Tlp, *, to: frozenset[str] = frozenset()
) -> None:
    envelope = writer.entry(
        [indicator(writer.origin, md5_signal(seed), tlp=tlp)],
        distribution=Distribution(tlp=tlp, recipients=frozenset(to)),  # type: ignore[arg-type]
    )
    node.ingestor.ingest(envelope, pinned=node.store.pinned_keys(), via="ngo")


def visible(node: AccordNode, viewer: Viewer) -> set[str]:
    catalogue = node.bridges.catalogue
    [everything] = [c for c in catalogue.collections(viewer) if c.id == ALL_COLLECTION]
    page = catalogue.page(viewer, everything, ObjectQuery(types=("indicator",)), cursor=None, limit=1000)
    return {r.object.split("'")[-2] for r in page.rows}


def test_relayed_entries_follow_the_relay_rule_for_partner_accounts(node: AccordNode) -> None:
    # Restricted bodies are sealed to the hub too (it is a recipient), so it can read them.
    writer = FeedWriter(NGO, name="ngo", readers=[node.encryption.current.public])
    to = frozenset({PLATFORM.key_id, node.key_id})
    relay(node, writer, 1, Tlp.GREEN)
    relay(node, writer, 2, Tlp.AMBER, to=to)
    relay(node, writer, 3, Tlp.AMBER_STRICT, to=to)  # origin-only: a relay never serves it
    platform = Viewer(name="p", max_tlp=Tlp.RED, partner_key=PLATFORM.key_id)
    assert visible(node, platform) == {md5_signal(1).value, md5_signal(2).value}
    analyst = Viewer(name="a", max_tlp=Tlp.AMBER_STRICT)  # a local analyst sees what the node holds
    assert visible(node, analyst) == {md5_signal(n).value for n in (1, 2, 3)}


def test_a_relay_that_is_no_recipient_serves_no_restricted_object(node: AccordNode) -> None:
    # Format 2: the hub accepts every header and holds restricted bodies as ciphertext only.
    writer = FeedWriter(NGO, name="ngo", readers=[encryption_keys(22).public])  # the platform's key
    to = frozenset({PLATFORM.key_id})
    relay(node, writer, 1, Tlp.GREEN)
    relay(node, writer, 2, Tlp.AMBER, to=to)
    relay(node, writer, 3, Tlp.RED, to=to)
    assert node.store.head(NGO.key_id).seq == 3  # type: ignore[union-attr]
    for viewer in (
        Viewer(name="p", max_tlp=Tlp.RED, partner_key=PLATFORM.key_id),
        Viewer(name="a", max_tlp=Tlp.RED),
    ):
        assert visible(node, viewer) == {md5_signal(1).value}


def test_collections_by_origin_name_the_origin(node: AccordNode) -> None:
    relay(node, FeedWriter(NGO, name="ngo"), 1, Tlp.GREEN)
    titles = {c.title for c in node.bridges.catalogue.collections(Viewer(name="a", max_tlp=Tlp.GREEN))}
    assert "Origin: ngo" in titles and "Category: csam" in titles


def test_cursors_are_opaque_and_checked() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    for forged in ("", "12", "abc", encode_cursor(1)[:-2] + "zz", "YWNjb3JkLXRheGlpLTE6LTE"):
        with pytest.raises(InvalidInput):
            decode_cursor(forged)


def test_the_catalogue_holds_each_object_version_once(node: AccordNode) -> None:
    writer = FeedWriter(NGO, name="ngo")
    for seed in range(3):
        relay(node, writer, seed, Tlp.GREEN)
    catalogue = node.bridges.catalogue
    catalogue.refresh()
    assert catalogue.refresh() == 0  # nothing new: nothing written
    rows = node.store.reader.execute("SELECT object_id, version, COUNT(*) FROM taxii_objects GROUP BY 1, 2")
    assert all(count == 1 for _, _, count in rows)
    kinds = dict(
        node.store.reader.execute("SELECT type, COUNT(*) FROM taxii_objects GROUP BY type").fetchall()
    )
    assert kinds["indicator"] == 3 and kinds["identity"] == 2  # the origin and the Accord project, once each


def descriptive(node: AccordNode, kind: str) -> dict[str, list[dict[str, Any]]]:
    """Every catalogued version of each object of ``kind``, as a TAXII reader would get them."""
    catalogue = node.bridges.catalogue
    viewer = Viewer(name="a", max_tlp=Tlp.RED)
    [everything] = [c for c in catalogue.collections(viewer) if c.id == ALL_COLLECTION]
    query = ObjectQuery(types=(kind,), versions=("all",))
    found: dict[str, list[dict[str, Any]]] = {}
    for row in catalogue.page(viewer, everything, query, cursor=None, limit=1000).rows:
        found.setdefault(row.object_id, []).append(json.loads(row.object))
    return found


def test_a_partner_cannot_rewrite_other_origins_or_well_known_descriptive_objects(node: AccordNode) -> None:
    ngo = FeedWriter(NGO, name="ngo")
    relay(node, ngo, 1, Tlp.GREEN)
    node.bridges.catalogue.refresh()  # the NGO's objects (and the TLP:GREEN definition) come first
    hostile = FeedWriter(PLATFORM, name="platform")
    bundle = build_bundle(
        [indicator(hostile.origin, md5_signal(2), tlp=Tlp.GREEN)], origin_names={hostile.origin: "platform"}
    )
    later = "2030-01-01T00:00:00.000Z"
    own_statement = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{uuid.UUID(int=7, version=4)}",
        "created": "2026-01-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": "Copyright platform"},
    }
    bundle["objects"] += [
        {  # the NGO's identity id, renamed
            "type": "identity",
            "spec_version": "2.1",
            "id": origin_identity_id(NGO.key_id),
            "created": "2025-01-01T00:00:00.000Z",
            "modified": later,
            "name": "Fake NGO",
            "identity_class": "organization",
        },
        {  # TLP:RED's id, renamed CLEAR
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
            "created": "2022-10-01T00:00:00.000Z",
            "name": "TLP:CLEAR",
            "extensions": {
                "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                    "extension_type": "property-extension",
                    "tlp_2_0": "clear",
                }
            },
        },
        extension_definition() | {"modified": later, "description": "anything goes"},
        own_statement,  # a marking of its own: kept
        tlp_marking_definition(Tlp.GREEN),  # the official definition is everybody's: no offence
    ]
    envelope = hostile.entry([], bundle=bundle)
    node.ingestor.ingest(envelope, pinned=node.store.pinned_keys(), via="platform")

    identities = descriptive(node, "identity")
    assert [i["name"] for i in identities[origin_identity_id(NGO.key_id)]] == ["ngo"]  # the real one stays
    markings = descriptive(node, "marking-definition")
    assert "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1" not in markings
    assert markings[own_statement["id"]] == [own_statement]
    assert descriptive(node, "extension-definition")[EXTENSION_DEFINITION_ID] == [extension_definition()]
    assert visible(node, Viewer(name="a", max_tlp=Tlp.GREEN)) == {md5_signal(1).value, md5_signal(2).value}
    dropped = node.store.reader.execute(
        "SELECT origin, message FROM rejections WHERE reason = ?", (DESCRIPTIVE_DROPPED,)
    ).fetchall()
    assert {origin for origin, _ in dropped} == {PLATFORM.key_id} and len(dropped) == 3
    messages = " | ".join(message for _, message in dropped)
    assert origin_identity_id(NGO.key_id) in messages and "only its own identity" in messages
    assert "e828b379" in messages and EXTENSION_DEFINITION_ID in messages

    # The NGO cannot take over the platform's own marking either (another origin's id).
    ngo_bundle = build_bundle(
        [indicator(ngo.origin, md5_signal(3), tlp=Tlp.GREEN)], origin_names={ngo.origin: "ngo"}
    )
    ngo_bundle["objects"].append(own_statement | {"definition": {"statement": "Copyright ngo"}})
    node.ingestor.ingest(ngo.entry([], bundle=ngo_bundle), pinned=node.store.pinned_keys(), via="ngo")
    assert descriptive(node, "marking-definition")[own_statement["id"]] == [own_statement]
    assert node.store.rejection_counts()[DESCRIPTIVE_DROPPED] == 4


def test_the_migration_recatalogues_descriptive_objects_through_the_ownership_rule(tmp_path: Path) -> None:
    init_home(tmp_path / "home", name="Hub")
    node = AccordNode.open(tmp_path / "home")
    node.add_partner("ngo", public_key=public_key_to_text(NGO.public_key), endpoint=None)
    relay(node, FeedWriter(NGO, name="ngo"), 1, Tlp.GREEN)
    node.bridges.catalogue.refresh()
    node.close()
    # A catalogue filled before the rule: the NGO's identity row was rewritten by someone else.
    db = Database(str(tmp_path / "home" / "accord.db"))
    db.execute(
        "UPDATE taxii_objects SET object = json_set(object, '$.name', 'Fake NGO') WHERE object_id = ?",
        [origin_identity_id(NGO.key_id)],
    )
    m015_descriptive_recatalogue(db)
    db.conn.commit()
    db.conn.close()

    node = AccordNode.open(tmp_path / "home")
    try:
        identities = descriptive(node, "identity")
        assert [i["name"] for i in identities[origin_identity_id(NGO.key_id)]] == ["ngo"]
        assert len(descriptive(node, "indicator")) == 1  # indicator rows kept, not duplicated
    finally:
        node.close()
