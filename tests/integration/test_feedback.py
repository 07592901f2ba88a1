"""Opinions, corroboration, partner policy and key compromise across real nodes on loopback.

Three homes: an NGO that publishes, a lab that reviews (disputes, agrees) and a platform that
matches. The NGO and the lab serve their feeds with ``accord serve``; the platform pulls in the
foreground with ``accord sync``, so each step is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.feed import NodeIdentity, decode_header, payload_digest
from node.model import Signal, Tlp
from node.model.clock import format_timestamp
from node.store import Store, StoredBody
from tests.support.feeds import FeedWriter, indicator
from tests.support.processes import ServeProcess, accord, accord_json, free_port

SIGNAL = f"md5:{0xBAD:032x}"
OTHER = f"md5:{0xC0FFEE:032x}"


class Federation:
    """Three initialised homes, their serve processes, and the pins between them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.homes = {name: root / name for name in ("ngo", "lab", "platform")}
        self.ports = {name: free_port() for name in self.homes}
        self.keys: dict[str, str] = {}
        self.encryption_keys: dict[str, str] = {}  # compared out of band with the key
        for name, home in self.homes.items():
            assert accord("init", "--home", home, "--name", name).returncode == 0
            shown = accord_json("identity", "--home", home)
            self.keys[name] = shown["public_key"]
            self.encryption_keys[name] = shown["encryption_key"]
        self.serving: list[ServeProcess] = []

    def pin(self, who: str, partner: str, *, pull: bool) -> None:
        endpoint = ["--endpoint", f"127.0.0.1:{self.ports[partner]}"] if pull else []
        added = accord(
            "partner",
            "add",
            "--home",
            self.homes[who],
            partner,
            "--key",
            self.keys[partner],
            "--encryption-key",
            self.encryption_keys[partner],
            *endpoint,
        )
        assert added.returncode == 0, added.stderr

    def serve(self, name: str) -> None:
        log = self.root / f"{name}.log"
        self.serving.append(
            ServeProcess(self.homes[name], listen=self.ports[name], local=free_port(), log=log)
        )

    def restart(self, name: str) -> None:
        """Stop ``name``'s serve process and start it again (on the same port)."""
        [running] = [p for p in self.serving if p.home == self.homes[name]]
        running.stop()
        self.serving.remove(running)
        self.serve(name)

    def run(self, name: str, *args: str) -> str:
        done = accord(*args, "--home", self.homes[name])
        assert done.returncode == 0, done.stderr
        return done.stdout

    def sync(self, name: str) -> list[dict[str, Any]]:
        return accord_json("sync", "--home", self.homes[name])  # type: ignore[no-any-return]

    def match(self, name: str, signal: str) -> list[dict[str, Any]]:
        [result] = accord_json("match", "--home", self.homes[name], "--signal", signal, "--offline")
        return result["matches"]  # type: ignore[no-any-return]


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(tmp_path)
    federation.pin("ngo", "lab", pull=True)
    federation.pin("ngo", "platform", pull=False)
    federation.pin("lab", "ngo", pull=True)
    federation.pin("lab", "platform", pull=False)
    federation.pin("platform", "ngo", pull=True)
    federation.pin("platform", "lab", pull=True)
    federation.serve("ngo")
    federation.serve("lab")
    yield federation
    for process in federation.serving:
        process.stop()


