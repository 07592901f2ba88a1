"""The audit log on a real node: actions are recorded, and tampering with the SQLite file directly
(edit, delete, insert, reorder, re-sealed edit) is detected at the first bad row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.feed import public_key_to_text
from node.model import Tlp
from node.model.audit import row_hash
from tests.support.feeds import identity


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example NGO")
    opened = AccordNode.open(tmp_path / "home")
    yield opened
    opened.close()


def act(node: AccordNode) -> None:
    """Five audited actions through the node's own API."""
    node.add_partner("lab", public_key=public_key_to_text(identity(2).public_key), endpoint=None)
    node.contribute(signals=["md5:" + "ab" * 16], category="csam", tlp=Tlp.GREEN)
    node.revoke(["md5:" + "ab" * 16])
    node.export_stix(node.home.root / "out.json", include_red=False)
    node.remove_partner("lab")


def tamper(node: AccordNode, *statements: str) -> None:
    raw = sqlite3.connect(node.home.db_path)
    raw.execute("DROP TRIGGER audit_log_no_update")  # a person editing the file can do this too
    raw.execute("DROP TRIGGER audit_log_no_delete")
    for statement in statements:
        raw.execute(statement)
    raw.commit()
    raw.close()


def test_actions_are_recorded_in_order_without_hash_values(node: AccordNode) -> None:
    act(node)
    records = node.audit.records()
    assert [r.action for r in records] == ["partner-add", "contribute", "revoke", "export", "partner-remove"]
    assert all("ab" * 16 not in r.details for r in records)
    verdict = node.audit.verify()
    assert verdict.broken is None and verdict.rows == 5 and verdict.head == records[-1].row_hash


def test_the_table_refuses_updates_and_deletes(node: AccordNode) -> None:
    act(node)
    raw = sqlite3.connect(node.home.db_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE audit_log SET actor = 'someone' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM audit_log WHERE seq = 2")
    raw.close()


@pytest.mark.parametrize(
    ("statements", "bad_seq"),
    [
        (["UPDATE audit_log SET details = '{\"items\":0}' WHERE seq = 2"], 2),
        (["DELETE FROM audit_log WHERE seq = 3"], 4),
        (
            [
                "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3",
                "INSERT INTO audit_log SELECT 3, at, actor,"
                " 'show', details, prev_hash, row_hash, signature FROM audit_log WHERE seq = 2",
                "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103",
            ],
            3,
        ),
        (
            [
                "UPDATE audit_log SET seq = 0 WHERE seq = 2",
                "UPDATE audit_log SET seq = 2 WHERE seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE seq = 0",
            ],
            2,
        ),
    ],
    ids=["edited", "deleted", "inserted", "reordered"],
)
def test_tampering_is_found_at_the_first_bad_row(
    node: AccordNode, statements: list[str], bad_seq: int
) -> None:
    act(node)
    tamper(node, *statements)
    broken = node.audit.verify().broken
    assert broken is not None and broken.seq == bad_seq


def test_an_edit_resealed_without_the_key_fails_on_its_signature(node: AccordNode) -> None:
    act(node)
    record = node.audit.records()[-1]  # the last row: no successor links to its hash
    details = '{"partner":"somebody-else"}'
    resealed = row_hash(
        seq=record.seq,
        at=record.at,
        actor=record.actor,
        action=record.action,
        details=details,
        prev_hash=record.prev_hash,
    )
    tamper(
        node, f"UPDATE audit_log SET details = '{details}', row_hash = '{resealed}' WHERE seq = {record.seq}"
    )
    broken = node.audit.verify().broken
    assert broken is not None and broken.seq == record.seq and "signature" in broken.reason


def test_details_carrying_hash_values_are_refused(node: AccordNode) -> None:
    with pytest.raises(ValueError, match="hash values"):
        node.audit.record("query-red", {"signal": "md5:" + "ab" * 16})
    assert node.audit.records() == []
