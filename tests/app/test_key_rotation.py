"""Key rotation in a node's home: the identity stays, the key files swap, and a rotation that
stopped between its commit and the swap is finished when the node opens again."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.app import AccordNode
from node.app.home import init_home
from node.app.keyfiles import NEXT_KEY_FILE, stage_new_key
from node.errors import ConfigError
from node.model import Tlp


def test_rotation_keeps_the_identity_and_swaps_the_key_files(tmp_path: Path) -> None:
    home = init_home(tmp_path / "ngo", name="ngo")
    node = AccordNode(home)
    identity, old_key = node.key_id, node.identity.key_id
    seq, new_key = node.rotate_key()
    node.close()

    reopened = AccordNode(home)
    try:
        assert (reopened.key_id, reopened.identity.key_id) == (identity, new_key)
        assert new_key != old_key and seq == 1
        assert reopened.identity_card()["key_id"] == identity
        assert (home.root / "identity.key.retired-1").stat().st_mode & 0o777 == 0o600
        assert not (home.root / NEXT_KEY_FILE).exists()
        # The next entry is signed by the new key, in the same identity's feed.
        report = reopened.contribute(signals=[f"md5:{1:032x}"], category="csam", tlp=Tlp.GREEN)
        assert report.publish is not None and report.publish.seqs == (2,)
    finally:
        reopened.close()


def test_a_rotation_interrupted_after_its_commit_is_finished_on_open(tmp_path: Path) -> None:
    home = init_home(tmp_path / "ngo", name="ngo")
    node = AccordNode(home)
    new, _ = stage_new_key(home, node.identity)
    node.publisher.rotate(new)  # committed; the process "dies" before swapping the files
    node.close()

    reopened = AccordNode(home)
    try:
        assert reopened.identity.key_id == new.key_id
        assert not (home.root / NEXT_KEY_FILE).exists()
    finally:
        reopened.close()


def test_a_process_still_holding_the_retired_key_refuses_to_publish(tmp_path: Path) -> None:
    home = init_home(tmp_path / "ngo", name="ngo")
    stale, rotating = AccordNode(home), AccordNode(home)
    try:
        rotating.rotate_key()
        with pytest.raises(ConfigError, match="retired signing key"):
            stale.contribute(signals=[f"md5:{1:032x}"], category="csam", tlp=Tlp.GREEN)
    finally:
        stale.close()
        rotating.close()


def test_the_audit_log_stays_verifiable_across_a_key_rotation(tmp_path: Path) -> None:
    home = init_home(tmp_path / "ngo", name="ngo")
    node = AccordNode(home)
    node.contribute(signals=[f"md5:{1:032x}"], category="csam", tlp=Tlp.GREEN)  # signed by the first key
    node.rotate_key()
    node.close()

    reopened = AccordNode(home)  # signs with the new key; the older rows were signed by the first
    try:
        reopened.contribute(signals=[f"md5:{2:032x}"], category="csam", tlp=Tlp.GREEN)
        verdict = reopened.audit.verify()
        assert verdict.broken is None and verdict.rows == 3
        assert [r.action for r in reopened.audit.records()] == ["contribute", "key-rotate", "contribute"]
    finally:
        reopened.close()


def test_an_audit_row_signed_by_a_stranger_key_is_still_caught_after_rotation(tmp_path: Path) -> None:
    home = init_home(tmp_path / "ngo", name="ngo")
    node = AccordNode(home)
    node.rotate_key()
    stranger = init_home(tmp_path / "other", name="other")
    other = AccordNode(stranger)
    try:
        node.audit.use_identity(other.identity)  # a row sealed with a key that never signed for us
        node.contribute(signals=[f"md5:{3:032x}"], category="csam", tlp=Tlp.GREEN)
        verdict = node.audit.verify()
        assert verdict.broken is not None and verdict.broken.seq == 2
        assert "signature" in verdict.broken.reason
    finally:
        other.close()
        node.close()