def test_disputes_and_agreements_reach_a_partners_match_and_the_origins_feedback(fed: Federation) -> None:
    fed.run("ngo", "contribute", "--signal", SIGNAL, "--category", "csam", "--tlp", "green")
    fed.sync("lab")
    fed.run("lab", "dispute", SIGNAL, "--reason", "a benign meme template")
    fed.sync("platform")

    [hit] = fed.match("platform", SIGNAL)
    assert (hit["origin_name"], hit["disputed"], hit["agreed"], hit["consensus"]) == ("ngo", 1, 0, "disputed")
    assert hit["trust"] == "auto" and hit["corroboration"] == 1

    # The platform's own agreement counts beside the lab's dispute: contested.
    fed.run("platform", "agree", hit["indicator_id"], "--reason", "seen in our queue")
    [hit] = fed.match("platform", SIGNAL)
    assert (hit["agreed"], hit["disputed"], hit["consensus"]) == (1, 1, "contested")

    # The lab changes its mind: its later opinion replaces the dispute.
    fed.run("lab", "agree", SIGNAL)
    fed.sync("platform")
    [hit] = fed.match("platform", SIGNAL)
    assert (hit["agreed"], hit["disputed"], hit["consensus"]) == (2, 0, "agreed")

    # The origin reads the feedback on its own indicators once it has pulled the lab's feed.
    fed.sync("ngo")
    [feedback] = accord_json("feedback", "--home", fed.homes["ngo"])["opinions"]
    assert (feedback["author_name"], feedback["opinion"]) == ("lab", "agree")
    assert feedback["indicator_id"] == hit["indicator_id"] and feedback["category"] == "csam"

    # A withdrawn opinion no longer counts anywhere.
    fed.run("lab", "withdraw", SIGNAL)
    fed.sync("platform")
    fed.sync("ngo")
    [hit] = fed.match("platform", SIGNAL)
    assert (hit["agreed"], hit["disputed"]) == (1, 0)
    assert accord_json("feedback", "--home", fed.homes["ngo"]) == {"opinions": [], "sightings": []}


def test_a_match_counts_the_independent_origins_that_corroborate_it(fed: Federation) -> None:
    fed.run("ngo", "contribute", "--signal", SIGNAL, "--category", "csam", "--tlp", "green")
    fed.run("lab", "contribute", "--signal", SIGNAL, "--category", "csam", "--tlp", "green")
    fed.run("lab", "contribute", "--signal", OTHER, "--category", "ncii", "--tlp", "green")
    fed.sync("platform")
    hits = fed.match("platform", SIGNAL)
    assert sorted(h["origin_name"] for h in hits) == ["lab", "ngo"]
    assert {h["corroboration"] for h in hits} == {2}
    [alone] = fed.match("platform", OTHER)
    assert alone["corroboration"] == 1


def test_opinions_on_own_or_unknown_indicators_are_refused(fed: Federation) -> None:
    fed.run("ngo", "contribute", "--signal", SIGNAL, "--category", "csam", "--tlp", "green")
    own = accord("dispute", "--home", fed.homes["ngo"], SIGNAL, "--reason", "x")
    assert own.returncode == 3 and "own indicators" in own.stderr
    unknown = accord("agree", "--home", fed.homes["lab"], OTHER)
    assert unknown.returncode == 3
    no_reason = accord("dispute", "--home", fed.homes["lab"], SIGNAL)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    nothing = accord(
        "withdraw", "--home", fed.homes["lab"], "indicator--00000000-0000-4000-8000-000000000000"
    )
    assert nothing.returncode == 3


def _status(fed: Federation, name: str) -> dict[str, Any]:
    return accord_json("status", "--home", fed.homes[name])  # type: ignore[no-any-return]


def test_partner_policy_filters_categories_and_types_and_reports_trust(fed: Federation) -> None:
    fed.run("ngo", "contribute", "--signal", SIGNAL, "--category", "csam", "--tlp", "green")
    fed.run("ngo", "contribute", "--signal", OTHER, "--category", "tvec", "--tlp", "green")
    fed.sync("platform")
    policy = accord_json(
        "partner",
        "set",
        "--home",
        fed.homes["platform"],
        "ngo",
        "--accept-categories",
        "tvec,ncii",
        "--trust",
        "review",
    )
    assert policy["categories"] == ["ncii", "tvec"] and policy["signal_types"] is None
    assert policy["trust"] == "review"
    # Outside the policy: stored, not matched. Inside: matched, with the trust level.
    assert fed.match("platform", SIGNAL) == []
    [hit] = fed.match("platform", OTHER)
    assert (hit["category"], hit["trust"]) == ("tvec", "review")
    counts = {(c["category"], c["count"]) for c in _status(fed, "platform")["counts"]}
    assert ("csam", 1) in counts  # kept: the feed is stored whole

    accord_json("partner", "set", "--home", fed.homes["platform"], "ngo", "--accept-types", "sha256")
    assert fed.match("platform", OTHER) == []
    accord_json(
        "partner",
        "set",
        "--home",
        fed.homes["platform"],
        "ngo",
        "--accept-categories",
        "all",
        "--accept-types",
        "all",
    )
    assert len(fed.match("platform", SIGNAL)) == 1

    bad = accord("partner", "set", "--home", fed.homes["platform"], "ngo", "--trust", "blind")
    assert bad.returncode == 2 and "trust level" in bad.stderr
    bad = accord("partner", "set", "--home", fed.homes["platform"], "ngo", "--accept-types", "crc32")
    assert bad.returncode == 2
    missing = accord("partner", "set", "--home", fed.homes["platform"], "nobody", "--trust", "auto")
    assert missing.returncode == 3


