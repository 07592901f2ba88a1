"""TLS for the Federation API with pinned certificates instead of a CA (DESIGN §6).

gRPC's Python API cannot call back into Python to verify a peer certificate, so pinning is
done in two steps: fetch the certificate the peer presents (a plain TLS handshake, nothing
sent), compare its SHA-256 with the pinned fingerprint in constant time, and only then open
the gRPC channel with that exact certificate as its sole trusted root. If the peer (or a man in
the middle) presents another certificate on the second connection, it does not chain to that
root and the handshake fails: a mismatch can never fall through to an unverified channel.
"""

from __future__ import annotations

import socket
import ssl

import grpc

from node.errors import PeerCertificateMismatch, PeerError
from node.feed import TLS_SERVER_NAME, TlsCredentials
from node.model import CertFingerprint, cert_fingerprint_of, fingerprints_match

_ALPN = ["h2"]  # what gRPC speaks; some servers refuse a handshake that offers nothing


def server_credentials(credentials: TlsCredentials) -> grpc.ServerCredentials:
    """Server-side TLS with the node's key and certificate; callers prove identity by signature."""
    return grpc.ssl_server_credentials([(credentials.key_pem, credentials.cert_pem)])


def fetch_peer_certificate(endpoint: str, *, timeout: float) -> bytes:
    """The DER certificate ``endpoint`` presents in a TLS handshake (unverified: pin it next)."""
    host, _, port = endpoint.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # verification is the pin comparison that follows
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(_ALPN)
    raw = _connect(endpoint, host, int(port), timeout=timeout)
    try:
        with raw, context.wrap_socket(raw, server_hostname=TLS_SERVER_NAME) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise PeerError(
            f"{endpoint} did not complete a TLS handshake ({exc}); it may serve plaintext only"
        ) from exc
    if not der:
        raise PeerError(f"{endpoint} presented no TLS certificate")
    return der


def _connect(endpoint: str, host: str, port: int, *, timeout: float) -> socket.socket:
    """A TCP connection to the endpoint. A peer that is down is told apart from one that
    answers but does not speak TLS: the first is an operations problem, the second a setup one."""
    try:
        return socket.create_connection((host.strip("[]"), port), timeout=timeout)
    except ConnectionRefusedError as exc:
        raise PeerError(
            f"nothing is listening at {endpoint} (connection refused): is the partner down?"
        ) from exc
    except TimeoutError as exc:
        raise PeerError(f"{endpoint} did not accept a connection within {timeout:g} s") from exc
    except OSError as exc:
        raise PeerError(f"cannot reach {endpoint}: {exc}") from exc


def pinned_channel_credentials(
    endpoint: str, pinned: CertFingerprint, *, timeout: float
) -> grpc.ChannelCredentials:
    """Channel credentials trusting only the certificate ``endpoint`` presents, if it is the pinned one."""
    der = fetch_peer_certificate(endpoint, timeout=timeout)
    presented = cert_fingerprint_of(der)
    if not fingerprints_match(pinned, presented):
        raise PeerCertificateMismatch(
            f"{endpoint} presented TLS certificate {presented}, not the pinned {pinned}:"
            " refusing to connect (if the partner rotated its certificate, confirm the new"
            " fingerprint out of band and pin it with 'accord partner pin')"
        )
    root = ssl.DER_cert_to_PEM_cert(der).encode("ascii")
    return grpc.ssl_channel_credentials(root_certificates=root)


def pinned_channel_options() -> list[tuple[str, str]]:
    """The name every node certificate carries, checked instead of the endpoint's host name."""
    return [("grpc.ssl_target_name_override", TLS_SERVER_NAME), ("grpc.default_authority", TLS_SERVER_NAME)]
