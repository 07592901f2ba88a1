"""Importing MISP feeds (manifest.json + event files) from a directory and from a loopback URL."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from node.app import AccordNode, init_home
from node.errors import InvalidInput, NotFound
from node.model import Signal, SignalType, Tlp
from node.model.sources import Trust
from node.sync.sources import IMPORT_REFUSED
from tests.support.feeds import md5_signal, pdq_signal
from tests.support.processes import accord

STAMP = "1767225600"  # 2026-01-01


def sha256_signal(seed: int) -> Signal:
    return Signal(SignalType.SHA256, hashlib.sha256(f"misp-{seed}".encode()).hexdigest())


def attribute(kind: str, value: str, *, tags: tuple[str, ...] = (), stamp: str = STAMP) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:{value}")),
        "type": kind,
        "category": "Payload delivery",
        "value": value,
        "timestamp": stamp,
        "to_ids": True,
        "Tag": [{"name": t} for t in tags],
    }


def write_feed(directory: Path, events: dict[str, dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for event_uuid, event in events.items():
        (directory / f"{event_uuid}.json").write_text(json.dumps({"Event": {"uuid": event_uuid, **event}}))
        manifest[event_uuid] = {
            "info": event.get("info", ""),
            "timestamp": STAMP,
            "Tag": event.get("Tag", []),
        }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


EVENT_A = str(uuid.UUID("5f0c3c1a-7b6e-4b0a-9a53-0a1c2e3f4d5e"))
EVENT_B = str(uuid.UUID("6a1d4d2b-8c7f-4c1b-8b64-1b2d3f405e6f"))


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return write_feed(
        tmp_path / "feed",
        {
            EVENT_A: {
                "info": "hotline batch",
                "Tag": [{"name": "tlp:amber"}, {"name": "csam"}],
                "Attribute": [
                    attribute("md5", md5_signal(1).value),
                    attribute("filename|sha256", f"a.jpg|{sha256_signal(1).value}"),
                    attribute("x-pdq", pdq_signal(1).value, tags=("tlp:red",)),
                    attribute("ip-dst", "198.51.100.7"),  # not a hash: skipped, not refused
                    attribute("md5", "not-a-hash"),  # refused with its reason
                ],
                "Object": [{"name": "file", "Attribute": [attribute("sha1", "a" * 40)]}],
            },
            EVENT_B: {
                "info": "untagged",
                "Attribute": [attribute("md5", md5_signal(2).value)],  # no tag maps to a category: refused
            },
        },
    )


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example Platform")
    opened = AccordNode.open(tmp_path / "home")
    yield opened
    opened.close()


@pytest.fixture
def served(feed: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(feed))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def first_match(node: AccordNode, signal: Signal) -> Any:
    matches = node.match([signal])[0].matches
    return matches[0] if matches else None


def test_a_feed_directory_becomes_indicators_with_categories_and_tlp(node: AccordNode, feed: Path) -> None:
    report = node.bridges.import_misp(str(feed), name="hotline", trust=Trust.AUTO, category=None)

    assert (report.added, report.skipped) == (4, 1)
    assert len(report.refused) == 2
    reasons = " | ".join(r.reason for r in report.refused)
    assert "32 hex" in reasons and "no tag" in reasons and "not-a-hash" not in reasons
    md5 = first_match(node, md5_signal(1))
    assert (md5.origin_name, md5.category, md5.tlp) == ("hotline", "csam", Tlp.AMBER)
    assert first_match(node, sha256_signal(1)).category == "csam"
    assert first_match(node, pdq_signal(1)).tlp is Tlp.RED  # the attribute's own tag is stricter
    assert first_match(node, Signal(SignalType.SHA1, "a" * 40)) is not None  # attributes of objects too
    assert first_match(node, md5_signal(2)) is None
    counted = node.store.rejection_counts()[IMPORT_REFUSED]
    assert counted == 2


def test_re_import_adds_nothing_twice_and_a_newer_attribute_is_a_new_version(
    node: AccordNode, feed: Path
) -> None:
    node.bridges.import_misp(str(feed), name="hotline", trust=Trust.AUTO, category=None)
    rows = node.store.reader.execute("SELECT COUNT(*) FROM indicators").fetchone()[0]
    again = node.bridges.import_misp(str(feed), name="hotline", trust=Trust.AUTO, category=None)
    assert (again.added, again.unchanged) == (0, 4)
    assert node.store.reader.execute("SELECT COUNT(*) FROM indicators").fetchone()[0] == rows

    event = json.loads((feed / f"{EVENT_A}.json").read_text())
    event["Event"]["Attribute"][0]["timestamp"] = str(int(STAMP) + 60)
    event["Event"]["Tag"] = [{"name": "tlp:green"}, {"name": "ncii"}]
    (feed / f"{EVENT_A}.json").write_text(json.dumps(event))
    relabelled = node.bridges.import_misp(str(feed), name="hotline", trust=Trust.AUTO, category=None)
    assert relabelled.added == 1
    assert first_match(node, md5_signal(1)).category == "ncii"
    assert node.store.reader.execute("SELECT COUNT(*) FROM indicators").fetchone()[0] == rows


def test_a_default_category_and_configured_tags(node: AccordNode, feed: Path) -> None:
    report = node.bridges.import_misp(str(feed), name="hotline", trust=Trust.AUTO, category="tvec")
    assert len(report.refused) == 1  # only the malformed hash; the untagged event takes the default
    assert first_match(node, md5_signal(2)).category == "tvec"


def test_a_feed_served_over_loopback_http(node: AccordNode, served: str) -> None:
    report = node.bridges.import_misp(served, name="remote", trust=Trust.AUTO, category=None)
    assert report.added == 4
    assert first_match(node, md5_signal(1)).origin_name == "remote"


def test_observe_keeps_the_feed_aside(node: AccordNode, feed: Path) -> None:
    report = node.bridges.import_misp(str(feed), name="hotline", trust=Trust.OBSERVE, category=None)
    assert (report.added, report.staged) == (0, 4)
    assert first_match(node, md5_signal(1)) is None


def test_a_manifest_naming_paths_is_refused_before_anything_is_read(node: AccordNode, tmp_path: Path) -> None:
    feed = tmp_path / "evil"
    feed.mkdir()
    (feed / "manifest.json").write_text(json.dumps({"../../home/accord.toml": {}}))
    with pytest.raises(InvalidInput, match="not event uuids"):
        node.bridges.import_misp(str(feed), name="evil", trust=Trust.AUTO, category=None)


def test_missing_or_malformed_event_files_are_refused_by_name(node: AccordNode, feed: Path) -> None:
    (feed / f"{EVENT_B}.json").write_text("{not json")
    (feed / "manifest.json").write_text(json.dumps({EVENT_A: {}, EVENT_B: {}, str(uuid.uuid4()): {}}))
    report = node.bridges.import_misp(str(feed), name="hotline", trust=Trust.AUTO, category=None)
    assert report.added == 4
    events = [r for r in report.refused if r.item.startswith("event ") and "attribute" not in r.item]
    assert len(events) == 2


def test_errors_for_a_directory_without_manifest_and_an_unreachable_url(
    node: AccordNode, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match=r"manifest\.json"):
        node.bridges.import_misp(str(tmp_path), name="x", trust=Trust.AUTO, category=None)
    cli = accord("import-misp", "--home", node.home.root, "http://127.0.0.1:9/feed/")
    assert cli.returncode == 4 and "accord: error:" in cli.stderr


def test_the_cli_reports_refusals_with_exit_code_2(node: AccordNode, feed: Path) -> None:
    result = accord("import-misp", "--home", node.home.root, feed, "--source", "hotline")
    assert result.returncode == 2
    assert "4 added" in result.stdout and "refused" in result.stderr
    assert md5_signal(2).value not in result.stderr


def test_attributes_with_to_ids_false_are_refused_with_a_count(node: AccordNode, tmp_path: Path) -> None:
    context = [attribute("md5", md5_signal(60 + n).value, tags=("csam",)) for n in range(3)]
    for item in context[:2]:
        item["to_ids"] = False
    context[2]["to_ids"] = "0"  # older feeds write the flag as a string
    detect = attribute("md5", md5_signal(70).value, tags=("csam",))
    feed = write_feed(tmp_path / "ctx", {EVENT_A: {"info": "context", "Attribute": [*context, detect]}})

    report = node.bridges.import_misp(str(feed), name="ctx", trust=Trust.AUTO, category=None)

    assert report.added == 1 and first_match(node, md5_signal(70)) is not None
    assert all(first_match(node, md5_signal(60 + n)) is None for n in range(3))
    assert [(r.item, r.reason) for r in report.refused] == [
        (f"event {EVENT_A}", "skipped 3 attributes with to_ids=false (context, not for detection)")
    ]
