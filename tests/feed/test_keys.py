"""Node keys on disk (mode 0600, never overwritten), key ids, and the public-key text form."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest

from node.errors import ConfigError, InvalidInput
from node.feed import NodeIdentity, key_id_of, public_key_from_text, public_key_to_text, verify_signature

ALICE = NodeIdentity.from_seed(bytes([1]) * 32)
BOB = NodeIdentity.from_seed(bytes([2]) * 32)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_from_seed_is_deterministic() -> None:
    again = NodeIdentity.from_seed(bytes([1]) * 32)
    assert again.public_key == ALICE.public_key
    assert again.sign(b"m") == ALICE.sign(b"m")
    assert ALICE.public_key != BOB.public_key


def test_generate_makes_distinct_identities() -> None:
    assert NodeIdentity.generate().public_key != NodeIdentity.generate().public_key


def test_key_id_is_sha256_of_the_raw_public_key() -> None:
    assert len(ALICE.public_key) == 32
    assert ALICE.key_id == hashlib.sha256(ALICE.public_key).hexdigest()
    assert key_id_of(ALICE.public_key) == ALICE.key_id


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_key_id_of_refuses_other_lengths(length: int) -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        key_id_of(bytes(length))


def test_save_writes_mode_0600_and_load_reads_it_back(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    ALICE.save(path)
    assert mode_of(path) == 0o600
    loaded = NodeIdentity.load(path)
    assert loaded.public_key == ALICE.public_key
    assert loaded.sign(b"message") == ALICE.sign(b"message")


def test_save_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ALICE.save(tmp_path / "node.key")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "node.key") == 0o600


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    ALICE.save(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        BOB.save(path)
    assert path.read_bytes() == before
    assert NodeIdentity.load(path).public_key == ALICE.public_key


def test_the_file_does_not_hold_the_public_key_alone(tmp_path: Path) -> None:
    # The seed is stored, so a loaded identity can sign; the file is not the public key.
    path = tmp_path / "node.key"
    ALICE.save(path)
    assert base64.b64decode(path.read_bytes().strip()) == bytes([1]) * 32


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_load_refuses_a_key_readable_by_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "node.key"
    ALICE.save(path)
    path.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        NodeIdentity.load(path)
    assert f"{mode:04o}" in str(caught.value)


def test_load_accepts_a_stricter_mode(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    ALICE.save(path)
    path.chmod(0o400)
    assert NodeIdentity.load(path).public_key == ALICE.public_key


@pytest.mark.parametrize(
    "content",
    [b"", b"not base64 at all!!\n", base64.b64encode(bytes(16)) + b"\n", base64.b64encode(bytes(64)) + b"\n"],
)
def test_load_refuses_a_corrupt_key(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="node key"):
        NodeIdentity.load(path)


def test_load_of_a_missing_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        NodeIdentity.load(tmp_path / "absent.key")


def test_public_key_text_round_trip() -> None:
    text = public_key_to_text(ALICE.public_key)
    assert text.startswith("ed25519:")
    assert public_key_from_text(text) == ALICE.public_key
    assert public_key_from_text(text.removeprefix("ed25519:")) == ALICE.public_key
    assert public_key_from_text(f"  {text}\n") == ALICE.public_key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ed25519:",
        "ed25519:not*base64",
        "ed25519:" + base64.b64encode(bytes(31)).decode(),
        "ed25519:" + base64.b64encode(bytes(33)).decode(),
        "ed25519:" + base64.b64encode(bytes(32)).decode()[:-1],
        "0" * 64,  # a key id is not a public key
    ],
)
def test_public_key_from_text_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match="public key"):
        public_key_from_text(text)


def test_verify_signature() -> None:
    signature = ALICE.sign(b"message")
    assert len(signature) == 64
    assert verify_signature(ALICE.public_key, b"message", signature)
    assert not verify_signature(BOB.public_key, b"message", signature)
    assert not verify_signature(ALICE.public_key, b"messagE", signature)
    assert not verify_signature(ALICE.public_key, b"message", signature[:-1])
    assert not verify_signature(bytes(5), b"message", signature)
