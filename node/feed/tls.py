"""The node's TLS credentials: an ECDSA P-256 key (mode 0600) and a self-signed certificate.

The certificate protects confidentiality only; identity is the Ed25519 key. Partners pin the
certificate's SHA-256 fingerprint, exchanged with the public key, so no CA is involved and the
certificate's names do not matter beyond the fixed :data:`TLS_SERVER_NAME` that clients expect.
P-256 rather than Ed25519 because gRPC's TLS stacks do not accept Ed25519 certificates.
Home of the ``cryptography`` library.
"""

from __future__ import annotations

import datetime
import os
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.errors import ConfigError
from node.model import CertFingerprint, cert_fingerprint_of

TLS_SERVER_NAME = "accord-node.invalid"  # the name in every node certificate; .invalid never resolves
# A pinned self-signed certificate has no CA to revoke it; rotation ('accord tls rotate') is the
# remedy, and a validity of ten years keeps an unattended node from failing on an expiry date.
VALIDITY = datetime.timedelta(days=3650)
_BACKDATE = datetime.timedelta(hours=1)  # tolerate a partner whose clock is a little behind
_PRIVATE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class TlsCredentials:
    """A PEM private key and its self-signed PEM certificate."""

    key_pem: bytes
    cert_pem: bytes

    @property
    def fingerprint(self) -> CertFingerprint:
        """``sha256:<hex>`` of the certificate's DER bytes: what partners pin."""
        return cert_fingerprint_of(ssl.PEM_cert_to_DER_cert(self.cert_pem.decode("ascii")))

    @classmethod
    def generate(cls, *, organisation: str) -> TlsCredentials:
        """A fresh P-256 key and a self-signed certificate for :data:`TLS_SERVER_NAME`."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, TLS_SERVER_NAME),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64] or "Accord node"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_SERVER_NAME)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cls(key_pem=key_pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM))

    def save(self, key_path: Path, cert_path: Path, *, replace: bool = False) -> None:
        """Write both files (key 0600). Without ``replace`` an existing key is never overwritten.

        With ``replace`` each file is written beside its target and renamed over it, so a
        crash leaves either the old or the new file, never half of one.
        """
        if not replace and key_path.exists():
            raise ConfigError(f"{key_path} exists already; refusing to overwrite a private key")
        _write_atomically(key_path, self.key_pem, _PRIVATE_MODE)
        _write_atomically(cert_path, self.cert_pem, 0o644)

    @classmethod
    def load(cls, key_path: Path, cert_path: Path) -> TlsCredentials:
        """Read credentials written by :meth:`save`; a key readable by others is refused."""
        try:
            mode = stat.S_IMODE(key_path.stat().st_mode)
            key_pem, cert_pem = key_path.read_bytes(), cert_path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the TLS key or certificate: {exc.strerror}: {exc.filename}"
            ) from exc
        if mode & 0o077:
            raise ConfigError(
                f"the TLS key {key_path} has mode {mode:04o}; it must be 0600 (chmod 600 {key_path})"
            )
        _check(key_pem, cert_pem, key_path, cert_path)
        return cls(key_pem=key_pem, cert_pem=cert_pem)


def _check(key_pem: bytes, cert_pem: bytes, key_path: Path, cert_path: Path) -> None:
    """Both files parse, and the certificate belongs to the key (else TLS fails obscurely later)."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{key_path} or {cert_path} is not a PEM key / certificate: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        raise ConfigError(f"the certificate {cert_path} does not belong to the ECDSA key {key_path}")


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, mode)  # umask may have narrowed it; make it exact
    os.replace(temporary, path)
