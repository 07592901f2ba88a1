"""Importing from a real TAXII 2.1 server: the OASIS ``medallion`` (memory backend) on loopback.

Objects are put in through medallion's own TAXII API; the node pulls them as an unsigned
source, converts them with the stix2 library, and matches them (trust ``auto``) or keeps them
aside (``observe``) until accepted. No object has a top-level ``version`` property: medallion
answers HTTP 500 for those.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.app import AccordNode, init_home
from node.model import Signal, SignalType, Tlp
from node.model.sources import Trust
from node.sync.sources import IMPORT_REFUSED
from tests.ecosystem.medallion import COLLECTION_ID, PASSWORD, USER, Medallion
from tests.support.feeds import md5_signal, pdq_signal
from tests.support.processes import ServeProcess, accord, accord_json, free_port, wait_for

TLP_RED_V1 = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
TLP_GREEN_V1 = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
CREATED = "2026-03-01T10:00:00.000Z"


def sha256_signal(seed: int) -> Signal:
    return Signal(SignalType.SHA256, hashlib.sha256(f"sha-{seed}".encode()).hexdigest())


def stix_indicator(
    pattern: str, *, ident: str | None = None, modified: str = CREATED, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": ident or f"indicator--{uuid.uuid4()}",
        "created": CREATED,
        "modified": modified,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": CREATED,
        **extra,
    }


@pytest.fixture(scope="module")
def medallion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Medallion]:
    server = Medallion(
        tmp_path_factory.mktemp("medallion"), page_size=3
    ).start()  # small pages: `next` is used
    yield server
    server.stop()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example Platform")
    opened = AccordNode.open(tmp_path / "home")
    yield opened
    opened.close()


def add_source(
    node: AccordNode, medallion: Medallion, name: str, trust: Trust, password: str = PASSWORD
) -> None:
    node.bridges.add_taxii_source(
        name,
        url=medallion.api_root,
        collection=COLLECTION_ID,
        username=USER,
        secret=password,
        trust=trust,
        category=None,
    )


def matched(node: AccordNode, signal: Signal) -> list[str]:
    return [m.origin_name for m in node.match([signal])[0].matches]


def test_a_taxii_collection_is_pulled_converted_and_matched(node: AccordNode, medallion: Medallion) -> None:
    md5, sha, pdq = md5_signal(101), sha256_signal(101), pdq_signal(101)
    medallion.add(
        [
            stix_indicator(f"[file:hashes.MD5 = '{md5.value}']", labels=["csam"]),
            stix_indicator(
                f"[file:hashes.'SHA-256' = '{sha.value}' OR file:hashes.x_pdq = '{pdq.value}']",
                object_marking_refs=[TLP_RED_V1],
            ),
            stix_indicator("[ipv4-addr:value = '198.51.100.7']"),  # no file hash: refused with its reason
            stix_indicator("[file:hashes.MD5 = 'abc']"),  # a malformed hash: refused, never echoed
            {
                "type": "malware",
                "spec_version": "2.1",
                "id": f"malware--{uuid.uuid4()}",
                "created": CREATED,
                "modified": CREATED,
                "name": "x",
                "is_family": False,
            },  # not an indicator: skipped
        ]
    )
    add_source(node, medallion, "intel", Trust.AUTO)

    [report] = node.sync("intel")
    assert report.error is None
    assert report.indicators >= 3 and report.rejected[IMPORT_REFUSED] >= 2
    assert matched(node, md5) == ["intel"]
    assert matched(node, sha) == ["intel"] and matched(node, pdq) == ["intel"]
    found = node.match([md5, sha])
    assert found[0].matches[0].category == "csam" and found[1].matches[0].category == "unspecified"
    assert found[1].matches[0].tlp.value == "red"
    reasons = node.store.reader.execute(
        "SELECT message FROM rejections WHERE reason = ? AND partner = 'intel'", (IMPORT_REFUSED,)
    ).fetchall()
    assert any("no file hash" in m for (m,) in reasons) and all(
        "abc" not in m.split(":")[-1] for (m,) in reasons
    )

    [again] = node.sync("intel")  # the cursor moved past everything: nothing is imported twice
    assert again.error is None and again.indicators == 0


def test_new_and_revoked_objects_arrive_on_the_next_pull(node: AccordNode, medallion: Medallion) -> None:
    kept, dropped = md5_signal(201), md5_signal(202)
    dropped_id = f"indicator--{uuid.uuid4()}"
    medallion.add(
        [
            stix_indicator(f"[file:hashes.MD5 = '{kept.value}']"),
            stix_indicator(f"[file:hashes.MD5 = '{dropped.value}']", ident=dropped_id),
        ]
    )
    add_source(node, medallion, "feed", Trust.AUTO)
    node.sync("feed")
    assert matched(node, dropped) == ["feed"]

    medallion.add(
        [
            stix_indicator(
                f"[file:hashes.MD5 = '{dropped.value}']",
                ident=dropped_id,
                modified="2026-03-02T10:00:00.000Z",
                revoked=True,
            ),
            stix_indicator(f"[file:hashes.MD5 = '{md5_signal(203).value}']"),
        ]
    )
    [report] = node.sync("feed")
    assert report.error is None and report.indicators == 2  # only what was added since the cursor
    assert matched(node, dropped) == []
    assert matched(node, kept) == ["feed"] and matched(node, md5_signal(203)) == ["feed"]


def test_a_reviewed_source_matches_and_says_review(node: AccordNode, medallion: Medallion) -> None:
    # "review" means what it means for a partner: matched, each match saying a person confirms first.
    signal = md5_signal(301)
    medallion.add([stix_indicator(f"[file:hashes.MD5 = '{signal.value}']")])
    add_source(node, medallion, "watch", Trust.REVIEW)
    [report] = node.sync("watch")
    assert report.error is None and report.indicators > 0
    assert matched(node, signal) == ["watch"]
    [result] = node.match([signal], prefer_running_node=False)
    assert [m.trust for m in result.matches] == [Trust.REVIEW]
    assert node.bridges.staged_counts().get("watch", 0) == 0


def test_an_observed_source_is_held_until_accepted_as_review(node: AccordNode, medallion: Medallion) -> None:
    signal = md5_signal(302)
    medallion.add([stix_indicator(f"[file:hashes.MD5 = '{signal.value}']")])
    add_source(node, medallion, "eyes", Trust.OBSERVE)
    [report] = node.sync("eyes")
    assert report.indicators > 0 and node.bridges.staged_counts()["eyes"] == report.indicators
    assert matched(node, signal) == []

    assert node.bridges.accept_source("eyes") == report.indicators
    assert [s.trust for s in node.bridges.sources() if s.name == "eyes"] == [Trust.REVIEW]
    assert matched(node, signal) == ["eyes"]
    [result] = node.match([signal], prefer_running_node=False)
    assert [m.trust for m in result.matches] == [Trust.REVIEW]


def test_a_restart_after_an_interrupted_pull_adds_nothing_twice(
    node: AccordNode, medallion: Medallion
) -> None:
    add_source(node, medallion, "again", Trust.AUTO)
    first = node.sync("again")[0].indicators
    # Forget the cursor, as a crash between the last page and the cursor update would.
    with node.store.write() as tx:
        tx.execute("UPDATE sources SET added_after = NULL WHERE name = 'again'")
    rows = node.store.reader.execute("SELECT COUNT(*) FROM indicators").fetchone()[0]
    [second] = node.sync("again")
    assert first > 0 and second.indicators == 0
    assert node.store.reader.execute("SELECT COUNT(*) FROM indicators").fetchone()[0] == rows


def test_wrong_credentials_fail_the_pull_and_are_recorded(node: AccordNode, medallion: Medallion) -> None:
    add_source(node, medallion, "locked", Trust.AUTO, password="wrong")
    [report] = node.sync("locked")
    assert report.error is not None and "401" in report.error and "wrong" not in report.error
    assert node.store.sync_records()["locked"].last_result == "failed"


def test_the_cli_adds_lists_and_syncs_a_taxii_source(tmp_path: Path, medallion: Medallion) -> None:
    home = tmp_path / "cli-home"
    assert accord("init", "--home", home, "--name", "P").returncode == 0
    signal = md5_signal(401)
    medallion.add([stix_indicator(f"[file:hashes.MD5 = '{signal.value}']", labels=["ncii"])])
    token_file = tmp_path / "token"
    token_file.write_text(PASSWORD)
    added = accord(
        "partner",
        "add-taxii",
        "--home",
        home,
        "hub",
        medallion.api_root,
        "--collection",
        COLLECTION_ID,
        "--user",
        USER,
        "--token-file",
        token_file,
        "--trust",
        "auto",
    )
    assert added.returncode == 0, added.stderr
    listed = accord_json("partner", "sources", "--home", home)
    assert [(s["name"], s["kind"], s["trust"]) for s in listed] == [("hub", "taxii", "auto")]
    assert PASSWORD not in accord("partner", "sources", "--home", home, "--json").stdout
    synced = accord_json("sync", "--home", home)
    assert synced[0]["partner"] == "hub" and synced[0]["ok"]
    result = accord_json("match", "--home", home, "--offline", "--signal", str(signal))
    assert result[0]["matches"][0]["category"] == "ncii"
    duplicate = accord("partner", "add-taxii", "--home", home, "hub", medallion.api_root, "--collection", "x")
    assert duplicate.returncode == 3 and "exists" in duplicate.stderr
    bad = accord("partner", "add-taxii", "--home", home, "ftp", "ftp://127.0.0.1/", "--collection", "x")
    assert bad.returncode == 2 and "http" in bad.stderr


def test_a_running_node_pulls_the_source_on_its_schedule(tmp_path: Path, medallion: Medallion) -> None:
    home = tmp_path / "served"
    assert accord("init", "--home", home, "--name", "P").returncode == 0
    added = accord(
        "partner",
        "add-taxii",
        "--home",
        home,
        "sched",
        medallion.api_root,
        "--collection",
        COLLECTION_ID,
        "--user",
        USER,
        "--token",
        PASSWORD,
        "--trust",
        "auto",
    )
    assert added.returncode == 0, added.stderr
    env = {"ACCORD_SYNC_INTERVAL_SECONDS": "1", "ACCORD_SYNC_JITTER_SECONDS": "0"}
    server = ServeProcess(home, listen=free_port(), local=free_port(), log=tmp_path / "serve.log", env=env)
    try:
        signal = md5_signal(501)
        medallion.add([stix_indicator(f"[file:hashes.MD5 = '{signal.value}']")])  # after serve started

        def matched_by_the_running_node() -> bool:
            found = accord_json("match", "--home", home, "--signal", str(signal))
            return bool(found[0]["matches"]) and found[0]["matches"][0]["origin_name"] == "sched"

        wait_for(matched_by_the_running_node, timeout=90, interval=1)
    finally:
        assert server.stop() == 0


def test_markings_and_valid_until_of_taxii_objects_are_kept(node: AccordNode, medallion: Medallion) -> None:
    amber_strict, custom, expired, later = (sha256_signal(n) for n in (300, 301, 302, 303))
    statement_tlp = f"marking-definition--{uuid.uuid4()}"
    medallion.add(  # first, so that a page before the indicators carries the definition
        [
            {
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": statement_tlp,
                "created": CREATED,
                "definition_type": "statement",
                "definition": {"statement": "custom"},
                "name": "TLP:AMBER+STRICT",
                "x_opencti_definition_type": "TLP",
                "x_opencti_definition": "TLP:AMBER+STRICT",
            }
        ]
    )
    future = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    medallion.add(
        [
            stix_indicator(
                f"[file:hashes.'SHA-256' = '{amber_strict.value}']",
                object_marking_refs=["marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"],
            ),
            stix_indicator(
                f"[file:hashes.'SHA-256' = '{custom.value}']", object_marking_refs=[statement_tlp]
            ),
            stix_indicator(
                f"[file:hashes.'SHA-256' = '{expired.value}']",
                object_marking_refs=[TLP_GREEN_V1],
                valid_until="2026-03-02T00:00:00.000Z",
            ),
            stix_indicator(
                f"[file:hashes.'SHA-256' = '{later.value}']",
                object_marking_refs=[TLP_GREEN_V1],
                valid_until=future.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            ),
        ]
    )
    add_source(node, medallion, "octi", Trust.AUTO)

    [report] = node.sync("octi")
    assert report.error is None
    held = {ind.signal: ind for ind in node.store.iter_indicators(include_revoked=True)}
    assert held[amber_strict].tlp is Tlp.AMBER_STRICT  # OpenCTI's id, not a fallback to AMBER
    assert held[custom].tlp is Tlp.AMBER_STRICT  # the definition came on an earlier page
    assert expired not in held and matched(node, expired) == []
    assert held[later].valid_until == future and held[later].tlp is Tlp.GREEN
    reasons = [
        message
        for (message,) in node.store.reader.execute(
            "SELECT message FROM rejections WHERE reason = ? AND partner = 'octi'", (IMPORT_REFUSED,)
        )
    ]
    assert any("valid_until 2026-03-02T00:00:00.000Z is past" in message for message in reasons)
