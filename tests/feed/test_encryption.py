"""Encryption keys and their statements: only a pinned signing key announces a node's key."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from node.errors import BadSignature, ConfigError, InvalidInput, MalformedEntry, TooLarge, UnknownSigner
from node.feed import (
    ENCRYPTION_KEY_PAYLOAD_TYPE,
    EncryptionKeyPair,
    encryption_key_from_text,
    encryption_key_to_text,
    open_encryption_key,
    sign_encryption_key,
    sign_envelope,
)
from node.feed.canonical import canonical_json
from node.feed.encryption import is_usable_key
from node.model import KeyId
from tests.support.feeds import T0, flip_byte, identity, with_payload

NODE = identity(1)
OTHER = identity(2)
ROTATED = identity(3)  # NODE's signing key after a rotation
PINNED = {NODE.key_id: NODE.public_key, OTHER.key_id: OTHER.public_key}
KEY = EncryptionKeyPair.from_private(bytes([7]) * 32)
# A point of order 8 on Curve25519 (libsodium's blocklist): a "public key" anyone can open.
LOW_ORDER = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def test_key_text_round_trips_and_names_its_kind() -> None:
    text = encryption_key_to_text(KEY.public)
    assert text.startswith("x25519:")
    assert encryption_key_from_text(text) == KEY.public


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("ed25519:" + base64.b64encode(bytes(32)).decode(), "x25519:"),  # a signing key, not this
        (base64.b64encode(bytes(32)).decode(), "x25519:"),  # no prefix
        ("x25519:not base64!", "base64"),
        ("x25519:" + base64.b64encode(bytes(31)).decode(), "32 bytes"),
        ("x25519:" + base64.b64encode(bytes(33)).decode(), "32 bytes"),
    ],
)
def test_bad_key_text_is_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        encryption_key_from_text(text)


def test_a_key_pair_has_a_hex_sha256_key_id_and_hides_its_private_half() -> None:
    assert len(KEY.key_id) == 64 and int(KEY.key_id, 16) >= 0
    assert KEY.key_id == KeyId(hashlib.sha256(KEY.public).hexdigest())
    assert KEY.private.hex() not in repr(KEY) and str(KEY.private) not in repr(KEY)
    assert EncryptionKeyPair.generate().key_id != EncryptionKeyPair.generate().key_id


def test_a_key_pair_whose_halves_do_not_match_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not belong"):
        EncryptionKeyPair(private=KEY.private, public=EncryptionKeyPair.generate().public)


def test_a_valid_statement_opens_to_the_node_key_and_time() -> None:
    statement = open_encryption_key(sign_encryption_key(NODE, KEY.public, now=T0), pinned=PINNED)
    assert (statement.node, statement.key, statement.created) == (NODE.key_id, KEY.public, T0)


def test_a_tampered_statement_is_refused() -> None:
    envelope = sign_encryption_key(NODE, KEY.public, now=T0)
    other_key = encryption_key_to_text(EncryptionKeyPair.generate().public).encode()
    swapped = envelope.payload.replace(encryption_key_to_text(KEY.public).encode(), other_key)
    with pytest.raises(BadSignature):
        open_encryption_key(with_payload(envelope, swapped), pinned=PINNED)
    with pytest.raises(BadSignature):
        open_encryption_key(with_payload(envelope, flip_byte(envelope.payload, 30)), pinned=PINNED)


def test_a_statement_from_an_unpinned_signer_is_refused() -> None:
    envelope = sign_encryption_key(NODE, KEY.public, now=T0)
    with pytest.raises(UnknownSigner):
        open_encryption_key(envelope, pinned={OTHER.key_id: OTHER.public_key})


def test_a_statement_naming_another_node_is_refused() -> None:
    # OTHER is pinned, but may not announce an encryption key for NODE.
    forged = sign_encryption_key(OTHER, KEY.public, now=T0, node=NODE.key_id)
    with pytest.raises(MalformedEntry, match="another node"):
        open_encryption_key(forged, pinned=PINNED)


def test_a_rotated_signing_key_announces_for_its_origin_only() -> None:
    pinned = {**PINNED, ROTATED.key_id: ROTATED.public_key}
    origins = {ROTATED.key_id: NODE.key_id}
    for node in (NODE.key_id, ROTATED.key_id):
        envelope = sign_encryption_key(ROTATED, KEY.public, now=T0, node=node)
        statement = open_encryption_key(envelope, pinned=pinned, signer_origin=origins)
        assert statement.node == NODE.key_id  # resolved to the identity partners pinned
    forged = sign_encryption_key(ROTATED, KEY.public, now=T0, node=OTHER.key_id)
    with pytest.raises(MalformedEntry, match="another node"):
        open_encryption_key(forged, pinned=pinned, signer_origin=origins)
    # Without the mapping, a rotated key cannot speak for the origin.
    naming_origin = sign_encryption_key(ROTATED, KEY.public, now=T0, node=NODE.key_id)
    with pytest.raises(MalformedEntry, match="another node"):
        open_encryption_key(naming_origin, pinned=pinned)


GOOD = {"node": NODE.key_id, "key": encryption_key_to_text(KEY.public), "created": "2026-11-01T12:00:00.000Z"}


@pytest.mark.parametrize(
    "payload",
    [
        canonical_json({**GOOD, "extra": 1}),
        canonical_json({k: v for k, v in GOOD.items() if k != "created"}),
        canonical_json({**GOOD, "key": "ed25519:" + base64.b64encode(bytes(32)).decode()}),
        canonical_json({**GOOD, "key": encryption_key_to_text(LOW_ORDER)}),
        canonical_json({**GOOD, "node": NODE.key_id.upper()}),
        canonical_json({**GOOD, "created": "yesterday"}),
        canonical_json({**GOOD, "created": 5}),
        canonical_json([GOOD]),
        b'{"node":"%s","node":"%s","key":"%s","created":"2026-11-01T12:00:00.000Z"}'
        % (NODE.key_id.encode(), NODE.key_id.encode(), GOOD["key"].encode()),
        b"not json",
    ],
)
def test_a_malformed_statement_is_refused(payload: bytes) -> None:
    envelope = sign_envelope(ENCRYPTION_KEY_PAYLOAD_TYPE, payload, NODE)
    with pytest.raises(MalformedEntry):
        open_encryption_key(envelope, pinned=PINNED)


def test_a_statement_is_never_read_from_another_payload_type() -> None:
    envelope = sign_envelope("application/vnd.accord.head+json; version=1", canonical_json(GOOD), NODE)
    with pytest.raises(BadSignature, match="payload type"):
        open_encryption_key(envelope, pinned=PINNED)


def test_an_oversized_statement_is_refused_before_verifying() -> None:
    padded = json.dumps({**GOOD}).encode() + b" " * 5000
    envelope = sign_envelope(ENCRYPTION_KEY_PAYLOAD_TYPE, padded, NODE)
    with pytest.raises(TooLarge):
        open_encryption_key(envelope, pinned=PINNED)


def test_low_order_points_are_not_usable_keys() -> None:
    with pytest.raises(InvalidInput, match="low-order"):
        sign_encryption_key(NODE, LOW_ORDER, now=T0)
    assert not is_usable_key(LOW_ORDER)
    assert not is_usable_key(bytes(32))
    assert is_usable_key(KEY.public)


def test_a_key_file_is_0600_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "encryption.key"
    KEY.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert EncryptionKeyPair.load(path) == KEY
    assert [p.name for p in tmp_path.iterdir()] == ["encryption.key"]  # no temp file left


def test_saving_refuses_to_overwrite_a_key_unless_told(tmp_path: Path) -> None:
    path = tmp_path / "encryption.key"
    KEY.save(path)
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        EncryptionKeyPair.generate().save(path)
    assert EncryptionKeyPair.load(path) == KEY
    fresh = EncryptionKeyPair.generate()
    fresh.save(path, replace=True)
    assert EncryptionKeyPair.load(path) == fresh
    assert [p.name for p in tmp_path.iterdir()] == ["encryption.key"]


def test_a_key_file_readable_by_others_or_not_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "encryption.key"
    KEY.save(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="0600"):
        EncryptionKeyPair.load(path)
    os.chmod(path, 0o600)
    path.write_bytes(b"not base64!")
    with pytest.raises(ConfigError, match="base64"):
        EncryptionKeyPair.load(path)
    path.write_bytes(base64.b64encode(bytes(16)))
    with pytest.raises(ConfigError, match="32-byte"):
        EncryptionKeyPair.load(path)


def test_a_write_that_fails_before_its_rename_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> None:
        raise OSError("simulated crash before the link")

    monkeypatch.setattr(os, "link", crash)
    with pytest.raises(OSError, match="simulated"):
        KEY.save(tmp_path / "encryption.key")
    assert list(tmp_path.iterdir()) == []  # neither the key nor a temp file
