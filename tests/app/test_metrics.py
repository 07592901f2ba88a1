"""Prometheus metrics scraped over real HTTP from a node with real traffic."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from node import errors
from node.app import AccordNode, init_home
from node.app.metrics import NodeMetrics
from node.app.serve import _start
from node.feed import public_key_to_text
from node.model import Tlp
from node.rpc.client import LocalClient
from tests.support.feeds import FeedWriter, flip_byte, identity, indicator, pdq_signal, with_payload

PARTNER = FeedWriter(identity(4), name="lab")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example NGO")
    opened = AccordNode.open(tmp_path / "home")
    opened.config = replace(opened.config, network=replace(opened.config.network, local_listen="127.0.0.1:0"))
    opened.add_partner("lab", public_key=public_key_to_text(PARTNER.signer.public_key), endpoint=None)
    yield opened
    opened.close()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def sample(text: str, prefix: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(prefix + " ")]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_report_refusals_heads_indicators_and_match_latency(node: AccordNode) -> None:
    secret = pdq_signal(42)
    node.contribute(signals=[str(secret)], category="ncii", tlp=Tlp.GREEN)
    good = PARTNER.entry([indicator(PARTNER.origin, pdq_signal(1))])
    node.ingestor.ingest(good, pinned=node.store.pinned_keys(), via="lab")
    bad = PARTNER.entry([indicator(PARTNER.origin, pdq_signal(2))])
    with pytest.raises(errors.BadSignature):
        node.ingestor.ingest(
            with_payload(bad, flip_byte(bad.header.payload, 3)), pinned=node.store.pinned_keys(), via="lab"
        )
    node.load_lists()

    metrics = NodeMetrics(node)
    servers = _start(node, "127.0.0.1:0", observe=metrics.observe_match)
    stop = metrics.serve("127.0.0.1:0")
    try:
        client = LocalClient(f"127.0.0.1:{servers.local_port}", timeout=5)
        client.match([str(secret), str(pdq_signal(9))])
        client.close()
        text = scrape(metrics.port)
    finally:
        stop()
        servers.stop(0)

    assert sample(text, 'accord_entries_rejected_total{reason="bad_signature"}') == 1
    assert sample(text, 'accord_feed_head_seq{origin="Example NGO"}') == 1
    assert sample(text, 'accord_feed_head_seq{origin="lab"}') == 1
    assert sample(text, 'accord_indicators{category="ncii",origin="Example NGO",signal_type="pdq"}') == 1
    assert sample(text, 'accord_index_size{signal_type="pdq"}') == 2
    assert sample(text, "accord_match_latency_seconds_count") == 1
    assert sample(text, "accord_match_signals_total") == 2
    assert sample(text, "accord_ready") == 1
    assert secret.value not in text and secret.value[:16] not in text  # no hash values in labels


def test_metrics_refuse_a_non_loopback_address(node: AccordNode) -> None:
    with pytest.raises(errors.ConfigError, match="loopback"):
        NodeMetrics(node).serve("0.0.0.0:9700")
