"""C2PA-signed test media, made in the test: an ES256 CA and a signing certificate with the
extensions C2PA requires (cryptography), and c2pa-python's Builder to sign real images."""

from __future__ import annotations

import datetime
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAMERA_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


@dataclass(frozen=True)
class SigningAuthority:
    """A CA (the trust anchor to configure) and a leaf certificate chained to it."""

    ca_pem: bytes
    chain_pem: bytes  # leaf, then CA
    key_pem: bytes

    def sign(
        self, image: bytes, *, source_type: str = CAMERA_SOURCE, generator: str = "accord-test"
    ) -> bytes:
        """``image`` (PNG bytes) with a signed manifest: a c2pa.created action of ``source_type``."""
        manifest = {
            "claim_generator_info": [{"name": generator, "version": "1.0"}],
            "title": "test.png",
            "assertions": [
                {
                    "label": "c2pa.actions",
                    "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source_type}]},
                }
            ],
        }
        info = c2pa.C2paSignerInfo(
            alg=b"es256", sign_cert=self.chain_pem, private_key=self.key_pem, ta_url=None
        )
        signer = c2pa.Signer.from_info(info)
        out = io.BytesIO()
        with c2pa.Builder(manifest) as builder:
            builder.sign(signer, "image/png", io.BytesIO(image), out)
        signer.close()
        return out.getvalue()


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Newsroom"),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_signer(common_name: str = "Test Signer") -> SigningAuthority:
    """A fresh ES256 CA and signing certificate: basic constraints, key usage, the email
    protection EKU C2PA accepts, subject and authority key identifiers."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Test Root CA"))
        .issuer_name(_name("Test Root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningAuthority(
        ca_pem=ca.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def tamper(signed: bytes) -> bytes:
    """``signed`` with a text chunk slipped in before IEND: the pixels (and PDQ) are the same,
    the bytes the manifest's content hash covers are not."""
    body = b"tEXt" + b"Comment\x00edited after signing"
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    end = signed.rfind(b"IEND") - 4
    return signed[:end] + chunk + signed[end:]


def strip(signed: bytes, target: Path) -> Path:
    """The same pixels re-encoded without the manifest (what most re-uploads do)."""
    from PIL import Image

    with Image.open(io.BytesIO(signed)) as image:
        image.save(target, format="PNG")
    return target


def signed_png(
    signer: SigningAuthority, path: Path, *, seed: int, size: tuple[int, int] = (160, 120), **options: str
) -> Path:
    """A rendered PNG signed by ``signer`` (``sign``'s options), written to ``path``."""
    from tests.support.media import render_image

    out = io.BytesIO()
    render_image(seed=seed, size=size).save(out, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(signer.sign(out.getvalue(), **options))
    return path


def signed_dataset(folder: Path, *, trusted: SigningAuthority, other: SigningAuthority) -> Path:
    """A media folder for C2PA scans, in walk order: ``ai.png`` (declares AI generation, signed
    by ``other``), ``listed.png`` (a camera photo signed by ``trusted``: contribute it to have a
    match with a manifest), ``plain.png`` (never signed), ``stripped.png`` (signed, re-encoded
    without it) and ``tampered.png`` (signed, then edited). Every image is a different one."""
    from tests.support.media import make_image

    signed_png(other, folder / "ai.png", seed=901, source_type=AI_SOURCE, generator="Image Generator")
    signed_png(trusted, folder / "listed.png", seed=902)
    make_image(folder / "plain.png", seed=903, size=(160, 120))
    strip(signed_png(trusted, folder / "stripped.png", seed=904).read_bytes(), folder / "stripped.png")
    tampered = signed_png(trusted, folder / "tampered.png", seed=905)
    tampered.write_bytes(tamper(tampered.read_bytes()))
    return folder
