"""Encryption key files in a node's home: created with the home (0600), rotated atomically, and
every old key kept (0600 in a 0700 directory) so bodies sealed to it still open."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from node.app.encryption_keys import current_encryption_key, load_encryption_keys, rotate_encryption_key
from node.app.home import Home, init_home
from node.errors import ConfigError
from node.feed import EncryptionKeyPair, canonical_json, open_body, seal_body
from node.model import KeyId, Seq

ORIGIN = KeyId("c3" * 32)
BUNDLE = canonical_json({"type": "bundle", "id": "bundle--1"})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return init_home(tmp_path / "ngo", name="ngo")


def test_init_creates_a_private_encryption_key(home: Home) -> None:
    assert mode(home.encryption_key_path) == 0o600
    keys = load_encryption_keys(home)
    assert keys.old == () and keys.all == (keys.current,)
    assert keys.current == EncryptionKeyPair.load(home.encryption_key_path)
    assert load_encryption_keys(home).current == keys.current  # stable across loads


def test_a_home_made_before_encryption_keys_gets_one_on_first_load(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    home.encryption_key_path.unlink()
    with caplog.at_level(logging.WARNING, logger="node.app.encryption_keys"):
        created = load_encryption_keys(home).current
    assert "created an encryption key" in caplog.text
    assert mode(home.encryption_key_path) == 0o600
    assert load_encryption_keys(home).current == created


def test_rotation_keeps_every_old_key_private(home: Home) -> None:
    first = load_encryption_keys(home).current
    second = rotate_encryption_key(home)
    third = rotate_encryption_key(home)
    keys = load_encryption_keys(home)
    assert keys.current == third != second != first
    assert set(keys.old) == {first, second}
    directory = home.old_encryption_keys_dir
    assert mode(directory) == 0o700
    assert sorted(p.name for p in directory.iterdir()) == sorted(f"{k.key_id}.key" for k in (first, second))
    assert all(mode(p) == 0o600 for p in directory.iterdir())
    assert mode(home.encryption_key_path) == 0o600


def test_an_old_key_still_opens_bodies_sealed_before_the_rotation(home: Home) -> None:
    reader_home = init_home(home.root.parent / "reader", name="reader")
    before = seal_body(
        BUNDLE,
        origin=ORIGIN,
        seq=Seq(1),
        recipients=[load_encryption_keys(reader_home).current.public],
        self_key=load_encryption_keys(home).current.public,
    )
    rotate_encryption_key(reader_home)
    rotate_encryption_key(home)
    for keys in (load_encryption_keys(reader_home), load_encryption_keys(home)):
        assert (
            open_body(
                before.ciphertext,
                origin=ORIGIN,
                seq=Seq(1),
                stanzas=before.stanzas,
                plaintext_digest=before.plaintext_digest,
                keys=keys.all,
            )
            == BUNDLE
        )
        assert (
            open_body(
                before.ciphertext,
                origin=ORIGIN,
                seq=Seq(1),
                stanzas=before.stanzas,
                plaintext_digest=before.plaintext_digest,
                keys=[keys.current],
            )
            is None
        )


def test_a_rotation_that_fails_at_the_swap_loses_no_key(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    old = load_encryption_keys(home).current

    def crash(*_: object) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        rotate_encryption_key(home)
    monkeypatch.undo()
    keys = load_encryption_keys(home)
    assert keys.current == old and keys.old == ()  # the copy in encryption-old/ is the same key
    assert [p.name for p in home.root.iterdir() if p.name.endswith(".tmp")] == []  # no temp left
    new = rotate_encryption_key(home)  # the rotation can simply be run again
    assert load_encryption_keys(home).current == new
    assert load_encryption_keys(home).old == (old,)


def test_a_key_file_is_replaced_whole_or_not_at_all(home: Home) -> None:
    # The replacement is written next to the key, fsynced, then renamed over it: the inode changes
    # and nothing else is left behind.
    before = home.encryption_key_path.stat().st_ino
    rotate_encryption_key(home)
    assert home.encryption_key_path.stat().st_ino != before
    assert sorted(p.name for p in home.root.iterdir() if "encryption" in p.name) == [
        "encryption-old",
        "encryption.key",
    ]


def test_loose_modes_and_misnamed_old_keys_are_refused(home: Home) -> None:
    old = load_encryption_keys(home).current
    rotate_encryption_key(home)
    directory = home.old_encryption_keys_dir
    os.chmod(directory, 0o755)
    with pytest.raises(ConfigError, match="0700"):
        load_encryption_keys(home)
    os.chmod(directory, 0o700)
    kept = directory / f"{old.key_id}.key"
    os.chmod(kept, 0o640)
    with pytest.raises(ConfigError, match="0600"):
        load_encryption_keys(home)
    os.chmod(kept, 0o600)
    kept.rename(directory / f"{'0' * 64}.key")
    with pytest.raises(ConfigError, match="not the one its name says"):
        load_encryption_keys(home)


def test_the_current_key_is_refused_when_readable_by_others(home: Home) -> None:
    os.chmod(home.encryption_key_path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        current_encryption_key(home)
