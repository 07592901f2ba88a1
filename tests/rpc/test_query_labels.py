"""The Local API's Query filters by label (issue 15) like ``accord query --label`` and HTTP
``?label=``, on a real server (loopback): a bad label is INVALID_ARGUMENT, and a CLI
near-duplicate query answered by the running node keeps its labels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.cli.main import cli
from node.errors import PeerError
from node.model import ContentType, Distribution, Signal, SignalType, Tlp
from node.model.provenance import MAX_LABELS, IndicatorNote
from node.model.queries import IndicatorQuery, SortKey
from node.rpc.client import LocalClient
from node.rpc.pb import local_pb2
from node.rpc.server import Servers
from node.sync import lookup as lookup_module
from node.sync.publish import Contribution
from tests.support.feeds import md5_signal, pdq_signal
from tests.support.processes import free_port

ELECTION = "election:us-2026"
ENTITY = "entity:example-campaign"
BASE = pdq_signal(1)


def near_base(bits: int) -> Signal:
    """A PDQ ``bits`` bits away from BASE (its lowest bits flipped)."""
    return Signal(SignalType.PDQ, f"{int(BASE.value, 16) ^ ((1 << bits) - 1):064x}")


def note(*labels: str) -> IndicatorNote:
    return IndicatorNote(labels=tuple(sorted(labels)))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    home = tmp_path / "home"
    init_home(home, name="Example NGO")
    config = home / "accord.toml"  # the CLI finds the running node at this address
    config.write_text(
        config.read_text().replace("127.0.0.1:7701", f"127.0.0.1:{free_port()}", 1), encoding="utf-8"
    )
    opened = AccordNode.open(home)
    items = [
        # The two nearest rows carry no label; the labelled one lies further away.
        Contribution(near_base(1), ContentType.IMAGE, 100),
        Contribution(near_base(2), ContentType.IMAGE, 100),
        Contribution(near_base(5), ContentType.IMAGE, 100, note=note(ELECTION)),
        Contribution(md5_signal(1), ContentType.FILE, note=note(ELECTION, ENTITY)),
        Contribution(md5_signal(2), ContentType.FILE, note=note(ENTITY)),
        Contribution(md5_signal(3), ContentType.FILE),
    ]
    opened.publisher.contribute(items, category="election-deepfake", distribution=Distribution(Tlp.GREEN))
    opened.load_lists()  # the server answers near-duplicate searches from its index
    yield opened
    opened.close()


@pytest.fixture
def running(node: AccordNode) -> Iterator[Servers]:
    servers: Servers = _start(node, "127.0.0.1:0")
    yield servers
    servers.stop(0)


@pytest.fixture
def client(running: Servers) -> Iterator[LocalClient]:
    local = LocalClient(f"127.0.0.1:{running.local_port}", timeout=10)
    yield local
    local.close()


def signals(response: local_pb2.QueryResponse) -> set[str]:
    return {row.signal for row in response.rows}


def test_query_keeps_only_rows_carrying_every_label(client: LocalClient) -> None:
    assert len(client.query(local_pb2.QueryRequest()).rows) == 6  # no label: every row
    election = client.query(local_pb2.QueryRequest(labels=[ELECTION]))
    assert signals(election) == {str(near_base(5)), str(md5_signal(1))}
    both = client.query(local_pb2.QueryRequest(labels=[ELECTION, ENTITY]))
    assert signals(both) == {str(md5_signal(1))}  # every label must be on the indicator
    # Labels are read in their normal form, as --label and ?label= read them.
    assert signals(client.query(local_pb2.QueryRequest(labels=[" Entity:Example-Campaign "]))) == {
        str(md5_signal(1)),
        str(md5_signal(2)),
    }
    assert client.query(local_pb2.QueryRequest(labels=["x-unused"])).rows == []


def test_a_near_query_filters_labels_in_the_index_path(node: AccordNode, client: LocalClient) -> None:
    assert node.lists.ready
    request = local_pb2.QueryRequest(
        near=str(BASE), distance=31, has_distance=True, labels=[ELECTION], sort="distance"
    )
    response = client.query(request)
    assert [(r.signal, r.distance) for r in response.rows] == [(str(near_base(5)), 5)]


@pytest.mark.parametrize("label", ["Election US", "election:", "entity:a/b", "x-" + "a" * 80, ""])
def test_a_bad_label_is_invalid_argument_naming_the_rule(client: LocalClient, label: str) -> None:
    with pytest.raises(PeerError, match="INVALID_ARGUMENT") as refused:
        client.query(local_pb2.QueryRequest(labels=[ELECTION, label]))
    assert "a label is entity:, behaviour:, jurisdiction: or election:" in str(refused.value)


def test_more_labels_than_an_indicator_carries_is_invalid_argument(client: LocalClient) -> None:
    too_many = [f"x-label-{n}" for n in range(MAX_LABELS + 1)]
    with pytest.raises(PeerError, match=f"INVALID_ARGUMENT: a query asks for at most {MAX_LABELS} labels"):
        client.query(local_pb2.QueryRequest(labels=too_many))
    assert client.query(local_pb2.QueryRequest(labels=too_many[:MAX_LABELS])).rows == []


def test_a_cli_near_query_answered_by_the_running_node_keeps_its_labels(
    node: AccordNode, running: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[int] = []
    real = lookup_module.pdq_candidates
    monkeypatch.setattr(lookup_module, "pdq_candidates", lambda *a: scans.append(1) or real(*a))
    query = IndicatorQuery(
        near=BASE, distance=31, sort=SortKey.DISTANCE, limit=2, labels=frozenset({ELECTION})
    )
    cli_side = AccordNode.open(node.home.root)  # what `accord query --near` opens
    try:
        served = cli_side.query(query, prefer_running_node=True)
        assert scans == [] and not cli_side.lists.ready  # the running node's index answered
        # The two unlabelled rows are nearer: a server ignoring the label would fill the limit.
        assert [(r.indicator.signal, r.distance) for r in served.rows] == [(near_base(5), 5)]
    finally:
        cli_side.close()

    args = ["query", "--home", str(node.home.root), "--near", str(BASE), "--distance", "31"]
    args += ["--sort", "distance", "--limit", "2", "--label", ELECTION, "--json"]
    result = CliRunner().invoke(cli, args, prog_name="accord", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [(r["value"], r["distance"], r["labels"]) for r in rows] == [(near_base(5).value, 5, [ELECTION])]
    assert scans == []  # the command, too, asked the running node

    offline = CliRunner().invoke(cli, [*args, "--offline"], prog_name="accord", catch_exceptions=False)
    assert scans == [1] and json.loads(offline.stdout)["rows"] == rows  # the scan answers alike
