"""Restricted sharing as an operator drives it: key exchange, TLP narrowing, grants, status.

Real homes through the CLI (click's runner): what the commands print and exit with, and what
ends up in the signed feed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from node.app import AccordNode
from node.feed import decode_header, public_key_to_text, sign_head
from node.feed.sealing import open_content_key
from node.model import Head, Seq, SignedEntry
from node.sync.heads import check_heads
from tests.support.cli import run
from tests.support.feeds import T0, FeedWriter, identity, indicator, md5_signal

SIGNAL = "md5:" + "d" * 32


def card(home: Path) -> dict[str, str]:
    result = run("identity", "--home", home, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Path, Path]:
    ngo, platform = tmp_path / "ngo", tmp_path / "platform"
    for home, name in ((ngo, "NGO"), (platform, "Platform")):
        assert run("init", "--home", home, "--name", name).exit_code == 0
    return ngo, platform


def test_identity_hands_over_the_encryption_key_and_partner_add_pins_it(homes) -> None:
    ngo, platform = homes
    theirs = card(platform)
    assert theirs["encryption_key"].startswith("x25519:")
    refused = run("partner", "add", "--home", ngo, "platform", "--key", theirs["public_key"])
    assert refused.exit_code == 0
    no_key = run(
        "contribute",
        "--home",
        ngo,
        "--signal",
        SIGNAL,
        "--category",
        "csam",
        "--tlp",
        "red",
        "--to",
        "platform",
    )
    assert no_key.exit_code == 2 and "no recently confirmed encryption key for platform" in no_key.output
    assert run("partner", "remove", "--home", ngo, "platform").exit_code == 0
    pinned = run(
        "partner", "add", "--home", ngo, "platform", "--key", theirs["public_key"],
        "--encryption-key", theirs["encryption_key"],
    )  # fmt: skip
    assert pinned.exit_code == 0, pinned.output
    shared = run(
        "contribute",
        "--home",
        ngo,
        "--signal",
        SIGNAL,
        "--category",
        "csam",
        "--tlp",
        "red",
        "--to",
        "platform",
    )
    assert shared.exit_code == 0, shared.output
    # The body is sealed to the platform's key (and the NGO's own), and names no value in clear.
    node = AccordNode.open(ngo)
    entry = node.store.entry_at(node.origin, Seq(1))
    assert entry is not None and entry.sealed and entry.body is not None and b"dddd" not in entry.body
    seal = decode_header(entry.envelope.payload).seal
    assert seal is not None
    receiver = AccordNode.open(platform)
    assert open_content_key(seal.stanzas, receiver.encryption.all) is not None
    node.close()
    receiver.close()


def test_a_malformed_encryption_key_is_refused_by_name(homes) -> None:
    ngo, platform = homes
    result = run(
        "partner", "add", "--home", ngo, "platform", "--key", card(platform)["public_key"],
        "--encryption-key", "x25519:not-base64!",
    )  # fmt: skip
    assert result.exit_code == 2 and "x25519" in result.output
    assert "platform" not in run("partner", "list", "--home", ngo).output


def test_relabel_tlp_narrowing_revokes_the_green_version_first(homes) -> None:
    ngo, platform = homes
    theirs = card(platform)
    run(
        "partner",
        "add",
        "--home",
        ngo,
        "platform",
        "--key",
        theirs["public_key"],
        "--encryption-key",
        theirs["encryption_key"],
    )
    assert run("contribute", "--home", ngo, "--signal", SIGNAL, "--category", "csam").exit_code == 0
    result = run("relabel", "--home", ngo, SIGNAL, "--tlp", "red", "--to", "platform")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(ngo / "accord.db") as db:
        rows = db.execute("SELECT tlp, revoked FROM indicators ORDER BY change_id").fetchall()
        entries = db.execute("SELECT seq, tlp FROM entries ORDER BY seq").fetchall()
    assert sorted(rows) == [("green", 1), ("red", 0)]
    assert entries == [(1, "green"), (2, "green"), (3, "red")]  # the revocation went out first
    assert run("relabel", "--home", ngo, SIGNAL, "--to", "platform").exit_code == 2  # --to needs --tlp


def test_group_grant_gives_a_late_member_the_backlog(homes, tmp_path: Path) -> None:
    ngo, platform = homes
    late = tmp_path / "late"
    assert run("init", "--home", late, "--name", "Late").exit_code == 0
    for home, name in ((platform, "platform"), (late, "late")):
        theirs = card(home)
        run(
            "partner",
            "add",
            "--home",
            ngo,
            name,
            "--key",
            theirs["public_key"],
            "--encryption-key",
            theirs["encryption_key"],
        )
    assert run("group", "add", "--home", ngo, "hotlines", "platform").exit_code == 0
    shared = run(
        "contribute",
        "--home",
        ngo,
        "--signal",
        SIGNAL,
        "--category",
        "csam",
        "--tlp",
        "amber",
        "--group",
        "hotlines",
    )
    assert shared.exit_code == 0, shared.output
    granted = run("group", "grant", "--home", ngo, "hotlines", "late")
    assert granted.exit_code == 0 and "granted 1 bodies in entry seq 2" in granted.output
    node = AccordNode.open(ngo)
    grant = decode_header(node.store.entry_at(node.origin, Seq(2)).envelope.payload)  # type: ignore[union-attr]
    node.close()
    [stanza] = [g.stanza for g in grant.grants if g.seq == 1]
    assert open_content_key([stanza], AccordNode.open(late).encryption.all) is not None


def test_status_names_missing_bodies_and_stale_origins(homes) -> None:
    _, platform = homes
    writer = FeedWriter(identity(30), name="hotline")
    node = AccordNode.open(platform)
    node.add_partner("hotline", public_key=public_key_to_text(writer.signer.public_key), endpoint=None)
    entry = writer.entry([indicator(writer.origin, md5_signal(1))])
    node.puller.receive(node.store.partner("hotline"), iter([SignedEntry(entry.header, None)]))  # type: ignore[arg-type]
    head = Head(origin=writer.origin, seq=Seq(1), digest=node.store.digest_at(writer.origin, Seq(1)))  # type: ignore[arg-type]
    check_heads(
        node.store,
        [sign_head(head, writer.signer, now=T0)],
        peer="hub",
        pinned=node.store.pinned_keys(),
        self_key=node.origin,
    )
    node.close()

    text = run("status", "--home", platform).output
    assert "STALE: origin hotline" in text and "bodies missing: 1" in text
    data = json.loads(run("status", "--home", platform, "--json").output)
    assert data["bodies_missing"] == 1 and list(data["stale"]) == [writer.origin]
