"""A quarantined origin is served to no one: not over Pull, not in Heads, not over TAXII, not in
exports (issue 12). Real nodes on real gRPC servers, a real TAXII server on loopback.

The hub holds an entry of an origin that then equivocates (a second, different, validly signed
seq 1 reaches it): from that commit on, nothing of that origin leaves the hub, while its other
origins keep flowing.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from node.errors import Equivocation
from node.feed import public_key_to_text
from node.model import KeyId, Signal
from node.rpc.auth import sign_request
from node.rpc.federation import HEADS_METHOD
from node.rpc.pb import federation_pb2, federation_pb2_grpc
from node.sync.ingest import Ingestor
from tests.support.feeds import FeedWriter, identity, indicator, md5_signal
from tests.support.live_nodes import LiveNode, live_nodes

TAXII_MEDIA = "application/taxii+json;version=2.1"


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[tuple[dict[str, LiveNode], FeedWriter]]:
    """hub → spoke; both pin ``liar``, an origin the hub received directly (no endpoint)."""
    liar = FeedWriter(identity(40), name="liar")
    with live_nodes(tmp_path, "hub", "spoke", serving=("hub",)) as nodes:
        hub, spoke = nodes["hub"], nodes["spoke"]
        hub.pin(spoke, pull=False)
        spoke.pin(hub)
        for node in (hub, spoke):
            node.node.add_partner(
                "liar", public_key=public_key_to_text(liar.signer.public_key), endpoint=None
            )
        yield nodes, liar


def _liar_entry_at_hub(hub: LiveNode, liar: FeedWriter) -> tuple[Signal, Any]:
    """The liar's seq 1 at the hub, and the fork of it (not yet delivered)."""
    original = liar.entry([indicator(liar.origin, md5_signal(1))], advance=False)
    fork = liar.entry([indicator(liar.origin, md5_signal(2))])
    Ingestor(store=hub.node.store, limits=hub.node.config.limits).ingest(
        original, pinned=hub.node.store.pinned_keys(), via="liar"
    )
    return md5_signal(1), fork


def _equivocate(hub: LiveNode, fork: Any) -> None:
    with pytest.raises(Equivocation):
        Ingestor(store=hub.node.store, limits=hub.node.config.limits).ingest(
            fork, pinned=hub.node.store.pinned_keys(), via="other-relay"
        )
    assert hub.node.store.quarantined_origins() == {FeedWriter(identity(40)).origin}


def _heads_view(server: LiveNode, caller: LiveNode) -> tuple[dict[str, int], set[str]]:
    """What ``server``'s Heads call shows ``caller``: held seqs and the signers of signed heads."""
    with grpc.insecure_channel(server.endpoint) as channel:
        stub = federation_pb2_grpc.FederationStub(channel)
        request = federation_pb2.HeadsRequest()
        metadata = sign_request(caller.node.identity, HEADS_METHOD, request)
        answer = stub.Heads(request, metadata=metadata, timeout=10)
    held = {c.origin: c.seq for c in answer.held}
    signers = {s.keyid for head in answer.heads for s in head.signatures}
    return held, signers


def test_a_quarantined_origin_is_neither_relayed_over_pull_nor_shown_in_heads(
    federation: tuple[dict[str, LiveNode], FeedWriter],
) -> None:
    nodes, liar = federation
    hub, spoke = nodes["hub"], nodes["spoke"]
    hub.publish(md5_signal(7))
    signal, fork = _liar_entry_at_hub(hub, liar)
    held, _ = _heads_view(hub, spoke)
    assert held == {hub.key_id: 1, KeyId(liar.origin): 1}  # before the equivocation: both shown

    _equivocate(hub, fork)
    held, signers = _heads_view(hub, spoke)
    assert held == {hub.key_id: 1}  # the quarantined origin's head is shown to no one
    assert liar.origin not in signers
    [report] = spoke.node.sync()
    assert report.ok and report.accepted == 1  # the hub's own entry, not the liar's
    assert spoke.node.store.head(KeyId(liar.origin)) is None
    assert not spoke.matches(signal)
    assert spoke.matches(md5_signal(7))
    assert spoke.node.store.rejection_counts() == {}  # nothing was served to be refused


def _taxii_get(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": TAXII_MEDIA})
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def _values(objects: list[dict[str, Any]]) -> set[str]:
    return {o["pattern"].split("'")[-2] for o in objects if o["type"] == "indicator"}


def test_a_quarantined_origin_is_served_over_taxii_to_no_one(
    federation: tuple[dict[str, LiveNode], FeedWriter],
) -> None:
    nodes, liar = federation
    hub = nodes["hub"]
    hub.publish(md5_signal(7))
    signal, fork = _liar_entry_at_hub(hub, liar)
    token = hub.node.bridges.add_analyst("chief", max_tlp=None, partner=None).token
    server = hub.node.bridges.taxii_server("127.0.0.1:0")
    server.start()
    try:
        root = f"http://127.0.0.1:{server.port}/accord/"

        def visible() -> tuple[int, set[str]]:
            collections = _taxii_get(f"{root}collections/", token)["collections"]
            objects = _taxii_get(f"{root}collections/all/objects/", token).get("objects", [])
            return len(collections), _values(objects)

        before_collections, before = visible()
        assert before == {md5_signal(7).value, signal.value}
        _equivocate(hub, fork)
        after_collections, after = visible()
        assert after == {md5_signal(7).value}
        assert after_collections == before_collections - 1  # the liar's origin collection is gone
    finally:
        server.stop()


def test_a_quarantined_origin_is_left_out_of_every_export(
    federation: tuple[dict[str, LiveNode], FeedWriter], tmp_path: Path
) -> None:
    nodes, liar = federation
    hub = nodes["hub"]
    hub.publish(md5_signal(7))
    signal, fork = _liar_entry_at_hub(hub, liar)
    _equivocate(hub, fork)

    assert hub.node.export_stix(tmp_path / "bundle.json", include_red=True) == 1
    bundle = json.loads((tmp_path / "bundle.json").read_text(encoding="utf-8"))
    assert _values(bundle["objects"]) == {md5_signal(7).value}
    assert hub.node.export_match_list(tmp_path / "bank.csv", fmt="hma-csv", include_red=True) == 1
    assert signal.value not in (tmp_path / "bank.csv").read_text(encoding="utf-8")
