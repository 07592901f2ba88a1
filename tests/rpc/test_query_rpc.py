"""The Local API's Query on a real server (loopback, port 0): same engine, never TLP:RED."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.errors import PeerError
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import ContentType, Distribution, Tlp
from node.model.queries import IndicatorQuery, SortKey
from node.rpc.client import LocalClient
from node.rpc.pb import local_pb2
from node.rpc.server import Servers
from node.sync import lookup as lookup_module
from node.sync.publish import Contribution
from tests.support.feeds import encryption_keys, identity, md5_signal, pdq_signal

PARTNER = identity(7)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example NGO")
    opened = AccordNode.open(tmp_path / "home")
    opened.config = replace(opened.config, network=replace(opened.config.network, local_listen="127.0.0.1:0"))
    opened.add_partner(
        "platform",
        public_key=public_key_to_text(PARTNER.public_key),
        endpoint=None,
        encryption_key=encryption_key_to_text(encryption_keys(7).public),  # the RED body is sealed to it
    )
    green = [Contribution(pdq_signal(i), ContentType.IMAGE, 100) for i in range(5)]
    opened.publisher.contribute(green, category="csam", distribution=Distribution(Tlp.GREEN))
    red = Distribution(Tlp.RED, recipients=frozenset({PARTNER.key_id}))
    opened.publisher.contribute(
        [Contribution(md5_signal(1), ContentType.FILE)], category="ncii", distribution=red
    )
    yield opened
    opened.close()


@pytest.fixture
def client(node: AccordNode) -> Iterator[LocalClient]:
    running: Servers = _start(node, "127.0.0.1:0")
    local = LocalClient(f"127.0.0.1:{running.local_port}", timeout=10)
    yield local
    local.close()
    running.stop(0)


def test_query_answers_with_the_same_rows_as_the_engine(node: AccordNode, client: LocalClient) -> None:
    response = client.query(local_pb2.QueryRequest(categories=["csam"], limit=3))
    assert len(response.rows) == 3 and response.truncated
    assert {r.signal.split(":")[0] for r in response.rows} == {"pdq"}
    exact = client.query(local_pb2.QueryRequest(signal=str(pdq_signal(2))))
    assert [r.signal for r in exact.rows] == [str(pdq_signal(2))]
    near = client.query(local_pb2.QueryRequest(near=str(pdq_signal(3)), distance=0, has_distance=True))
    assert [(r.signal, r.has_distance, r.distance) for r in near.rows] == [(str(pdq_signal(3)), True, 0)]


def test_query_never_returns_red(client: LocalClient) -> None:
    assert client.query(local_pb2.QueryRequest(signal=str(md5_signal(1)))).rows == []
    assert all(r.tlp != "red" for r in client.query(local_pb2.QueryRequest(limit=1000)).rows)
    with pytest.raises(PeerError, match="INVALID_ARGUMENT"):
        client.query(local_pb2.QueryRequest(tlps=["red"]))


@pytest.mark.parametrize(
    "request_",
    [
        local_pb2.QueryRequest(signal="md5:nothex"),
        local_pb2.QueryRequest(origins=["not-a-key-id"]),
        local_pb2.QueryRequest(statuses=["gone"]),
        local_pb2.QueryRequest(since="tomorrow"),
        local_pb2.QueryRequest(near=str(md5_signal(1))),
    ],
)
def test_bad_queries_are_invalid_argument(client: LocalClient, request_: local_pb2.QueryRequest) -> None:
    with pytest.raises(PeerError, match="INVALID_ARGUMENT"):
        client.query(request_)


def test_matches_through_the_local_api_are_counted_for_provenance(
    node: AccordNode, client: LocalClient
) -> None:
    node.load_lists()
    assert client.match([str(pdq_signal(2)), str(md5_signal(99))]).results[0].matches
    [item] = node.show(str(pdq_signal(2)), include_red=False)
    assert item.matches is not None and item.matches.count == 1
    client.match([str(md5_signal(99))])  # no match: nothing is written
    assert node.show(str(pdq_signal(2)), include_red=False)[0].matches.count == 1  # type: ignore[union-attr]


def test_a_near_query_asks_the_running_node_and_scans_without_one(
    node: AccordNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node.load_lists()
    running: Servers = _start(node, "127.0.0.1:0")
    near = IndicatorQuery(near=pdq_signal(2), distance=64, sort=SortKey.DISTANCE)
    # What `accord query --near` opens: the same home, lists not loaded, the serving port.
    cli = AccordNode.open(tmp_path / "home")
    serving = f"127.0.0.1:{running.local_port}"
    cli.config = replace(cli.config, network=replace(cli.config.network, local_listen=serving))
    try:
        scanned = cli.query(near)  # not asked to prefer the running node: the scan
        scans: list[int] = []
        real = lookup_module.pdq_candidates
        monkeypatch.setattr(lookup_module, "pdq_candidates", lambda *a: scans.append(1) or real(*a))
        served = cli.query(near, prefer_running_node=True)
        assert scans == [] and not cli.lists.ready  # the running node's index answered
        assert [(r.indicator.id, r.distance) for r in served.rows] == [
            (r.indicator.id, r.distance) for r in scanned.rows
        ]
        assert served.rows[0].distance == 0 and served.rows[0].indicator.signal == pdq_signal(2)
        running.stop(0)
        fallback = cli.query(near, prefer_running_node=True)  # nothing serves now: the scan
        assert scans == [1] and fallback == scanned
    finally:
        cli.close()
        running.stop(0)