def test_a_compromised_key_is_refused_from_its_mark_and_its_signals_stop_matching(fed: Federation) -> None:
    fed.run("ngo", "contribute", "--signal", SIGNAL, "--category", "csam", "--tlp", "green")  # seq 1
    fed.run("ngo", "contribute", "--signal", OTHER, "--category", "csam", "--tlp", "green")  # seq 2
    fed.sync("platform")
    assert len(fed.match("platform", OTHER)) == 1

    fed.run("platform", "partner", "compromise", "ngo", "--from-seq", "2")
    # Takes effect on the very next query: no rebuild, no refresh interval.
    assert fed.match("platform", OTHER) == []
    assert len(fed.match("platform", SIGNAL)) == 1

    late = f"md5:{0xFEED:032x}"
    fed.run("ngo", "contribute", "--signal", late, "--category", "csam", "--tlp", "green")  # seq 3
    [report] = [r for r in fed.sync("platform") if r["partner"] == "ngo"]
    assert report["accepted"] == 0 and report["rejected"] == {"compromised": 1}
    assert fed.match("platform", late) == []
    status = _status(fed, "platform")
    assert status["compromised"] == {"ngo": 2}
    assert status["rejections"]["compromised"] >= 1

    # Only an explicit operator action lifts the mark; the refused entry is then pulled again.
    fed.run("platform", "partner", "uncompromise", "ngo")
    assert len(fed.match("platform", OTHER)) == 1
    fed.sync("platform")
    assert len(fed.match("platform", late)) == 1
    assert _status(fed, "platform")["compromised"] == {}
    again = accord("partner", "uncompromise", "--home", fed.homes["platform"], "ngo")
    assert again.returncode == 3
    zero = accord("partner", "compromise", "--home", fed.homes["platform"], "ngo", "--from-seq", "0")
    assert zero.returncode == 2


def _forge_with_retired_key(home: Path, retired: Path, signal: str) -> None:
    """Append to the origin's own feed an entry signed with its retired key, as a thief of that
    key would publish it (the origin's node then serves it like any other entry)."""
    old = NodeIdentity.load(retired)
    origin = old.key_id  # the identity never changed: the retired key is the origin key
    store = Store(home / "accord.db")
    try:
        head = store.head(origin)
        assert head is not None
        thief = FeedWriter(old, name="ngo")  # the production codec and signer, with the stolen key
        forged = thief.entry([indicator(origin, Signal.parse(signal))], seq=head.seq + 1, prev=head.digest)
        header = decode_header(forged.header.payload)
        assert forged.body is not None
        with store.write() as tx:
            tx.append_entry(
                origin=origin,
                seq=header.seq,
                digest=payload_digest(forged.header.payload),
                prev=header.prev,
                envelope=forged.header,
                tlp=Tlp.GREEN,
                recipients=frozenset(),
                created=format_timestamp(header.created),
                via=None,
                objects=1,
                body=StoredBody(
                    digest=header.body_digest, size=header.body_size, sealed=False, body=forged.body
                ),
            )
    finally:
        store.close()


