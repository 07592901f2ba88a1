"""TLS on the Federation port with pinned certificates: real servers on loopback, real handshakes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.app.serve import _start
from node.errors import ConfigError, PeerCertificateMismatch, PeerError, PlaintextRefused
from node.feed import TlsCredentials, public_key_to_text
from node.model import ContentType, Distribution, Seq, Tlp, cert_fingerprint_of, parse_cert_fingerprint
from node.rpc.client import PeerClient
from node.rpc.server import Servers
from node.rpc.tls import fetch_peer_certificate
from node.sync.publish import Contribution
from tests.support.feeds import identity, pdq_signal
from tests.support.processes import free_port

CALLER = identity(7)


def _open(tmp_path: Path, *, tls: str) -> AccordNode:
    init_home(tmp_path / "home", name="Example NGO")
    node = AccordNode.open(tmp_path / "home")
    network = replace(node.config.network, local_listen="127.0.0.1:0", tls=tls)
    node.config = replace(node.config, network=network)
    node.add_partner("platform", public_key=public_key_to_text(CALLER.public_key), endpoint=None)
    items = [Contribution(pdq_signal(j), ContentType.IMAGE, 100) for j in range(5)]
    node.publisher.contribute(items, category="csam", distribution=Distribution(tlp=Tlp.GREEN))
    return node


@pytest.fixture
def tls_node(tmp_path: Path) -> Iterator[AccordNode]:
    node = _open(tmp_path, tls="always")
    yield node
    node.close()


@pytest.fixture
def tls_servers(tls_node: AccordNode) -> Iterator[Servers]:
    running = _start(tls_node, "127.0.0.1:0")
    yield running
    running.stop(0)


@pytest.fixture
def plain_servers(tmp_path: Path) -> Iterator[tuple[AccordNode, Servers]]:
    node = _open(tmp_path, tls="auto")
    running = _start(node, "127.0.0.1:0")
    yield node, running
    running.stop(0)
    node.close()


def client(port: int, **kwargs: object) -> PeerClient:
    return PeerClient(f"127.0.0.1:{port}", identity=CALLER, timeout=5, max_message_bytes=1 << 22, **kwargs)  # type: ignore[arg-type]


def test_init_creates_a_p256_key_0600_and_a_certificate(tls_node: AccordNode) -> None:
    home = tls_node.home
    assert home.tls_key_path.stat().st_mode & 0o777 == 0o600
    loaded = TlsCredentials.load(home.tls_key_path, home.tls_cert_path)
    assert loaded.fingerprint == tls_node.tls.fingerprint
    assert tls_node.identity_card()["tls_fingerprint"] == loaded.fingerprint


def test_a_tls_key_readable_by_others_is_refused(tls_node: AccordNode) -> None:
    tls_node.home.tls_key_path.chmod(0o644)
    with pytest.raises(ConfigError, match="must be 0600"):
        TlsCredentials.load(tls_node.home.tls_key_path, tls_node.home.tls_cert_path)


def test_the_server_presents_the_certificate_whose_fingerprint_identity_prints(
    tls_node: AccordNode, tls_servers: Servers
) -> None:
    der = fetch_peer_certificate(f"127.0.0.1:{tls_servers.federation_port}", timeout=5)
    assert cert_fingerprint_of(der) == tls_node.tls.fingerprint


def test_a_pinned_client_pulls_over_tls(tls_node: AccordNode, tls_servers: Servers) -> None:
    with client(tls_servers.federation_port, pin=tls_node.tls.fingerprint, plaintext_allowed=False) as peer:
        assert len(list(peer.pull({tls_node.key_id: Seq(0)}))) == 1


def test_a_fingerprint_mismatch_refuses_to_connect(tls_node: AccordNode, tls_servers: Servers) -> None:
    other = TlsCredentials.generate(organisation="impostor").fingerprint
    with (
        client(tls_servers.federation_port, pin=other) as peer,
        pytest.raises(PeerCertificateMismatch) as caught,
    ):
        list(peer.pull({tls_node.key_id: Seq(0)}))
    assert "not the pinned" in str(caught.value) and caught.value.exit_code == 4


def test_a_plaintext_client_cannot_talk_to_a_tls_server(tls_node: AccordNode, tls_servers: Servers) -> None:
    with client(tls_servers.federation_port) as peer, pytest.raises(PeerError):
        list(peer.pull({tls_node.key_id: Seq(0)}))


def test_a_peer_without_tls_is_refused_when_a_certificate_is_pinned(
    plain_servers: tuple[AccordNode, Servers],
) -> None:
    node, servers = plain_servers
    pin = node.tls.fingerprint  # the right certificate, but the peer does not speak TLS at all
    with client(servers.federation_port, pin=pin) as peer, pytest.raises(PeerError, match="TLS handshake"):
        list(peer.pull({node.key_id: Seq(0)}))


def test_plaintext_is_refused_when_not_allowed(plain_servers: tuple[AccordNode, Servers]) -> None:
    node, servers = plain_servers
    with client(servers.federation_port, plaintext_allowed=False) as peer, pytest.raises(PlaintextRefused):
        list(peer.pull({node.key_id: Seq(0)}))


def test_loopback_plaintext_still_works_by_default(plain_servers: tuple[AccordNode, Servers]) -> None:
    node, servers = plain_servers
    assert node.serves_tls("127.0.0.1:0") is None
    with client(servers.federation_port) as peer:
        assert len(list(peer.pull({node.key_id: Seq(0)}))) == 1


def test_non_loopback_addresses_serve_tls_unless_insecure_plaintext(
    plain_servers: tuple[AccordNode, Servers],
) -> None:
    node, _ = plain_servers
    assert node.serves_tls("0.0.0.0:7700") == node.tls
    assert not node.plaintext_allowed("192.0.2.10:7700")
    assert node.plaintext_allowed("127.0.0.1:7700")
    network = node.config.network
    node.config = replace(node.config, network=replace(network, insecure_plaintext=True))
    assert node.serves_tls("0.0.0.0:7700") is None
    assert node.plaintext_allowed("192.0.2.10:7700")


def test_a_non_loopback_listen_address_serves_tls_by_default(
    plain_servers: tuple[AccordNode, Servers],
) -> None:
    node, _ = plain_servers  # network.tls = auto: loopback is plaintext, every other address TLS
    running = _start(node, "0.0.0.0:0")
    try:
        der = fetch_peer_certificate(f"127.0.0.1:{running.federation_port}", timeout=5)
        assert cert_fingerprint_of(der) == node.tls.fingerprint
    finally:
        running.stop(0)


def test_rotation_changes_the_certificate_served_after_restart(tls_node: AccordNode) -> None:
    before = tls_node.tls.fingerprint
    after = tls_node.rotate_tls()
    assert after != before and tls_node.home.tls_key_path.stat().st_mode & 0o777 == 0o600
    running = _start(tls_node, "127.0.0.1:0")
    try:
        port = running.federation_port
        assert cert_fingerprint_of(fetch_peer_certificate(f"127.0.0.1:{port}", timeout=5)) == after
        with client(port, pin=before) as peer, pytest.raises(PeerCertificateMismatch):
            list(peer.pull({tls_node.key_id: Seq(0)}))
    finally:
        running.stop(0)


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "AB" * 32,
        "SHA256 Fingerprint=" + ":".join(["ab"] * 32),
        "ab" * 32,
    ],
)
def test_fingerprints_are_accepted_in_the_forms_operators_paste(text: str) -> None:
    assert parse_cert_fingerprint(text) == "sha256:" + "ab" * 32


@pytest.mark.parametrize("text", ["", "sha256:abc", "md5:" + "ab" * 16, "sha256:" + "zz" * 32])
def test_a_malformed_fingerprint_is_refused(text: str) -> None:
    with pytest.raises(Exception, match="certificate fingerprint is"):
        parse_cert_fingerprint(text)


def test_a_client_refuses_plaintext_off_loopback_by_default() -> None:
    # 192.0.2.0/24 is TEST-NET-1: the refusal comes before any connection is attempted.
    remote = PeerClient("192.0.2.1:7700", identity=CALLER, timeout=5, max_message_bytes=1 << 20)
    with remote, pytest.raises(PlaintextRefused, match="without TLS"):
        list(remote.pull({CALLER.key_id: Seq(0)}))


def _closed_port() -> int:
    """A loopback port nothing listens on (from the test pool, outside the ephemeral range)."""
    return free_port()


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "plaintext"])
def test_a_partner_that_is_down_is_reported_as_not_listening(tls_node: AccordNode, pinned: bool) -> None:
    port = _closed_port()
    pin = {"pin": tls_node.tls.fingerprint} if pinned else {}
    with client(port, **pin) as peer, pytest.raises(PeerError) as caught:
        list(peer.pull({tls_node.key_id: Seq(0)}))
    assert f"nothing is listening at 127.0.0.1:{port}" in str(caught.value)
    assert "TLS handshake" not in str(caught.value) and "plaintext" not in str(caught.value)
