"""The TAXII catalogue without HTTP: relayed entries, the egress rule per reader, cursors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.errors import InvalidInput
from node.feed import public_key_to_text
from node.model import Distribution, Tlp
from node.model.viewers import Viewer
from node.store.bridges import ObjectQuery
from node.sync.catalogue import ALL_COLLECTION, decode_cursor, encode_cursor
from tests.support.feeds import FeedWriter, identity, indicator, md5_signal

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
    writer = FeedWriter(NGO, name="ngo")
    to = frozenset({PLATFORM.key_id})
    relay(node, writer, 1, Tlp.GREEN)
    relay(node, writer, 2, Tlp.AMBER, to=to)
    relay(node, writer, 3, Tlp.AMBER_STRICT, to=to)  # origin-only: a relay never serves it
    platform = Viewer(name="p", max_tlp=Tlp.RED, partner_key=PLATFORM.key_id)
    assert visible(node, platform) == {md5_signal(1).value, md5_signal(2).value}
    analyst = Viewer(name="a", max_tlp=Tlp.AMBER_STRICT)  # a local analyst sees what the node holds
    assert visible(node, analyst) == {md5_signal(n).value for n in (1, 2, 3)}


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