def test_a_rotated_key_signs_on_and_the_retired_key_is_refused(fed: Federation) -> None:
    ngo = fed.homes["ngo"]
    before = accord_json("identity", "--home", ngo)
    fed.run("ngo", "contribute", "--signal", SIGNAL, "--category", "csam", "--tlp", "green")  # seq 1
    fed.sync("platform")

    rotated = fed.run("ngo", "key", "rotate")
    assert "rotated at seq 2" in rotated
    after = accord_json("identity", "--home", ngo)
    assert after["key_id"] == before["key_id"] and after["public_key"] == before["public_key"]
    assert after["signing_key_id"] != before["signing_key_id"]
    retired = ngo / "identity.key.retired-2"
    assert retired.stat().st_mode & 0o777 == 0o600 and (ngo / "identity.key").stat().st_mode & 0o777 == 0o600
    # A running serve keeps its keys in memory (README, not built yet): restarted, it signs the
    # heads it shows afresh at each call with the new key, not the retired one.
    fed.restart("ngo")

    fed.run("ngo", "contribute", "--signal", OTHER, "--category", "csam", "--tlp", "green")  # seq 3, new key
    # Requests the NGO now signs with its new key verify at the lab only once the lab has
    # accepted the rotation; the NGO still calls as its pinned identity.
    early = accord("sync", "--home", ngo, "--partner", "lab")
    assert early.returncode == 4 and "UNAUTHENTICATED" in early.stdout
    fed.sync("lab")
    assert accord("sync", "--home", ngo, "--partner", "lab").returncode == 0
    # From the NGO itself or relayed unchanged by the lab: either way the new key's signature.
    reports = fed.sync("platform")
    assert sum(r["accepted"] for r in reports) == 2 and all(r["rejected"] == {} for r in reports), [
        (r["partner"], r["rejected"]) for r in reports
    ]
    [hit] = fed.match("platform", OTHER)
    assert hit["origin_name"] == "ngo" and hit["origin"] == before["key_id"]  # same identity

    stolen = f"md5:{0x5701E:032x}"
    _forge_with_retired_key(ngo, retired, stolen)  # seq 4, signed by the old key
    reports = fed.sync("platform")
    assert sum(r["accepted"] for r in reports) == 0
    assert [r["rejected"] for r in reports if r["partner"] == "ngo"] == [{"retired_key": 1}]
    assert fed.match("platform", stolen) == []
    assert _status(fed, "platform")["rejections"] == {"retired_key": 1}


@pytest.fixture
def everyone_serves(tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(tmp_path)
    for who in federation.homes:
        for partner in federation.homes:
            if partner != who:
                federation.pin(who, partner, pull=True)
    for name in federation.homes:
        federation.serve(name)
    yield federation
    for process in federation.serving:
        process.stop()


def test_sightings_reach_only_the_origin_that_was_opted_in(everyone_serves: Federation) -> None:
    fed = everyone_serves
    fed.run("ngo", "contribute", "--signal", SIGNAL, "--category", "csam", "--tlp", "green")
    fed.run("lab", "contribute", "--signal", OTHER, "--category", "ncii", "--tlp", "green")
    fed.sync("platform")
    fed.run("platform", "partner", "set", "ngo", "--share-sightings", "yes")
    for _ in range(3):
        assert len(fed.match("platform", SIGNAL)) == 1
    for _ in range(2):
        assert len(fed.match("platform", OTHER)) == 1  # the lab was not opted in

    assert "published sightings in entry seq 1" in fed.run("platform", "sightings")
    assert "no sightings due" in fed.run("platform", "sightings")  # each match is reported once

    fed.sync("ngo")
    fed.sync("lab")
    [sighting] = accord_json("feedback", "--home", fed.homes["ngo"])["sightings"]
    assert (sighting["sighted_by_name"], sighting["count"], sighting["category"]) == ("platform", 3, "csam")
    assert sighting["first_seen"] <= sighting["last_seen"]
    # The lab is not a recipient: it holds the AMBER+STRICT entry's header (the platform's feed
    # goes on past it) but only as ciphertext, and its own indicator's matches were not reported
    # because the platform did not opt in for the lab.
    assert accord_json("feedback", "--home", fed.homes["lab"]) == {"opinions": [], "sightings": []}
    lab_view = _status(fed, "lab")
    [platform] = [p for p in lab_view["partners"] if p["name"] == "platform"]
    assert platform["head_seq"] == 1
