"""Partners: names, endpoints, and which endpoints are loopback (plaintext allowed)."""

from __future__ import annotations

import pytest

from node.errors import InvalidInput
from node.model import Partner, is_loopback_endpoint, parse_endpoint, parse_partner_name
from tests.model.keys import key


@pytest.mark.parametrize(
    "text", ["127.0.0.1:7700", "localhost:1", "node.example.org:65535", "[::1]:7700", "[2001:db8::5]:443"]
)
def test_parse_endpoint_accepts(text: str) -> None:
    assert parse_endpoint(text) == text


def test_parse_endpoint_strips_whitespace() -> None:
    assert parse_endpoint("  10.0.0.2:7700\n") == "10.0.0.2:7700"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "host",
        "host:",
        ":7700",
        "host:0",
        "host:65536",
        "host:123456",
        "host:-1",
        "host:port",
        "::1:7700",
        "http://host:7700",
        "host:7700/path",
        "ho st:7700",
        "user@host:7700",
    ],
)
def test_parse_endpoint_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match="HOST:PORT"):
        parse_endpoint(text)


@pytest.mark.parametrize(
    "text", ["127.0.0.1:7701", "127.1.2.3:1", "127.255.255.254:9", "localhost:7701", "[::1]:7701"]
)
def test_loopback_endpoints(text: str) -> None:
    assert is_loopback_endpoint(text)


@pytest.mark.parametrize(
    "text",
    [
        "0.0.0.0:7701",
        "10.0.0.1:7701",
        "128.0.0.1:7701",
        "[::]:7701",
        "[2001:db8::1]:7701",
        "node.example.org:7701",
        "localhost.example.org:7701",
    ],
)
def test_non_loopback_endpoints(text: str) -> None:
    assert not is_loopback_endpoint(text)


@pytest.mark.parametrize("text", ["127.attacker.example:7701", "127.0.0.1.nip.io:7701"])
def test_dns_names_that_start_with_127_are_not_loopback(text: str) -> None:
    assert parse_endpoint(text) == text  # the parser lets them through
    assert not is_loopback_endpoint(text)


@pytest.mark.parametrize("text", ["a", "Hotline-One", "ngo_2.eu", "x" * 63])
def test_partner_names(text: str) -> None:
    assert parse_partner_name(text) == text


@pytest.mark.parametrize("text", ["", "-lead", ".hidden", "has space", "x" * 64, "semi;colon", "é"])
def test_bad_partner_names(text: str) -> None:
    with pytest.raises(InvalidInput, match="partner name"):
        parse_partner_name(text)


def test_partner_validates_name_and_endpoint() -> None:
    fields = {"key_id": key("p"), "public_key": bytes(32)}
    assert Partner(name="p", endpoint="127.0.0.1:7700", **fields).endpoint == "127.0.0.1:7700"
    assert Partner(name="p", **fields).endpoint is None
    with pytest.raises(InvalidInput):
        Partner(name="bad name", **fields)
    with pytest.raises(InvalidInput):
        Partner(name="p", endpoint="nowhere", **fields)
